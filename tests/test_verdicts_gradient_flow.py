"""The verdicts of notebooks/resnet/gradient_flow.ipynb, on made-up numbers: one call per
branch (larger, smaller, within noise, and each chapter-specific case)."""
import math

import pytest

from helpers.verdicts import load

v = load("gradient_flow")
N = 512  # test images
RELU, BORDER = 1 / math.sqrt(2), 0.6915
NAMES = ["plain", "plain + BN", "residual", "residual + BN"]


def nets(plain, plain_bn, res, res_bn):
    return dict(zip(NAMES, [plain, plain_bn, res, res_bn]))


# ---------------------------------------------------------------- the factor per convolution

def test_factor_within_noise_of_both():
    text = v.factor_verdict([0.69, 0.71, 0.70], RELU, BORDER)
    assert text.startswith("is 0.700: ")
    assert "within noise of both" in text and "cannot tell whether the border" in text


def test_factor_matches_the_zero_padding_prediction():
    text = v.factor_verdict([0.6905, 0.6915, 0.6925], RELU, BORDER)
    assert "It matches the zero-padding prediction and not 1/√2" in text


def test_factor_matches_relu_only():
    text = v.factor_verdict([0.706, 0.707, 0.708], RELU, BORDER)
    assert "It matches 1/√2 and not the zero-padding prediction" in text


def test_factor_below_both():
    text = v.factor_verdict([0.65, 0.66, 0.655], RELU, BORDER)
    assert "matches neither: it is below both" in text
    assert "-0.052 ± 0.006 from the ReLU-only prediction" in text


def test_factor_above_both():
    assert "matches neither: it is above both" in v.factor_verdict([0.75, 0.76, 0.755],
                                                                   RELU, BORDER)


def test_factor_between_the_predictions():
    text = v.factor_verdict([0.698, 0.699, 0.700], RELU, BORDER)
    assert "matches neither: it lies between the two" in text


def test_factor_needs_two_seeds():
    with pytest.raises(ValueError, match="2 seeds"):
        v.factor_verdict([0.7], RELU, BORDER)


# ---------------------------------------------------------------- gradients at initialization

def test_plain_gradient_smaller_at_the_bottom():
    text = v.plain_grad_verdict([0.45, 0.46], [1e-3, 1.2e-3])
    assert text.startswith("the plain network's gradient shrinks on its way down")
    assert text.endswith("smaller at the bottom, as the lecture says")


def test_plain_gradient_larger_at_the_bottom():
    text = v.plain_grad_verdict([1.4, 1.5], [10, 12])
    assert "gradient grows" in text and "larger at the bottom: the opposite" in text


def test_plain_gradient_within_noise():
    text = v.plain_grad_verdict([0.9, 1.1], [0.5, 2.0])
    assert "stays level within noise" in text
    assert text.endswith("the same at both ends within noise")


def test_residual_ratio_larger_than_plain():
    text = v.res_grad_verdict([1.1, 1.15], [0.6, 0.7], [1e-3, 1.1e-3])
    assert "times the plain network's (log10 difference" in text
    assert "smaller" not in text


def test_residual_ratio_smaller_than_plain():
    text = v.res_grad_verdict([0.4, 0.45], [1e-4, 1.1e-4], [1e-3, 1.1e-3])
    assert "times smaller than the plain network's" in text


def test_residual_ratio_within_noise_of_plain():
    text = v.res_grad_verdict([1.0, 1.02], [1e-3, 2e-3], [1.5e-3, 1e-3])
    assert "within noise of the plain network's" in text


def test_bn_gradient_larger_at_the_bottom_in_both():
    text = v.bn_grad_verdict([1.4, 1.5], [10, 11], [1.2, 1.25], [2.7, 2.9])
    assert "grows on its way down in both networks" in text
    assert text.endswith("the opposite of vanishing")


def test_bn_gradient_smaller_at_the_bottom_in_both():
    text = v.bn_grad_verdict([0.8, 0.82], [0.1, 0.11], [0.8, 0.81], [0.2, 0.21])
    assert "shrinks on its way down in both networks" in text
    assert text.endswith("in both, the bottom layers get smaller relative gradients than "
                         "the top")


