"""The benchmark scripts run end to end at toy sizes and write a result folder each.

(train_speed.py and time_to_accuracy.py --records run in the gpu-check rehearsal.)"""
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import cpu_bf16_accuracy  # noqa: E402
import time_to_accuracy  # noqa: E402


def test_time_to_accuracy_trains_each_recipe_with_run_settings(fmnist_root, tmp_path):
    out = tmp_path / "tta"
    assert time_to_accuracy.main(["--profile", "smoke", "--epochs", "1", "--train-size", "128",
                                  "--test-size", "32", "--batch-size", "32", "--resize", "28",
                                  "--device", "cpu", "--no-amp", "--out", str(out)]) == 0
    r = json.loads((out / "result.json").read_text())
    assert r["benchmark"] == "time_to_accuracy" and r["git_commit"]
    assert {k: s["recipe"] for k, s in r["run_settings"].items()} == {"seed": "seed",
                                                                    "improved": "improved"}
    assert r["run_settings"]["seed"]["amp"] == "off" and r["settings"]["train_size"] == 128
    seed, improved = (r["histories"][k][0]["train_loss_all"] for k in ("seed", "improved"))
    assert seed != improved  # label smoothing and augmentation: not the same run twice
    assert "| 90% |" in (out / "stdout.txt").read_text()


def test_cpu_bf16_accuracy_replays_the_same_batches_per_seed(fmnist_root, tmp_path,
                                                              monkeypatch):
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "train_size", 64)
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "test_size", 32)
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "batch_size", 32)
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "resize", 28)
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "epochs", 1)
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "seeds", [0])
    monkeypatch.setitem(cpu_bf16_accuracy.RESNET, "amps", [False, False])  # bf16 is slow here
    monkeypatch.setitem(cpu_bf16_accuracy.LENET, "train_size", 256)
    monkeypatch.setitem(cpu_bf16_accuracy.LENET, "test_size", 64)
    monkeypatch.setitem(cpu_bf16_accuracy.LENET, "runs", [False, False])
    out = tmp_path / "bf16"
    assert cpu_bf16_accuracy.main(["--out", str(out)]) == 0
    r = json.loads((out / "result.json").read_text())
    for a, b in (r["resnet18"], r["lenet"]):  # the same seed, the same batches: the same run
        assert {**a, "seconds": 0} == {**b, "seconds": 0}
