"""The small-batches chapter's verdicts, on made-up numbers: every branch."""
import pytest

from d2lnotes.stats import Difference
from helpers.verdicts import load

v = load("small_batches")
BELOW, ABOVE, SAME = Difference(-0.10, 0.03), Difference(0.05, 0.02), Difference(0.01, 0.03)


def test_crossover_names_where_bn_falls_below_gn():
    text = v.crossover_verdict({2: BELOW, 4: BELOW, 32: SAME, 128: SAME})
    assert text.startswith("BN falls below GN beyond noise at batch sizes 2 and 4")
    assert "at batch 4 the difference is -0.100 ± 0.030" in text
    assert "above" not in text


def test_crossover_with_bn_ahead_at_large_batches():
    text = v.crossover_verdict({2: BELOW, 32: SAME, 128: ABOVE})
    assert "below GN beyond noise at batch size 2;" in text
    assert "while at batch size 128 BN is above GN" in text


def test_crossover_when_bn_never_falls_below():
    assert v.crossover_verdict({8: SAME, 32: SAME}) == (
        "BN is not below GN beyond noise at any batch size measured here")
    assert v.crossover_verdict({8: SAME, 32: ABOVE, 128: ABOVE}).endswith(
        "; it is above at batch sizes 32 and 128")


@pytest.mark.parametrize("d, words", [
    (Difference(0.2, 0.05), "running statistics give a higher test accuracy"),
    (Difference(-0.2, 0.05), "batch's own statistics give a higher test accuracy"),
    (Difference(0.02, 0.05), "same test accuracy within noise"),
])
def test_gap_verdict(d, words):
    text = v.gap_verdict(d, 2)
    assert text.startswith("at batch 2 ") and words in text and f"{d:.3f}" in text


@pytest.mark.parametrize("d, words", [
    (ABOVE, "BN is ahead of GN by +0.050 ± 0.020"),
    (BELOW, "BN is behind GN by -0.100 ± 0.030"),
    (SAME, "within noise of each other (+0.010 ± 0.030)"),
])
def test_regularizer_verdict(d, words):
    assert words in v.regularizer_verdict(d)


@pytest.mark.parametrize("slope, band, words", [
    (-0.49, 0.03, "falls as 1/sqrt(b)"),
    (-0.30, 0.03, "more slowly than 1/sqrt(b)"),
    (-0.80, 0.03, "faster than 1/sqrt(b)"),
])
def test_noise_verdict(slope, band, words):
    text = v.noise_verdict(slope, band)
    assert words in text and f"{slope:.2f} ± {band:.2f}" in text
