"""Issue 8: data-parallel training with torchrun (CPU, gloo, 2 processes) on the real data."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.procs import wait_for

from d2lnotes import data, models, runs, train

HELPER = Path(__file__).parent / "helpers" / "ddp_steps.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
RUN = ["-m", "d2lnotes", "train", "--profile", "smoke", "--train-size", "640",
       "--test-size", "256", "--batch-size", "128", "--device", "cpu", "--no-amp",
       "--no-progress", "--seed", "5"]


def _torchrun(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "D2LNOTES_DIST_TIMEOUT": "60"}
    return subprocess.Popen([*TORCHRUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


def _one_process(batch_norm: bool):
    loaders = data.load_data_fashion_mnist(128, train_size=512, test_size=256, device="cpu",
                                           seed=0)
    torch.manual_seed(0)
    net = models.lenet(batch_norm=batch_norm)
    history = train.train_ch6(net, *loaders, 1, 0.5, "cpu", verbose=False, amp=False)
    return net.state_dict(), history


def _max_weight_difference(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a
               if a[k].is_floating_point() and "running" not in k)


@pytest.mark.parametrize("kind", ["plain", "bn"])
def test_two_processes_match_one_process_on_the_combined_batch(fmnist_root, tmp_path, kind):
    """Without BN, 2 processes on half-batches = 1 process on the whole batch (up to float
    summation order). With BN they differ, by design: each process normalises its half-batch
    with that half's own mean and variance (that is what SyncBatchNorm would change)."""
    out = tmp_path / "ddp.pt"
    proc = _torchrun([str(HELPER), str(out), kind])
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    assert ddp["world_size"] == 2
    weights, history = _one_process(kind == "bn")
    diff = _max_weight_difference(ddp["weights"], weights)
    if kind == "plain":
        assert diff < 1e-4, diff
        assert ddp["history"]["val_acc_all"] == pytest.approx(list(history["val_acc_all"]),
                                                               abs=2e-3)
    else:
        assert diff > 1e-3, diff  # per-process BN statistics: a real, documented difference


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def test_a_dead_rank_ends_the_job_with_an_error_not_a_hang(fmnist_root, tmp_path):
    out = tmp_path / "run"
    proc = _torchrun([*RUN, "--epochs", "50", "--out", str(out)])
    wait_for(out / "checkpoint-epoch0001.pt", proc)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(max(workers), signal.SIGKILL)  # one rank dies without a word
    start = time.monotonic()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode != 0
    assert time.monotonic() - start < 150
    assert "lost contact" in stderr or "SIGKILL" in stderr or "Signal 9" in stderr, stderr[-3000:]


def test_checkpoint_and_resume_under_two_processes(fmnist_root, tmp_path):
    reference = tmp_path / "reference"
    proc = _torchrun([*RUN, "--epochs", "3", "--out", str(reference)])
    assert proc.wait(timeout=900) == 0, proc.communicate()[1][-3000:]
    out = tmp_path / "run"
    proc = _torchrun([*RUN, "--epochs", "3", "--out", str(out)], start_new_session=True)
    wait_for(out / "checkpoint-epoch0001.pt", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job dies at once, as on a lost machine
    proc.communicate()
    proc = _torchrun(["-m", "d2lnotes", "train", "--out", str(out), "--resume",
                      "--no-progress"])
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    ref = json.loads((reference / "record.json").read_text())
    got = json.loads((out / "record.json").read_text())
    assert got["settings"]["world_size"] == 2 and got["settings"]["global_batch_size"] == 128
    assert got["status"] == "completed" and got["resumed"]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(got["history"]) == strip(ref["history"])
    a = runs.load_checkpoint(runs.list_checkpoints(reference)[-1])["model"]
    b = runs.load_checkpoint(runs.list_checkpoints(out)[-1])["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_number_of_processes_is_refused(fmnist_root, tmp_path, capsys):
    from d2lnotes import cli

    out = tmp_path / "run"
    proc = _torchrun([*RUN, "--epochs", "1", "--out", str(out)])
    assert proc.wait(timeout=900) == 0, proc.communicate()[1][-3000:]
    assert cli.main(["train", "--out", str(out), "--resume"]) == cli.EXIT_ERROR
    assert "used 2 process(es)" in capsys.readouterr().err