def test_bn_gradient_mixed():
    text = v.bn_grad_verdict([1.4, 1.5], [10, 11], [0.9, 1.1], [0.5, 2.0])
    assert ("grows on its way down in the plain network and stays level within noise in "
            "the residual one") in text
    assert text.endswith("larger than the top's in the plain one and within noise of it "
                         "in the residual one")


def _ratios(plain):
    return nets(plain, [3.0, 3.1], [0.6, 0.7], [1.5, 1.6])


def test_early_ratio_larger():
    text = v.early_verdict(10, _ratios([1e-3, 1.1e-3]), _ratios([1e-2, 1.1e-2]))
    assert text.startswith("After 10 SGD steps")
    assert "larger than its value at initialization" in text
    assert text.endswith("plain + BN 3, residual 0.65, residual + BN 1.5.")


def test_early_ratio_smaller():
    text = v.early_verdict(10, _ratios([1e-3, 1.1e-3]), _ratios([1e-4, 1.1e-4]))
    assert "smaller than its value at initialization" in text


def test_early_ratio_within_noise():
    text = v.early_verdict(10, _ratios([1e-3, 1.1e-3]), _ratios([1e-3, 1.2e-3]))
    assert "within noise of its value at initialization" in text


def test_mechanism_shrinks():
    text = v.mechanism_verdict([0.45, 0.46], 10)
    assert text.startswith("So the lecture's mechanism is at work")
    assert "compounds over 9 blocks" in text


def test_mechanism_grows():
    assert "the product grows" in v.mechanism_verdict([1.2, 1.3], 10)


def test_mechanism_within_noise():
    assert "within noise of 1" in v.mechanism_verdict([0.9, 1.1], 10)


def test_bn_premise_removed():
    assert v.bn_premise_verdict([10, 11], [2.7, 2.9]).startswith(
        "Batch normalization removes the premise")


def test_bn_premise_kept():
    assert "is still smaller" in v.bn_premise_verdict([0.1, 0.11], [0.2, 0.21])


def test_bn_premise_mixed():
    assert "does not show BN removing the premise" in v.bn_premise_verdict([10, 11],
                                                                            [0.5, 2.0])


# ---------------------------------------------------------------- He initialization

def test_he_removes_the_shrinking_and_matches_the_border():
    text = v.he_verdict([1e-3, 1.1e-3], [0.9, 1.05], [0.977, 0.978, 0.979], 0.978)
    assert "the shrinking came from the initialization, not from the depth" in text
    assert text.endswith("so what is left matches the border's loss")


def test_he_removes_part_and_matches_no_loss():
    text = v.he_verdict([1e-3, 1.1e-3], [0.1, 0.11], [0.999, 1.0, 1.001], 0.978)
    assert "caused part of the shrinking" in text
    assert text.endswith("within noise of no loss at all")


def test_he_no_rise_within_noise_of_both():
    text = v.he_verdict([1e-3, 1.1e-3], [1e-3, 1.2e-3], [0.96, 1.0], 0.978)
    assert "does not rise beyond noise" in text and text.endswith("within noise of both")


def test_he_matching_neither():
    assert v.he_verdict([1e-3, 1.1e-3], [0.9, 1.05], [0.90, 0.901], 0.978).endswith(
        "matching neither")


# ---------------------------------------------------------------- the race

def test_learned_above_near_and_below_chance():
    text = v.learned_verdict({"a": [0.6, 0.62], "b": [0.1, 0.09], "c": [0.02, 0.03]}, N)
    parts = text.split("; ")
    assert parts[0].startswith("a learns (0.610, ")
    assert parts[1].startswith("b stays near chance (0.095, ")
    assert parts[2].startswith("c ends below chance (0.025, ")


def test_ranking_orders_by_epochs_then_misses_then_accuracy():
    nan = math.nan
    epochs = {"a": [2.0, 3.0], "b": [1.0, nan], "c": [nan, nan], "d": [1.0, 1.0]}
    accs = {"a": [0.5, 0.5], "b": [0.4, 0.3], "c": [0.2, 0.22], "d": [0.6, 0.6]}
    assert v.ranking_verdict(epochs, accs) == (
        "d (1.0 epochs), then a (2.5 epochs), then b (1.0 epochs, 1 of 2 seeds), then c "
        "(target not reached; final accuracy 0.210)")


