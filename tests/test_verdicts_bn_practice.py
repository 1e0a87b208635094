"""The verdicts of 'Batch normalization in practice', on made-up numbers, one call per branch.

The chapter glues these words into its text; here each branch (better, worse, within noise,
and the chapter's other cases) is pinned down, so a wrong branch fails here and not on a page.
"""
import math

import pytest

from helpers.verdicts import load

v = load("bn_practice")
N = 512  # test images
LRS = [0.03, 0.3, 3.0]


def test_learning_rates():
    assert v.learning_rates({0.03: [0.7, 0.72], 0.3: [0.1, 0.12], 3.0: [0.5]}) == \
        "at learning rates 0.03, 3"
    assert v.learning_rates({0.03: [0.1], 0.3: [0.5]}) == "at learning rate 0.3"
    assert v.learning_rates({0.03: [0.1], 0.3: [0.11]}) == \
        "at none of the learning rates tried"


def test_lr_comparison_verdict_counts_each_branch():
    bn = {0.03: [0.80, 0.81], 0.3: [0.10, 0.11], 3.0: [0.50, 0.52]}
    plain = {0.03: [0.10, 0.11], 0.3: [0.80, 0.81], 3.0: [0.50, 0.53]}
    words = v.lr_comparison_verdict(bn, plain, N)
    assert words.startswith("higher at 1, lower at 1 and within noise at 1 of the 3 "
                            "learning rates tried")
    assert "lr 0.03: +0.700 ± " in words and "lr 0.3: -0.700 ± " in words


def test_lr_comparison_verdict_one_seed_uses_the_binomial_band():
    words = v.lr_comparison_verdict({0.1: [0.75]}, {0.1: [0.72]}, N)
    assert "within noise at 1 of the 1" in words
    band = 2 * math.sqrt((0.75 * 0.25 + 0.72 * 0.28) / N)
    assert f"+0.030 ± {band:.3f}" in words


def test_lr_range_verdict_bn_learns_nowhere():
    assert v.lr_range_verdict({lr: [0.1] for lr in LRS}, {lr: [0.1] for lr in LRS},
                              N).startswith("BN learned at none")


def test_lr_range_verdict_plain_learns_nowhere():
    bn = {0.03: [0.74], 0.3: [0.70], 3.0: [0.68]}
    words = v.lr_range_verdict(bn, {lr: [0.1] for lr in LRS}, N)
    assert words.startswith("BN learns up to lr 3 and the plain network does not learn there")
    assert "(it learns at none of these learning rates; BN minus plain at lr 3: +0.5" in words
    assert words.endswith("as the lecture says")


def test_lr_range_verdict_bn_larger():
    bn = {0.03: [0.74], 0.3: [0.70], 3.0: [0.68]}
    plain = {0.03: [0.70], 0.3: [0.10], 3.0: [0.10]}
    words = v.lr_range_verdict(bn, plain, N)
    assert "(it learns up to lr 0.03; " in words
    assert words.endswith("as the lecture says")


def test_lr_range_verdict_within_noise_at_the_edge():
    bn = {0.03: [0.74], 0.3: [0.32]}
    plain = {0.03: [0.70], 0.3: [0.29]}
    words = v.lr_range_verdict(bn, plain, N)
    assert "within noise" in words and "does not settle" in words


def test_lr_range_verdict_same_and_smaller():
    bn = {0.03: [0.74], 0.3: [0.70], 3.0: [0.10]}
    same = v.lr_range_verdict(bn, {0.03: [0.7], 0.3: [0.6], 3.0: [0.1]}, N)
    assert same.startswith("both networks learn up to lr 0.3")
    smaller = v.lr_range_verdict(bn, {0.03: [0.7], 0.3: [0.6], 3.0: [0.5]}, N)
    assert "contrary to the lecture" in smaller


def test_failure_verdict_each_branch():
    ok = {0.1: [0.7], 1.0: [0.6]}
    assert v.failure_verdict("LeNet", ok, {0.1: False, 1.0: False}) == \
        "LeNet learned at every learning rate tried"
    stalls = v.failure_verdict("LeNet", {0.1: [0.1], 1.0: [0.6]}, {0.1: False, 1.0: False})
    assert stalls.startswith("LeNet stalls at lr 0.1") and "blows up" not in stalls
    blows = v.failure_verdict("LeNet", {0.1: [0.7], 1.0: [0.1]}, {0.1: False, 1.0: True})
    assert blows.startswith("LeNet blows up at lr 1") and "stalls" not in blows
    both = v.failure_verdict("LeNet", {0.1: [0.1], 1.0: [0.1]}, {0.1: False, 1.0: True})
    assert both.startswith("LeNet stalls at lr 0.1") and " and blows up at lr 1 " in both


def test_grad_count_verdict():
    bn = {("conv1", "init"): [1e-2, 2e-2], ("fc3", "init"): [1e-3, 1e-3],
          ("fc1", "init"): [1e-4, 1e-2]}
    plain = {("conv1", "init"): [1e-5, 2e-5], ("fc3", "init"): [1e-2, 1.1e-2],
             ("fc1", "init"): [1e-3, 1e-3]}
    assert v.grad_count_verdict(bn, plain) == (
        "larger in 1, smaller in 1 and within noise in 1 of the 3 (layer, time) pairs")


