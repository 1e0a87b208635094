"""The verdicts of "Batch normalization from scratch", on made-up numbers, every branch."""
import pytest

from helpers.verdicts import load

v = load("bn_scratch")


@pytest.mark.parametrize("measured, expected, word", [
    (3.6, 3.0, "above the biased target 3.00"),
    (2.4, 3.0, "below the biased target 3.00"),
    (3.1, 3.0, "within noise of the biased target 3.00"),
])
def test_verdict_estimate(measured, expected, word):
    words = v.verdict_estimate(measured, expected, 0.1, "the biased target")
    assert words.startswith(word)
    assert f"(difference {measured - expected:+.2f} ± 0.20)" in words


def test_verdict_same_run_identical():
    words = v.verdict_same_run(0.0, 0.3, tol=1e-3)
    assert "bit-for-bit the same" in words and "3.0e-01" in words


def test_verdict_same_run_up_to_rounding():
    words = v.verdict_same_run(8.8e-6, 0.29, tol=1e-3)
    assert "the same training run up to floating-point rounding" in words
    assert "8.8e-06" in words and "2.9e-01" in words and "32,955 times more" in words


def test_verdict_same_run_compounded_rounding():
    words = v.verdict_same_run(2e-3, 0.3, tol=1e-3)
    assert "more than plain rounding" in words and "compound" in words
    assert "150 times" in words
    assert "same training run up to" not in words


def test_verdict_same_run_as_far_as_two_seeds():
    words = v.verdict_same_run(0.05, 0.3, tol=1e-3)
    assert "about as far as two seeds" in words and "cannot tell" in words
    assert "same training run" not in words


def test_verdict_moved():
    words = v.verdict_moved([1.05, 0.94], [-0.03, 0.11])
    assert words.startswith("have moved away")
    assert "0.060 for γ" in words and "0.110 for β" in words


def test_verdict_moved_not_yet():
    words = v.verdict_moved([1.0, 1.0002], [0.0, -0.0001])
    assert words.startswith("are still within 0.001")
    assert "moved away" not in words