def test_shortcut_no_race():
    accs = nets([0.1, 0.1], [0.1, 0.11], [0.1, 0.1], [0.09, 0.1])
    assert v.shortcut_verdict(accs, N, "2 epochs") == (
        "no network got clearly above chance in 2 epochs, so the race cannot rank them")


def test_shortcut_gains():
    accs = nets([0.3, 0.31], [0.5, 0.51], [0.6, 0.61], [0.8, 0.81])
    text = v.shortcut_verdict(accs, N, "2 epochs")
    assert "without BN (0.305 to 0.605" in text and "with BN (0.505 to 0.805" in text
    assert text.count(": a gain)") == 2


def test_shortcut_loss_and_within_noise():
    accs = nets([0.3, 0.31], [0.5, 0.51], [0.2, 0.21], [0.5, 0.52])
    text = v.shortcut_verdict(accs, N, "2 epochs")
    assert ": a loss) and with BN" in text and text.endswith(": within noise)")


def test_not_only_size_cannot_test():
    accs = nets([0.1, 0.1], [0.5, 0.51], [0.3, 0.3], [0.1, 0.1])
    assert "cannot test this" in v.not_only_size_verdict([10, 11], accs, N)
    assert v.size_summary([10, 11], accs, N).startswith(
        "Whether gradient size is the whole story is not settled")


def test_not_only_size_large_but_slow():
    accs = nets([0.1, 0.1], [0.5, 0.51], [0.3, 0.3], [0.8, 0.81])
    assert v.not_only_size_verdict([10, 11], accs, N).endswith(
        "large gradients at the bottom are not enough")
    assert v.size_summary([10, 11], accs, N).startswith(
        "Gradient size is not the whole story: ")


def test_not_only_size_not_separated():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.3, 0.3], [0.8, 0.81])
    text = v.not_only_size_verdict([10, 11], accs, N)
    assert "within noise), so this run does not separate" in text
    accs = nets([0.1, 0.1], [0.9, 0.91], [0.3, 0.3], [0.6, 0.61])
    assert "ahead of it), so this run" in v.not_only_size_verdict([10, 11], accs, N)


def test_residual_not_learned():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.1, 0.11], [0.8, 0.8])
    assert "does not get clearly above chance (0.105; seeds 0.100 to 0.110)" in (
        v.residual_verdict([0.6, 0.7], accs, N))


def test_residual_behind_plain_bn():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.4, 0.41], [0.8, 0.8])
    text = v.residual_verdict([0.6, 0.7], accs, N)
    assert "reaches only 0.405" in text and text.endswith("is not sufficient either")


def test_residual_ahead_or_within_noise():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.9, 0.91], [0.8, 0.8])
    assert v.residual_verdict([0.6, 0.7], accs, N).endswith("ahead of it)")
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.8, 0.81], [0.8, 0.8])
    assert v.residual_verdict([0.6, 0.7], accs, N).endswith("within noise)")


RATIOS = nets([1e-3, 1.1e-3], [10, 11], [0.6, 0.7], [2.7, 2.9])


def test_race_story_no_one_learned():
    accs = nets([0.1, 0.1], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1])
    assert v.race_story(RATIOS, accs, N).startswith("In this short run no network learned")


def test_race_story_fits_and_consistent():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.5, 0.51], [0.6, 0.61])
    text = v.race_story(RATIOS, accs, N)
    assert text.startswith("The plain network's result fits the lecture's answer")
    assert "plain + BN had the largest bottom/top ratio" in text
    assert text.endswith("gradient size is consistent with their order.")


def test_race_story_size_does_not_explain():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.5, 0.51], [0.9, 0.91])
    text = v.race_story(RATIOS, accs, N)
    assert ("Gradient size does not explain the order of the other three: residual + BN "
            "ended clearly best, but plain + BN had clearly the largest") in text


def test_race_story_unclear_order():
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.5, 0.51], [0.8, 0.81])
    assert "the best final accuracy is not clear beyond noise" in v.race_story(
        RATIOS, accs, N)
    ratios = nets([1e-3, 1.1e-3], [2.0, 3.0], [0.6, 0.7], [2.5, 2.8])
    assert ("the largest bottom/top ratio and the best final accuracy are not clear"
            in v.race_story(ratios, accs, N))