def test_extreme_layer_verdict():
    clear = v.extreme_layer_verdict({"conv1": [300, 500], "conv2": [10, 12], "fc3": [1, 1]})
    assert clear.startswith("largest at conv1 (the bottom layer: 387)")
    assert "clear of the next one, conv2 (11)" in clear
    close = v.extreme_layer_verdict({"conv1": [30, 3000], "conv2": [100, 200]})
    assert close.startswith("largest at conv1") and "within the seeds' noise" in close
    top = v.extreme_layer_verdict({"conv1": [1e-5, 2e-5], "fc3": [1e-2, 2e-2],
                                   "fc2": [1e-3, 1e-3]}, largest=False)
    assert top.startswith("smallest at conv1 (the bottom layer")
    not_bottom = v.extreme_layer_verdict({"conv1": [1, 1.1], "fc3": [9, 10]})
    assert not_bottom.startswith("largest at fc3 (not the bottom layer")


def test_convergence_verdict_each_branch():
    nan = math.nan
    assert v.convergence_verdict([nan, nan], [nan, nan], 0.6).startswith("neither")
    only_bn = v.convergence_verdict([2, 2], [nan, nan], 0.6)
    assert only_bn.startswith("BN reached 60% test accuracy in every seed")
    assert only_bn.endswith("as the lecture says")
    only_plain = v.convergence_verdict([nan, nan], [3, 4], 0.6)
    assert only_plain.endswith("contrary to the lecture")
    faster = v.convergence_verdict([1, 2], [4, 5], 0.6)
    assert faster.startswith("BN reaches 60% test accuracy in fewer epochs")
    assert "BN saves +3.0 ± 1.4" in faster
    slower = v.convergence_verdict([4, 5], [1, 2], 0.6)
    assert "more slowly here, contrary to the lecture" in slower
    same = v.convergence_verdict([1, 3], [2, 2], 0.6)
    assert same.startswith("both reach") and "within noise" in same
    mixed = v.convergence_verdict([1, 2], [3, nan], 0.6)
    assert "in 2 of 2 seeds and the plain network in 1 of 2" in mixed
    assert mixed.endswith("too few seeds agree to call which converges faster")


def test_final_accuracy_verdict_each_branch():
    up = v.final_accuracy_verdict([0.80, 0.81], [0.70, 0.71], N)
    assert "+0.100 ± " in up and "a gain beyond noise" in up
    down = v.final_accuracy_verdict([0.70, 0.71], [0.80, 0.81], N)
    assert "-0.100 ± " in down and "a loss beyond noise" in down
    same = v.final_accuracy_verdict([0.75, 0.76], [0.74, 0.76], N)
    assert "within noise, consistent with" in same


@pytest.mark.parametrize("gains, words", [
    ([0.05, 0.06], "was still gaining test accuracy"),
    ([-0.05, -0.06], "lost test accuracy in the last epoch"),
    ([0.01, -0.01], "within noise: it had leveled off"),
    (None, "with one epoch or one seed"),
    ([0.05], "with one epoch or one seed"),
])
def test_settled_verdict(gains, words):
    assert words in v.settled_verdict("the plain LeNet", [0.7, 0.72], gains)


def test_settled_verdict_not_learned():
    words = v.settled_verdict("the plain LeNet", [0.1, 0.12], [0.01, 0.02])
    assert words.startswith("the plain LeNet did not get past 0.3")


def test_gain_text():
    assert v.gain_text([0.8, 0.8], [0.7, 0.7], N).startswith("+0.100 ± ")
    # seeds that agree exactly: the binomial band of N images remains
    band = 2 * math.sqrt((0.8 * 0.2 + 0.7 * 0.3) / N)
    assert v.gain_text([0.8, 0.8], [0.7, 0.7], N) == f"+0.100 ± {band:.3f}"


def test_mlp_depth_verdict_each_branch():
    clearer = v.mlp_depth_verdict([0.76, 0.77], [0.67, 0.68], [0.78, 0.77], [0.1, 0.11], N)
    assert clearer.endswith("clearer in the deeper network, as the lecture says")
    smaller = v.mlp_depth_verdict([0.76, 0.77], [0.1, 0.11], [0.78, 0.77], [0.67, 0.68], N)
    assert smaller.endswith("contrary to the lecture")
    same = v.mlp_depth_verdict([0.76, 0.77], [0.70, 0.71], [0.78, 0.77], [0.71, 0.72], N)
    assert same.startswith("BN's gains in the two MLPs differ by no more than noise")


def test_trains_verdict_each_branch():
    assert "learned both with and without BN" in v.trains_verdict("the MLP", [0.7], [0.8])
    assert "learned only with BN" in v.trains_verdict("the MLP", [0.1], [0.8])
    assert "learned only without BN" in v.trains_verdict("the MLP", [0.7], [0.1])
    assert "learned neither" in v.trains_verdict("the MLP", [0.1], [0.1])
