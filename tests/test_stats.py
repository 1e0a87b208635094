"""Noise bands: the one rule that decides every "helped", "hurt" and "within noise"."""
import math

import pytest

from d2lnotes import stats


def test_accuracy_se_is_binomial():
    assert stats.accuracy_se(0.9, 1_000) == pytest.approx(math.sqrt(0.09 / 1_000))
    assert stats.accuracy_se(0.5, 1_000) == pytest.approx(0.0158, abs=1e-4)
    assert stats.accuracy_se(1.0, 10) == 0.0


@pytest.mark.parametrize("p, n", [(1.2, 10), (-0.1, 10), (0.5, 0), (0.5, 2.5), ("0.5", 10)])
def test_accuracy_se_rejects_bad_input(p, n):
    with pytest.raises(ValueError):
        stats.accuracy_se(p, n)


@pytest.mark.parametrize("new, old, sign", [(0.90, 0.85, 1), (0.85, 0.90, -1),
                                            (0.880, 0.875, 0)])
def test_accuracy_difference_sign(new, old, sign):
    d = stats.accuracy_difference(new, old, 1_000)
    assert d.value == pytest.approx(new - old)
    assert d.band == pytest.approx(2 * math.hypot(stats.accuracy_se(new, 1_000),
                                                  stats.accuracy_se(old, 1_000)))
    assert d.sign == sign
    assert d.word("up", "down") == {1: "up", -1: "down", 0: "within noise"}[sign]


def test_more_images_narrow_the_band():
    assert (stats.accuracy_difference(0.88, 0.875, 100_000).sign == 1
            and stats.accuracy_difference(0.88, 0.875, 1_000).sign == 0)
    assert stats.accuracy_difference(0.9, 0.8, 100, n_old=10_000).band < \
        stats.accuracy_difference(0.9, 0.8, 100).band


def test_seed_difference_uses_the_spread_between_seeds():
    d = stats.seed_difference([0.90, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert d.value == pytest.approx(0.10) and d.sign == 1
    noisy = stats.seed_difference([0.70, 0.91, 0.99], [0.80, 0.81, 0.82])
    assert noisy.sign == 0
    with pytest.raises(ValueError, match="2 seeds"):
        stats.seed_difference([0.9], [0.8, 0.7])


def test_difference_formats_value_and_band():
    d = stats.difference(0.0123, 0.0055)
    assert f"{d:.4f}" == "+0.0123 ± 0.0110" and str(d) == "+0.0123 ± 0.0110"
    assert f"{stats.difference(-0.5, 0.1):.1f}" == "-0.5 ± 0.2"


@pytest.mark.parametrize("value, band", [(math.nan, 0.1), (0.1, -1), (0.1, math.inf)])
def test_difference_rejects_nonsense(value, band):
    with pytest.raises(ValueError):
        stats.Difference(value, band)


def test_the_band_edge_is_within_noise():
    assert stats.Difference(0.1, 0.1).sign == 0 and stats.Difference(-0.1, 0.1).sign == 0
