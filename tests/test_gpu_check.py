"""``make gpu-check REHEARSAL=1``: the GPU machine's whole sequence, on the CPU at smoke sizes.

The real run gets one try on a GPU machine with little time; this rehearsal makes sure that
no step of it fails on a typo, a changed API or a missing file. It takes about a minute or
two (each step starts its own Python).
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = ["gpu_tests", "train_speed_96", "train_speed_224", "full_seed", "full_improved",
         "full_seed_96", "time_to_accuracy"]


def test_gpu_check_rehearsal_runs_every_step(fmnist_root, tmp_path):
    out = tmp_path / "gpu-check"
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--rehearsal",
                           "--out", str(out), "--pack", str(tmp_path / "OUT")],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    summary = json.loads((out / "result.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == STEPS
    failed = {n: s["status"] for n, s in steps.items() if s["status"] != "passed"}
    assert not failed and done.returncode == 0, (failed, done.stdout[-4000:], done.stderr[-2000:])
    assert summary["rehearsal"] and summary["passed"] and summary["git_commit"]
    for name in ("train_speed_96", "train_speed_224", "time_to_accuracy"):
        assert (out / name / "result.json").is_file() and (out / name / "stdout.txt").is_file()
    for name in ("full_seed", "full_improved", "full_seed_96"):
        record = json.loads((out / name / "record.json").read_text())
        assert record["status"] == "completed" and len(record["history"]) == 1
    assert not list(out.rglob("*.pt"))  # checkpoints stay out of the committed folder
    speed = json.loads((out / "train_speed_224" / "result.json").read_text())
    assert speed["d2l_measured"] == summary["d2l_measured"]
    assert (tmp_path / "OUT" / "gpu-check.tar.gz").is_file()
    assert "| gpu_tests | passed |" in (tmp_path / "OUT" / "gpu-check-summary.md").read_text()
