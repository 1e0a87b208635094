"""The verdicts of "Fixing the overfitting", on made-up numbers: every branch of every one.

The chapter glues these words into its text; here each function meets a clear gain, a clear
loss and a difference inside the noise band (and its other branches), so the words can never
contradict the numbers they come from.
"""
import pytest

from helpers.verdicts import load

v = load("overfitting")


def _record(recipe="seed", resize=28, epochs=10, done=10, status="completed", train=60_000,
            test=10_000, final=0.90):
    history = [{"epoch": e, "train_loss_all": 0.5, "val_loss_all": 0.4,
                "train_acc_all": 0.9, "val_acc_all": final, "seconds": 10.0}
               for e in range(done)]
    return {"settings": {"recipe": recipe, "resize": resize, "epochs": epochs,
                         "train_size": train, "test_size": test},
            "history": history, "status": status}


# --- the gap between training and test accuracy ----------------------------------------------

def test_gap_beyond_noise_is_overfitting():
    text = v.verdict_gap(0.99, 0.90, 10_000, 10_000)
    assert "+0.0900 ±" in text and "signature of overfitting" in text


def test_test_above_train_beyond_noise_is_no_overfitting():
    text = v.verdict_gap(0.80, 0.90, 10_000, 10_000)
    assert "-0.1000 ±" in text and "test accuracy is above training accuracy" in text


def test_gap_within_noise():
    text = v.verdict_gap(0.91, 0.90, 100, 100)
    assert "the gap is within noise" in text and "overfitting it can measure" in text


# --- one step of the ablation ----------------------------------------------------------------

def _acc(test, train):
    return {"test acc": test, "train acc": train}


def test_step_that_helped_and_narrowed_the_gap():
    text = v.verdict_step("+ label smoothing", _acc(0.95, 0.96), _acc(0.85, 0.99),
                          10_000, 10_000)
    assert text.startswith('"+ label smoothing": helped (test accuracy +0.1000 ±')
    assert "the gap narrowed (-0.1300 ±" in text


def test_step_that_hurt_and_widened_the_gap():
    text = v.verdict_step("+ random erasing", _acc(0.80, 0.99), _acc(0.90, 0.95),
                          10_000, 10_000)
    assert "hurt (test accuracy -0.1000 ±" in text and "the gap widened (+0.1400 ±" in text


def test_step_within_noise():
    text = v.verdict_step("+ crop and flip", _acc(0.51, 0.52), _acc(0.50, 0.52), 100, 100)
    assert '"+ crop and flip": within noise' in text and "moved within noise" in text


# --- the tally of all steps ------------------------------------------------------------------

def test_tally_counts_each_kind_and_names_the_largest_change():
    text = v.verdict_tally({"a": (0.95, 0.85), "b": (0.80, 0.90), "c": (0.901, 0.90),
                            "d": (0.902, 0.90)}, 10_000)
    assert text.startswith('of the 4 steps, 1 helped beyond the noise band ("a"), 1 hurt '
                           '("b") and 2 were within noise ("c", "d")')
    assert 'the largest change in test accuracy came from "a" (+0.1000 ±' in text
    assert text.endswith("a gain)")


def test_tally_when_the_best_step_is_a_loss_or_noise():
    loss = v.verdict_tally({"a": (0.80, 0.90), "b": (0.70, 0.90)}, 10_000)
    assert "0 helped beyond the noise band, 2 hurt" in loss and loss.endswith("a loss)")
    assert 'came from "a"' in loss
    noise = v.verdict_tally({"a": (0.50, 0.49)}, 100)
    assert "0 helped beyond the noise band, 0 hurt and 1 was within noise (\"a\")" in noise
    assert noise.endswith("within noise)")


# --- the two ends ----------------------------------------------------------------------------

@pytest.mark.parametrize("improved, words", [
    (0.95, "the improved recipe is better beyond noise"),
    (0.85, "the improved recipe is worse beyond noise"),
    (0.901, "within noise, so this run cannot tell the two recipes apart"),
])
def test_overall(improved, words):
    text = v.verdict_overall(improved, 0.90, 10_000)
    assert text.startswith(f"0.9000 to {improved:.4f} (") and text.endswith(words)


# --- the longer budget -----------------------------------------------------------------------

@pytest.mark.parametrize("short, long, words", [
    ((0.80, 0.90), (0.95, 0.90), "with time to fit, augmentation wins"),
    ((0.90, 0.90), (0.95, 0.90), "with time to fit, augmentation wins"),
    ((0.95, 0.90), (0.95, 0.90), "already won on the short budget"),
    ((0.80, 0.90), (0.90, 0.90), "neither confirms nor refutes"),
    ((0.80, 0.90), (0.85, 0.90), "the explanation fails here"),
])
def test_long_budget(short, long, words):
    text = v.verdict_long(*short, *long, 10_000, 1, 18)
    assert text.startswith("after 1 epoch augmentation ") and "after 18 epochs it " in text
    assert words in text


