import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from d2lnotes import cli, device, recipe, runs, train

SMALL = ["--profile", "smoke", "--train-size", "256", "--test-size", "128", "--epochs", "1",
         "--no-progress"]
REQUIRED_SETTINGS = {"profile", "epochs", "lr", "batch_size", "resize", "train_size",
                     "test_size", "seed", "amp", "device"}


def test_train_writes_a_valid_record(fmnist_root, tmp_path, capsys):
    assert cli.main(["train", *SMALL, "--out", str(tmp_path)]) == cli.EXIT_OK
    record = json.loads((tmp_path / "record.json").read_text())
    assert REQUIRED_SETTINGS <= set(record["settings"])
    assert record["settings"]["train_size"] == 256 and record["settings"]["profile"] == "smoke"
    assert record["status"] == "completed" and record["finished"] >= record["started"]
    assert set(record["versions"]) >= {"python", "torch", "torchvision", "cuda"}
    assert record["device_name"]
    [row] = record["history"]
    assert set(runs.HISTORY_COLUMNS) <= set(row)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("completed: train loss") and "images/s" in last


def test_module_entry_point(fmnist_root, tmp_path):
    result = subprocess.run([sys.executable, "-m", "d2lnotes", "train", *SMALL, "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "record.json").is_file()


@pytest.mark.parametrize("flag, value", [("--lr", "-1"), ("--lr", "nan"), ("--epochs", "0"),
                                         ("--batch-size", "x"), ("--profile", "huge")])
def test_bad_flags_are_rejected_without_traceback(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


def test_flags_override_the_profile():
    args = cli.build_parser().parse_args(["train", "--profile", "quick", "--epochs", "7",
                                          "--resize", "64", "--device", "cpu"])
    settings = cli.resolve_settings(args)
    assert settings["epochs"] == 7 and settings["resize"] == 64
    assert settings["train_size"] == 6_000 and settings["profile"] == "quick"
    assert settings["device"] == "cpu"
    assert settings["amp"] == ("bfloat16" if device.cpu_has_native_bf16() else "off")


def test_unavailable_cuda_and_sizes_are_clear_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["train", "--device", "cuda", "--out", str(tmp_path)]) == cli.EXIT_ERROR
    assert "CUDA is not available" in capsys.readouterr().err
    assert cli.main(["train", "--train-size", "70000", "--out", str(tmp_path)]) == 1
    assert "at most 60000" in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["train", *SMALL, "--out", str(blocker / "run")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: cannot write the run's folder" in err and "Traceback" not in err


class _Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, X):
        return self.fc(X) * float("nan")


def test_divergence_names_epoch_and_lr():
    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1 of 1, at learning rate 0.5"):
        train.train_ch6(_Exploding(), batches, batches, 2, 0.5, "cpu", verbose=False)


def test_record_round_trip(tmp_path):
    record = {"settings": {"profile": "smoke"}, "status": "completed",
              "history": [dict(zip(runs.HISTORY_COLUMNS, [0, 1.0, 2.0, 0.5, 0.4, 3.0]))]}
    runs.save_record(record, tmp_path / "sub" / "record.json")
    loaded, history = runs.load_record(tmp_path / "sub" / "record.json")
    assert loaded == record and list(history.columns) == runs.HISTORY_COLUMNS
    assert not (tmp_path / "sub" / "record.json.tmp").exists()


def test_recipe_flags_override_single_fields():
    args = cli.build_parser().parse_args(["train", "--recipe", "improved", "--erase", "0",
                                          "--ema", "0.5", "--no-tta", "--device", "cpu"])
    settings = cli.resolve_settings(args)
    rec = recipe.recipe_from_dict(settings["recipe_settings"])
    assert settings["recipe"] == "improved+custom"
    assert rec.augment == recipe.Augment(crop=2, flip=True, erase=0.0)
    assert rec.ema == 0.5 and rec.tta is False and rec.momentum == 0.9
    plain = cli.resolve_settings(cli.build_parser().parse_args(["train", "--device", "cpu"]))
    assert plain["recipe"] == "seed"
    assert recipe.recipe_from_dict(plain["recipe_settings"]) == recipe.RECIPES["seed"]


def test_inconsistent_recipe_flags_are_clear_errors(tmp_path, capsys):
    # the seed's recipe has no momentum, so Nesterov momentum makes no sense
    assert cli.main(["train", "--nesterov", "--device", "cpu", "--out", str(tmp_path)]) == 1
    assert "nesterov needs a momentum" in capsys.readouterr().err
