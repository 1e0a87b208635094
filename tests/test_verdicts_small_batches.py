"""The small-batches chapter's verdicts, on made-up numbers: every branch."""
import pytest

from d2lnotes.stats import Difference
from helpers.verdicts import load

v = load("small_batches")
BELOW, ABOVE, SAME = Difference(-0.10, 0.03), Difference(0.05, 0.02), Difference(0.01, 0.03)


def test_crossover_names_where_bn_falls_below_gn():
    text = v.crossover_verdict({2: BELOW, 4: BELOW, 32: SAME, 128: SAME})
    assert text.startswith("BN falls below GN beyond noise with BN batches of 2 and 4")
    assert "with 4 the difference is -0.100 ± 0.030" in text
    assert "above" not in text


def test_crossover_with_bn_ahead_at_large_batches():
    text = v.crossover_verdict({2: BELOW, 32: SAME, 128: ABOVE})
    assert "below GN beyond noise with BN batches of 2;" in text
    assert "while with BN batches of 128 BN is above GN" in text


def test_crossover_when_bn_never_falls_below():
    assert v.crossover_verdict({8: SAME, 32: SAME}) == (
        "BN is not below GN beyond noise at any BN batch measured here")
    assert v.crossover_verdict({8: SAME, 32: ABOVE, 128: ABOVE}).endswith(
        "; it is above with BN batches of 32 and 128")


def test_sizes_lists_three_with_commas():
    assert v._sizes([16, 32, 64, 128]) == "BN batches of 16, 32, 64 and 128"


@pytest.mark.parametrize("d, words", [
    (ABOVE, "higher with BN batches of 2 than of 128 (+0.050 ± 0.020)"),
    (BELOW, "falls from BN batches of 128 to 2 (-0.100 ± 0.030)"),
    (SAME, "with BN batches of 2 is within noise of that with 128 (+0.010 ± 0.030)"),
])
def test_drop_verdict(d, words):
    assert words in v.drop_verdict(d, 2, 128)


@pytest.mark.parametrize("d, words", [
    (Difference(0.2, 0.05), "running statistics give a higher test accuracy"),
    (Difference(-0.2, 0.05), "batch's own statistics give a higher test accuracy"),
    (Difference(0.02, 0.05), "same test accuracy within noise"),
])
def test_gap_verdict(d, words):
    text = v.gap_verdict(d, 2)
    assert text.startswith("with BN batches of 2 ") and words in text and f"{d:.3f}" in text


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