def test_long_budget_names_each_effect():
    text = v.verdict_long(0.80, 0.90, 0.95, 0.90, 10_000, 6, 18)
    assert "after 6 epochs augmentation hurt (-0.1000 ±" in text
    assert "after 18 epochs it helped (+0.0500 ±" in text
    text = v.verdict_long(0.90, 0.90, 0.90, 0.90, 10_000, 6, 18)
    assert "augmentation was within noise" in text and "it was within noise" in text


# --- the target, the resolution, EMA ---------------------------------------------------------

@pytest.mark.parametrize("acc, words", [
    (0.96, "the target is met beyond noise"),
    (0.93, "the target is missed beyond noise"),
    (0.946, "within noise of the target"),
])
def test_target_on_full(acc, words):
    text = v.verdict_target(acc, 0.945, 10_000, "full", 60_000)
    assert text.startswith(f"{acc:.4f}, ") and "94.5% target" in text
    assert text.endswith(words)


def test_target_on_a_smaller_profile_says_so():
    text = v.verdict_target(0.70, 0.945, 1_000, "quick", 4_000)
    assert "the target is missed beyond noise" in text
    assert "this is the quick profile's budget, 4,000 training images" in text


@pytest.mark.parametrize("low_acc, words", [
    (0.95, "scores higher beyond noise"),
    (0.85, "scores lower beyond noise"),
    (0.901, "scores within noise of the higher one"),
])
def test_resolution(low_acc, words):
    text = v.verdict_resolution(14, 28, low_acc, 0.90, 10_000, 1.0, 2.0)
    assert text.startswith("at 14 pixels an epoch took 1.00 s against 2.00 s at 28 "
                           "(2.0 times the speed)")
    assert text.endswith(words)


@pytest.mark.parametrize("ema, words", [
    (0.95, "it helped beyond noise"),
    (0.85, "it hurt beyond noise"),
    (0.901, "within noise, so this run cannot tell whether it helps"),
])
def test_ema(ema, words):
    text = v.verdict_ema(ema, 0.90, 10_000)
    assert text.startswith("EMA changed the final test accuracy by ") and words in text


# --- the reference runs on all the data ------------------------------------------------------

def test_reference_without_records():
    text = v.verdict_reference({})
    assert text == ("no verdict on all the data yet: the run of the notes' recipe "
                    "(seed-28px.json) is missing; the run of the improved recipe "
                    "(improved-28px.json) is missing")


def test_reference_with_one_record_missing_and_one_incomplete():
    text = v.verdict_reference({"seed-28px": _record(),
                                "improved-28px": _record("improved", done=4,
                                                         status="interrupted")})
    assert "notes' recipe" not in text
    assert ("the run of the improved recipe (improved-28px.json) is incomplete: it has "
            "4 of 10 epochs, its status is 'interrupted'") in text
    text = v.verdict_reference({"improved-28px": _record("improved")})
    assert "(seed-28px.json) is missing" in text and "improved-28px" not in text


def test_reference_names_every_reason_a_record_does_not_count():
    text = v.verdict_reference({
        "seed-28px": _record(train=6_000, test=1_000, status="running"),
        "improved-28px": _record("seed", resize=96),
    })
    assert "it used 6,000 training and 1,000 test images, not all 60,000 and 10,000" in text
    assert "its status is 'running'" in text
    assert "its recipe is 'seed', not 'improved'" in text and "it ran at 96 px, not 28" in text


@pytest.mark.parametrize("improved, words", [
    (0.93, "the improved recipe is better beyond noise"),
    (0.87, "the improved recipe is worse beyond noise"),
    (0.903, "within noise, so these runs cannot tell the two recipes apart"),
])
def test_reference_with_both_complete_records(improved, words):
    text = v.verdict_reference({"seed-28px": _record(final=0.90),
                                "improved-28px": _record("improved", final=improved)})
    assert text.startswith("on all the data (10 epochs at 28 px, 10,000 test images), test "
                           f"accuracy goes from 0.9000 with the notes' recipe to "
                           f"{improved:.4f} with the improved one (")
    assert text.endswith(words)


def test_reference_at_224_px_reads_the_gpu_records():
    missing = v.verdict_reference({"seed-28px": _record()}, 224, "-gpu")
    assert "(seed-224px-gpu.json) is missing" in missing
    assert "(improved-224px-gpu.json) is missing" in missing
    text = v.verdict_reference({"seed-224px-gpu": _record(resize=224, final=0.92),
                                "improved-224px-gpu": _record("improved", resize=224,
                                                              final=0.94)}, 224, "-gpu")
    assert text.startswith("on all the data (10 epochs at 224 px, 10,000 test images)")
    assert text.endswith("the improved recipe is better beyond noise")
