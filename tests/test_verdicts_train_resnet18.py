"""The verdicts of "Training ResNet-18 on Fashion-MNIST", on made-up numbers: every branch.

The chapter's run differs between machines and profiles, and the reference runs in
notebooks/training/records/ arrive later (or never, or interrupted); each verdict must say the
right thing in every case, so each branch is called here once.
"""
import pytest

from helpers.verdicts import load

v = load("train_resnet18")
LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat",
          "sandal", "shirt", "sneaker", "bag", "ankle boot"]
D2L = {"train acc": 0.997, "test acc": 0.893, "px": 96}


def reference(train_acc=0.99, test_acc=0.90, test_losses=(0.40, 0.30, 0.35, 0.50), px=224,
              name="seed-224px"):
    return {"name": name, "px": px, "train_acc": train_acc, "test_acc": test_acc,
            "test_losses": list(test_losses)}


# -- verdict_agreement -------------------------------------------------------------------------

def test_agreement_identical():
    assert v.verdict_agreement(0.0, "X").startswith("identical to X")


def test_agreement_within_rounding():
    words = v.verdict_agreement(3e-6, "X")
    assert words.startswith("within 3.0e-06 of X") and "not bit for bit" in words


def test_agreement_different():
    words = v.verdict_agreement(0.02, "X")
    assert words.startswith("different from X, by up to 0.02")


# -- verdict_overfitting -----------------------------------------------------------------------

def test_overfitting_overfits():
    words = v.verdict_overfitting(0.99, 0.90, 60_000, 10_000, [0.4, 0.3, 0.35, 0.5])
    assert "+0.090 ±" in words
    assert "lowest after epoch 2 of 4" in words and "1.67 times" in words
    assert "Verdict: the run overfits" in words


def test_overfitting_gap_but_test_loss_still_falling():
    words = v.verdict_overfitting(0.99, 0.90, 60_000, 10_000, [0.5, 0.4, 0.3])
    assert "lowest after epoch 3 of 3" in words
    assert "Verdict: a gap beyond noise, but the test loss did not rise" in words


def test_overfitting_gap_with_a_rise_inside_the_tolerance():
    words = v.verdict_overfitting(0.99, 0.90, 60_000, 10_000, [0.5, 0.30, 0.31])
    assert "Verdict: a gap beyond noise" in words  # 3% above the minimum is not a rise


def test_overfitting_within_noise_single_epoch():
    words = v.verdict_overfitting(0.2568, 0.2676, 1024, 512, [2.26])
    assert "Verdict: training and test accuracy agree within noise" in words
    assert words.endswith("a single epoch shows no trend in the test loss")


def test_overfitting_test_above_training():
    words = v.verdict_overfitting(0.80, 0.90, 60_000, 10_000, [0.5, 0.4])
    assert "Verdict: test accuracy is above training accuracy beyond noise" in words


# -- verdict_reference and verdict_notes_claim -------------------------------------------------

def test_reference_missing():
    assert v.verdict_reference(None).startswith("No complete run of the notes' recipe")


def test_reference_present():
    words = v.verdict_reference(reference())
    assert words.startswith('In "seed-224px" (224 px, all the data), training accuracy')
    assert "60,000 training and 10,000 test images" in words
    assert "the run overfits" in words


@pytest.mark.parametrize("ref, start", [
    (None, "not checked yet"),
    (reference(), 'confirmed in "seed-224px" (224 px): a gap of +0.090'),
    (reference(test_losses=[0.5, 0.4, 0.3]), "confirmed only in part"),
    (reference(train_acc=0.900, test_acc=0.899), "not reproduced in \"seed-224px\" (224 px): "
                                                 "the gap"),
    (reference(train_acc=0.85, test_acc=0.90), "not reproduced in \"seed-224px\" (224 px): "
                                               "test accuracy is above"),
])
def test_notes_claim(ref, start):
    assert v.verdict_notes_claim(ref).startswith(start)


# -- verdict_vs_d2l ----------------------------------------------------------------------------

def test_vs_d2l_no_reference():
    assert v.verdict_vs_d2l(None, D2L).startswith("There is no complete reference run")


def test_vs_d2l_smaller_gap_higher_accuracy_other_size():
    words = v.verdict_vs_d2l(reference(0.99, 0.91, px=28), D2L)
    assert "the gap of 0.080 is smaller than d2l-zh's 0.104" in words
    assert "test accuracy of 0.910 is above d2l-zh's" in words
    assert "not like for like: d2l-zh trained at 96 px, this run at 28 px" in words


def test_vs_d2l_larger_gap_lower_accuracy():
    words = v.verdict_vs_d2l(reference(0.999, 0.85, px=224), D2L)
    assert "is larger than d2l-zh's" in words and "is below d2l-zh's" in words


def test_vs_d2l_within_noise_same_size():
    words = v.verdict_vs_d2l(reference(0.996, 0.893, px=96), D2L)
    assert "within noise of d2l-zh's 0.104" in words
    assert "0.893 is within noise of d2l-zh's" in words
    assert "the same image size" in words and "not like for like" not in words


# -- verdict_missing ---------------------------------------------------------------------------

