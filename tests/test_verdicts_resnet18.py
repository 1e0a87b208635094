"""The words "The residual block and ResNet-18" glues in, on made-up numbers, every branch."""
from helpers.verdicts import load

v = load("resnet18")


def test_untrained_within_noise_of_chance():
    words = v.verdict_untrained(8, 64)  # 0.125 vs 0.10, band 2 * sqrt(0.09 / 64) = 0.075
    assert words.startswith("8 of 64 right, an accuracy of 0.12 against 0.10 for guessing")
    assert "(difference +0.02 ± 0.08)" in words
    assert words.endswith("within noise of chance, as it should be with nothing learned yet")


def test_untrained_above_chance_is_luck():
    words = v.verdict_untrained(20, 64)  # 0.31, far above the band
    assert "above chance" in words and "luck of one small batch" in words
    assert "within noise" not in words


def test_untrained_below_chance_is_luck():
    words = v.verdict_untrained(0, 400)  # 0.00 vs 0.10, band 0.03
    assert "below chance" in words and "luck of one small batch" in words
    assert "0 of 400 right" in words


def test_untrained_uses_the_number_of_classes():
    words = v.verdict_untrained(50, 100, n_classes=2)  # chance 0.50: exactly chance
    assert "against 0.50 for guessing" in words and "within noise of chance" in words


def test_param_gap_equal():
    assert v.verdict_param_gap(11_175_370, 11_175_370) == (
        "exactly as many parameters as torchvision's, 11,175,370")


def test_param_gap_almost_more():
    words = v.verdict_param_gap(11_178_378, 11_175_370)
    assert words == ("almost, but not exactly, as many parameters as torchvision's: "
                     "3,008 more (0.03% of 11,175,370)")


def test_param_gap_almost_fewer():
    words = v.verdict_param_gap(11_175_000, 11_175_370)
    assert words.startswith("almost, but not exactly") and "370 fewer" in words


def test_param_gap_clearly_different():
    words = v.verdict_param_gap(12_000_000, 10_000_000)
    assert words == ("2,000,000 more parameters than torchvision's (20.0% of 10,000,000), "
                     "a difference in design rather than in detail")
    assert "fewer" in v.verdict_param_gap(8_000_000, 10_000_000)
