"""The distributed chapter's verdicts, one test per branch, on made-up numbers."""
import pandas as pd
import pytest

from helpers.verdicts import load

v = load("distributed")


def _history(val_acc, train_loss=1.0, seconds=10.0):
    return pd.DataFrame({"epoch": [0, 1], "train_loss_all": [2.0, train_loss],
                         "val_loss_all": [2.1, 1.1], "train_acc_all": [0.5, 0.7],
                         "val_acc_all": [0.5, val_acc], "seconds": [seconds, seconds]})


# share_error_trend: errors ~ b ** slope
def _errors(slope):
    return {b: 0.3 * (b / 2) ** slope for b in [2, 4, 8, 16, 32]}


def test_share_error_like_one_over_sqrt_b():
    words = v.share_error_trend(_errors(-0.5))
    assert words.startswith("grows like 1/√b") and "slope -0.50" in words


def test_share_error_faster_than_one_over_sqrt_b():
    words = v.share_error_trend(_errors(-0.8))
    assert words.startswith("grows faster than 1/√b") and "slope -0.80" in words


def test_share_error_slower_than_one_over_sqrt_b():
    words = v.share_error_trend(_errors(-0.25))
    assert words.startswith("grows, but more slowly than 1/√b") and "slope -0.25" in words


def test_share_error_that_does_not_grow():
    assert v.share_error_trend(_errors(0.0)).startswith("does not grow")


def test_share_error_needs_two_points():
    with pytest.raises(ValueError):
        v.share_error_trend({8: 0.1})


def test_device_noise_less_than_the_batch_noise():
    words = v.compare_to_batch_noise(0.01, 0.02, 4096)
    assert words.startswith("less than the 0.020") and "all 4,096 images" in words


def test_device_noise_about_the_batch_noise():
    assert v.compare_to_batch_noise(0.021, 0.02, 4096).startswith("about as much as the 0.020")


def test_device_noise_times_the_batch_noise():
    assert v.compare_to_batch_noise(0.036, 0.02, 4096).startswith("1.8 times the 0.020")


def test_device_noise_needs_a_batch_noise():
    with pytest.raises(ValueError):
        v.compare_to_batch_noise(0.03, 0.0, 4096)


def test_runs_identical_whatever_the_clock_says():
    words = v.compare_runs(_history(0.8, seconds=10.0), _history(0.8, seconds=7.0), 1000)
    assert words.startswith("identical")


def test_runs_within_noise():
    # 0.80 vs 0.81 on 1,000 images: band 2 * sqrt(.8*.2/1000 + .81*.19/1000) = 0.0354
    words = v.compare_runs(_history(0.80), _history(0.81), 1000)
    assert words.startswith("not identical, but within noise")
    assert "+0.0100 ± 0.0354" in words and "1,000 test images" in words


def test_runs_within_noise_when_only_a_loss_differs():
    words = v.compare_runs(_history(0.8, train_loss=1.0), _history(0.8, train_loss=1.1), 1000)
    assert words.startswith("not identical, but within noise") and "+0.0000" in words


def test_runs_different_beyond_noise_either_way():
    worse = v.compare_runs(_history(0.80), _history(0.70), 1000)
    better = v.compare_runs(_history(0.70), _history(0.80), 1000)
    assert worse.startswith("different beyond noise") and "-0.1000 ±" in worse
    assert better.startswith("different beyond noise") and "+0.1000 ±" in better


def test_weights_bit_for_bit():
    assert v.compare_weights(0.0) == "are the same, bit for bit"


def test_weights_within_rounding():
    words = v.compare_weights(3e-6)
    assert words.startswith("agree to float rounding") and "3.0e-06" in words


def test_weights_beyond_rounding():
    words = v.compare_weights(0.0123)
    assert words.startswith("differ by up to 0.0123") and "1e-04" in words


def test_weights_reject_nonsense():
    with pytest.raises(ValueError):
        v.compare_weights(float("nan"))