EXPECTED = [("seed", 28, "A"), ("improved", 28, "B"), ("seed", 224, '"make gpu-check" on a GPU')]


def record(name, recipe, px, *why):
    return {"name": name, "recipe": recipe, "px": px, "why": list(why)}


def test_missing_empty_folder():
    words = v.verdict_missing([], EXPECTED)
    assert words.startswith("No complete reference run is recorded yet")
    assert ("no complete run of the notes' recipe at 224 px is recorded yet: it comes from "
            '"make gpu-check" on a GPU') in words
    assert "no complete run of the improved recipe at 28 px" in words


def test_missing_some_complete_one_interrupted():
    words = v.verdict_missing([record("seed-28px", "seed", 28),
                               record("seed-224px", "seed", 224, "it has 3 of 10 epochs",
                                      "its status is 'interrupted'"),
                               record("tiny", "improved", 28, "it used 1,024 training and "
                                      "512 test images")],
                              EXPECTED)
    assert words.startswith("Complete reference runs: the notes' recipe at 28 px;")
    assert ('"seed-224px" (the notes\' recipe, 224 px) is incomplete (it has 3 of 10 '
            "epochs, its status is 'interrupted'): shown, not judged") in words
    assert ('"tiny" (the improved recipe, 28 px) is incomplete (it used 1,024 training and '
            '512 test images): shown, not judged') in words
    assert "no complete run of the notes' recipe at 224 px" in words
    assert "notes' recipe at 28 px is recorded yet" not in words
    assert "improved recipe at 28 px is recorded yet" in words


def test_missing_nothing():
    words = v.verdict_missing([record("a", "seed", 28), record("b", "improved", 28),
                               record("c", "seed", 224), record("d", "custom", 64)],
                              EXPECTED)
    assert words == ("Complete reference runs: recipe \"custom\" at 64 px, the improved "
                     "recipe at 28 px, the notes' recipe at 28 px, the notes' recipe at "
                     "224 px.")


# -- verdict_q22 -------------------------------------------------------------------------------

def test_q22_beyond_noise():
    words = v.verdict_q22([0.60, 0.90], [0.80, 0.88], 60_000, 10_000)
    assert words.startswith("test accuracy was above training accuracy beyond noise in 1 of "
                            "2 epochs")


def test_q22_above_but_within_noise():
    words = v.verdict_q22([0.2568], [0.2676], 1024, 512)
    assert words.startswith("test accuracy was above training accuracy in 1 of 1 epoch, but "
                            "within noise")


def test_q22_never_above():
    words = v.verdict_q22([0.9, 0.95], [0.85, 0.9], 60_000, 10_000)
    assert words.startswith("test accuracy was above training accuracy in 0 of 2 epochs;")


# -- verdict_full_fit --------------------------------------------------------------------------

def test_full_fit_short_of_100():
    words = v.verdict_full_fit(0.997, 60_000)
    assert "stayed 0.0030 short of 100% (about 180 of 60,000 images" in words


def test_full_fit_reached():
    assert "within noise of 100%" in v.verdict_full_fit(1.0, 60_000)
    assert "within noise of 100%" in v.verdict_full_fit(0.9995, 1024)


# -- verdict_confusions ------------------------------------------------------------------------

def confusion(pairs, diagonal=90):
    m = [[diagonal if i == j else 0 for j in range(10)] for i in range(10)]
    for (true, pred), count in pairs.items():
        m[LABELS.index(true)][LABELS.index(pred)] = count
    return m


def test_confusions_concentrated():
    m = confusion({("shirt", "t-shirt"): 40, ("pullover", "coat"): 30, ("coat", "shirt"): 20,
                   ("sandal", "sneaker"): 10})
    words = v.verdict_confusions(m, LABELS)
    assert words.startswith("90 of the 100 mistakes (90%) take one upper-body garment for "
                            "another, more than the 13%")
    assert "3 of the 6 most frequent mistakes are of that kind" in words
    assert "0 mistakes (0%) cross between clothing and footwear or bags" in words
    assert v.verdict_confusions(m, LABELS, short=True).startswith(
        "its mistakes concentrate among the upper-body garments (90%")


def test_confusions_elsewhere():
    m = confusion({("trouser", "bag"): 50, ("sandal", "sneaker"): 45, ("shirt", "coat"): 5})
    words = v.verdict_confusions(m, LABELS)
    assert words.startswith("5 of the 100 mistakes (5%) take one upper-body garment for "
                            "another, less than the 13%")
    assert "50 mistakes (50%) cross between clothing and footwear or bags" in words
    assert v.verdict_confusions(m, LABELS, short=True).startswith(
        "its mistakes do not concentrate among")


def test_confusions_within_noise():
    m = confusion({("shirt", "coat"): 2, ("trouser", "dress"): 8})
    assert "within noise of the 13%" in v.verdict_confusions(m, LABELS)
    assert v.verdict_confusions(m, LABELS, short=True).startswith(
        "its mistakes are not clearly concentrated among")


def test_confusions_no_mistakes():
    m = confusion({})
    assert v.verdict_confusions(m, LABELS).startswith("the network made no mistakes")
    assert v.verdict_confusions(m, LABELS, short=True) == "there are no mistakes to place"
