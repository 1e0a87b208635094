"""The verdicts of "Why batch normalization", on made-up numbers: every branch once."""
import pytest

from helpers.verdicts import load

v = load("why_bn")


def test_bottom_vs_top_smaller():
    words = v.verdict_bottom_vs_top([1e-4, 2e-4, 1.5e-4])
    assert words.startswith("smaller than the top layer's: about 1.4e-04 times it")
    assert "3 initializations" in words and "±" in words


def test_bottom_vs_top_larger():
    words = v.verdict_bottom_vs_top([10.0, 20.0, 15.0])
    assert words.startswith("larger than the top layer's: about 1.4e+01 times it")


def test_bottom_vs_top_within_noise():
    # log10 ratios -1, 0, +1: mean 0, band 2 * 1 / sqrt(3)
    words = v.verdict_bottom_vs_top([0.1, 1.0, 10.0])
    assert words.startswith("not distinguishable from the top layer's, within noise")
    assert "+0.00 ± 1.15" in words


def test_bottom_vs_top_needs_two_seeds():
    with pytest.raises(Exception):
        v.verdict_bottom_vs_top([1e-4])


def test_drift_less_with_bn():
    words = v.verdict_drift([0.004, 0.005, 0.006], [0.20, 0.21, 0.22])
    assert words.startswith("less with BN than without (BN minus no BN: -0.2050 ± ")


def test_drift_more_with_bn():
    words = v.verdict_drift([0.020, 0.021, 0.022], [0.003, 0.004, 0.005])
    assert words.startswith("more with BN than without (BN minus no BN: +0.0170 ± ")


def test_drift_within_noise():
    words = v.verdict_drift([0.01, 0.05, 0.03], [0.02, 0.04, 0.035])
    assert words.startswith("about as much with BN as without, within noise (BN minus no BN:")


def test_drift_summary_both_reduced():
    words = v.verdict_drift_summary([0.004, 0.005, 0.006], [0.20, 0.21, 0.22],
                                    [0.005, 0.006, 0.005], [0.06, 0.07, 0.065])
    assert words == ("BN reduced the drift of both the mean and the spread of the top "
                     "layer's inputs")


def test_drift_summary_both_increased():
    words = v.verdict_drift_summary([0.20, 0.21, 0.22], [0.004, 0.005, 0.006],
                                    [0.06, 0.07, 0.065], [0.005, 0.006, 0.005])
    assert words == ("BN increased the drift of both the mean and the spread of the top "
                     "layer's inputs")


def test_drift_summary_both_within_noise():
    noisy = [0.01, 0.05, 0.03]
    words = v.verdict_drift_summary(noisy, [0.02, 0.04, 0.035], noisy, [0.02, 0.04, 0.035])
    assert words == ("BN did not change the drift of the top layer's inputs beyond noise, "
                     "in mean or in spread")


def test_drift_summary_mixed():
    # mean: less with BN; spread: more with BN (as with a narrow MLP)
    words = v.verdict_drift_summary([0.0015, 0.0015, 0.0026], [0.0148, 0.0163, 0.0224],
                                    [0.0208, 0.0209, 0.0209], [0.0038, 0.0036, 0.0035])
    assert words == ("with BN the drift of the top layer's inputs was smaller in mean and "
                     "larger in spread")
    words = v.verdict_drift_summary([0.01, 0.05, 0.03], [0.02, 0.04, 0.035],
                                    [0.004, 0.005, 0.006], [0.20, 0.21, 0.22])
    assert words == ("with BN the drift of the top layer's inputs was the same within noise "
                     "in mean and smaller in spread")


def test_eval_drift_more():
    words = v.verdict_eval_drift([0.064, 0.073, 0.068], [0.005, 0.006, 0.005])
    assert words.startswith("more than in training mode (eval minus training mode: +")


def test_eval_drift_less():
    words = v.verdict_eval_drift([0.005, 0.006, 0.005], [0.064, 0.073, 0.068])
    assert words.startswith("less than in training mode (eval minus training mode: -")


def test_eval_drift_within_noise():
    words = v.verdict_eval_drift([0.0025, 0.0056, 0.0076], [0.0037, 0.0044, 0.0047])
    assert words.startswith("about as much as in training mode, within noise (eval minus")


def test_running_gap_shrank():
    words = v.verdict_running_gap([0.09, 0.10, 0.095], [0.001, 0.002, 0.0015], 600)
    assert words.startswith("shrank from 0.095 at step 0 to 0.002 after 600 steps (-0.094 ± ")
    assert words.endswith("the running estimates were catching up with the batch statistics")


def test_running_gap_grew():
    words = v.verdict_running_gap([0.085, 0.090, 0.086], [0.15, 0.16, 0.164], 20)
    assert words.startswith("grew from 0.087 at step 0 to 0.158 after 20 steps (+0.071 ± ")
    assert words.endswith("after 20 steps the running estimates had not caught up with the "
                          "batch statistics")


def test_running_gap_within_noise():
    words = v.verdict_running_gap([0.05, 0.10, 0.08], [0.06, 0.09, 0.085], 300)
    assert words.startswith("went from 0.077 at step 0 to 0.078 after 300 steps (")
    assert words.endswith("a change within noise")
