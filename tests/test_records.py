"""Reference-run records: the folder the chapters read, and the table they show."""
import json
import math

import pandas as pd
import pytest

from d2lnotes import runs


def _record(recipe="seed", resize=28, epochs=2, done=2, status="completed", train=60_000,
            test=10_000, resumed=()):
    history = [{"epoch": e, "train_loss_all": 1.0 / (e + 1), "val_loss_all": 0.5,
                "train_acc_all": 0.8 + 0.05 * e, "val_acc_all": 0.85, "seconds": 1.0}
               for e in range(done)]
    return {"settings": {"recipe": recipe, "resize": resize, "epochs": epochs,
                         "train_size": train, "test_size": test},
            "history": history, "status": status, "device_name": "CPU A",
            "resumed": [{"device_name": d} for d in resumed]}


def test_load_records_reads_every_record_by_name(tmp_path):
    runs.save_record(_record(recipe="improved"), tmp_path / "b.json")
    runs.save_record(_record(), tmp_path / "a.json")
    records = runs.load_records(tmp_path)
    assert list(records) == ["a", "b"]
    record, history = records["b"]
    assert record["settings"]["recipe"] == "improved"
    assert list(history.columns) == runs.HISTORY_COLUMNS and len(history) == 2


def test_a_damaged_record_is_named(tmp_path):
    (tmp_path / "bad.json").write_text('{"settings": ')
    with pytest.raises(ValueError, match="bad.json"):
        runs.load_records(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"no history": 1}))
    with pytest.raises(ValueError, match="bad.json"):
        runs.load_records(tmp_path)


def test_an_empty_or_missing_folder_has_no_records(tmp_path):
    assert runs.load_records(tmp_path) == {}
    assert runs.load_records(tmp_path / "absent") == {}


@pytest.mark.parametrize("changes, complete", [
    ({}, True),
    (dict(status="interrupted", done=1), False),
    (dict(done=1), False),
    (dict(train=6_000), False),
    (dict(test=1_000), False),
])
def test_only_finished_full_data_runs_are_complete(changes, complete):
    assert runs.is_complete(_record(**changes)) is complete


def test_incomplete_reasons_name_each_shortfall():
    assert runs.incomplete_reasons(_record()) == []
    reasons = runs.incomplete_reasons(_record(done=4, status="interrupted", train=6_000),
                                      "improved", 96)
    assert reasons == ["it has 4 of 2 epochs", "its status is 'interrupted'",
                       "it used 6,000 training and 10,000 test images, not all 60,000 and "
                       "10,000", "its recipe is 'seed', not 'improved'",
                       "it ran at 28 px, not 96"]


def test_is_complete_filters_recipe_and_resize():
    record = _record(recipe="improved", resize=96)
    assert runs.is_complete(record, "improved", 96)
    assert not runs.is_complete(record, "seed")
    assert not runs.is_complete(record, resize=28)


def test_records_table_has_each_run_then_d2l_zh():
    table = runs.records_table({
        "seed-28px": _loaded(_record()),
        "part": _loaded(_record(done=1, status="interrupted", resumed=["GPU B", "CPU A"])),
        "empty": _loaded(_record(done=0, status="running")),
    })
    assert list(table.index) == ["seed-28px", "part", "empty", runs.D2L_ZH["run"]]
    assert table.loc["seed-28px", "train acc"] == pytest.approx(0.85)
    assert table.loc["seed-28px", "epochs"] == "2 of 2"
    assert table.loc["part", "epochs"] == "1 of 2"
    assert table.loc["part", "device"] == "CPU A, GPU B"
    assert math.isnan(table.loc["empty", "test acc"])
    d2l = table.loc[runs.D2L_ZH["run"]]
    assert (d2l["px"], d2l["train acc"], d2l["test acc"]) == (96, 0.997, 0.893)


def _loaded(record):
    return record, pd.DataFrame(record["history"], columns=runs.HISTORY_COLUMNS)
