"""The deeper-than-18 chapter's verdicts, on made-up numbers: every branch."""
import pytest

from d2lnotes.stats import Difference
from helpers.verdicts import load

v = load("deeper")
UP, DOWN, SAME = Difference(0.05, 0.02), Difference(-0.04, 0.01), Difference(0.01, 0.03)


@pytest.mark.parametrize("d, words", [
    (UP, "plain-56 ends with a higher training error than plain-20 (+0.050 ± 0.020)"),
    (DOWN, "plain-56 ends with a lower training error than plain-20 (-0.040 ± 0.010)"),
    (SAME, "plain-56 and plain-20 end with training errors within noise"),
])
def test_depth_verdict(d, words):
    assert words in v.depth_verdict(d, "plain", 20, 56)


@pytest.mark.parametrize("plain, residual, excess, words", [
    (UP, DOWN, UP, "the degradation problem is reproduced"),
    (UP, SAME, SAME, "the degradation problem is reproduced"),
    (UP, UP, UP, "but +0.050 ± 0.020 less than the plain one"),
    (UP, UP, SAME, "so does the deeper residual one"),
    (SAME, UP, DOWN, "not reproduced: the deeper residual network trains worse"),
    (DOWN, DOWN, SAME, "not reproduced at this budget"),
    (SAME, SAME, SAME, "not reproduced at this budget"),
])
def test_degradation_verdict(plain, residual, excess, words):
    assert words in v.degradation_verdict(plain, residual, excess)


@pytest.mark.parametrize("d, words", [
    (UP, "residual network's training error is higher"),
    (DOWN, "the shortcuts lower the training error (-0.040 ± 0.010)"),
    (SAME, "within noise of each other"),
])
def test_shortcut_verdict(d, words):
    text = v.shortcut_verdict(d, 56)
    assert text.startswith("at depth 56 ") and words in text


@pytest.mark.parametrize("d, words", [
    (UP, "ahead by +0.050 ± 0.020"), (DOWN, "behind by -0.040 ± 0.010"),
    (SAME, "within noise of each other in test accuracy (+0.010 ± 0.030)"),
])
def test_preact_verdict(d, words):
    assert words in v.preact_verdict(d, 56)


@pytest.mark.parametrize("d, words", [
    (UP, "residual MLP is ahead by +0.050"), (DOWN, "residual MLP is behind by -0.040"),
    (SAME, "within noise of each other"),
])
def test_mlp_verdict(d, words):
    text = v.mlp_verdict(d, 16)
    assert text.startswith("with 16 blocks") and words in text