def test_race_story_plain_not_behind_all():
    accs = nets([0.6, 0.61], [0.8, 0.81], [0.5, 0.51], [0.6, 0.61])
    assert "yet it does not end behind all three others" in v.race_story(RATIOS, accs, N)


def test_race_story_plain_ratio_not_small():
    ratios = nets([0.5, 2.0], [10, 11], [0.6, 0.7], [2.7, 2.9])
    accs = nets([0.1, 0.1], [0.8, 0.81], [0.5, 0.51], [0.6, 0.61])
    assert "not clearly below 1, so gradient size explains little" in v.race_story(
        ratios, accs, N)


# ---------------------------------------------------------------- which layers moved

def test_moved_hardly():
    assert v.moved_verdict([1e-3, 1.2e-3], [0.5, 0.6]).endswith(
        "its bottom layers hardly trained, as the lecture says")


def test_moved_less():
    assert v.moved_verdict([0.3, 0.31], [0.6, 0.61]).endswith(
        "its bottom layers moved less than its top ones, as the lecture says")


def test_moved_more():
    assert "moved more than its top ones, the opposite" in v.moved_verdict(
        [1.0, 1.1], [0.5, 0.55])


def test_moved_within_noise():
    assert v.moved_verdict([0.5, 0.6], [0.55, 0.5]).endswith(
        "within noise, its bottom layers were not slower than its top ones")


def test_moved_others_all_above():
    text = v.moved_others_verdict(nets([2e-3, 2.2e-3], [1.1, 1.2], [0.6, 0.65], [1.2, 1.3]))
    assert text.startswith("In the other three networks the bottom layers moved 0.62 to 1.2")
    assert text.endswith("times the plain network's ratio, beyond noise")


def test_moved_others_all_below():
    text = v.moved_others_verdict(nets([1.0, 1.1], [0.1, 0.11], [0.2, 0.21], [0.3, 0.31]))
    assert text.endswith("below the plain network's beyond noise")


def test_moved_others_mixed():
    text = v.moved_others_verdict(nets([0.5, 0.55], [1.1, 1.2], [0.45, 0.6], [0.1, 0.11]))
    assert text.endswith("plain + BN above it, residual within noise of it, "
                         "residual + BN below it")


def test_lecture_fits():
    assert v.lecture_fit_verdict([1e-3, 1.1e-3], [2e-3, 2.1e-3]).startswith(
        "For this network the lecture's answer fits")


def test_lecture_fits_in_part():
    assert "fits this network only in part" in v.lecture_fit_verdict([1e-3, 1.1e-3],
                                                                     [0.5, 2.0])


def test_lecture_reason_does_not_fit():
    assert "the lecture's reason does not fit" in v.lecture_fit_verdict([0.5, 2.0],
                                                                        [2e-3, 2.1e-3])


def test_lecture_not_supported():
    assert "does not support the lecture's answer" in v.lecture_fit_verdict([0.5, 2.0],
                                                                           [0.5, 2.0])


# ---------------------------------------------------------------- exercise 4: the padding

def test_padding_costs_gradient_and_circular_matches_relu():
    text = v.padding_verdict([0.66, 0.67, 0.665], [0.70, 0.71, 0.705], RELU)
    assert "the border costs gradient, as predicted" in text
    assert text.endswith("within noise of it, so the ReLU accounts for it.")


def test_padding_raises_the_factor_and_circular_above():
    text = v.padding_verdict([0.75, 0.76], [0.73, 0.731], RELU)
    assert "a rise, so the border does not cost gradient here" in text
    assert "above it, so something makes up part of the ReLU's loss" in text


def test_padding_within_noise_and_circular_below():
    text = v.padding_verdict([0.65, 0.66], [0.655, 0.66], RELU)
    assert "within noise, so the border is not what sets the factor here" in text
    assert "below it, so something besides the ReLU shrinks the gradient" in text


def test_residual_and_plain_bn_both_near_chance():
    accs = nets([0.1, 0.1], [0.09, 0.1], [0.1, 0.11], [0.12, 0.1])
    assert v.residual_verdict([0.6, 0.7], accs, N).endswith(
        "and neither does the plain network with BN (0.095), so the race cannot compare them")
