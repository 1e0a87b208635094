"""Issue 6: interrupted runs resume exactly, damaged files are reported, bad input is explained.

The subprocess tests run the real command line on the real data (ResNet-18, 28 px, a few
hundred images, CPU, float32) and kill it the hard way.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.procs import wait_for

from d2lnotes import cli, data, models, runs, train
from d2lnotes.settings import ENV_VAR as PROFILE_VAR

RUN = ["train", "--profile", "smoke", "--train-size", "640", "--test-size", "256",
       "--batch-size", "128", "--device", "cpu", "--no-amp", "--no-progress", "--seed", "3"]


def _cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "d2lnotes", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _final(out: Path):
    record = json.loads((out / "record.json").read_text())
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in record["history"]]
    state = runs.load_checkpoint(runs.list_checkpoints(out)[-1])
    return record, history, state["model"]


@pytest.fixture(scope="module")
def uninterrupted(fmnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = _cli([*RUN, "--epochs", "4", "--out", str(out)])
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    return _final(out)


def test_sigkill_mid_epoch_then_resume_gives_the_same_run(uninterrupted, tmp_path):
    out = tmp_path / "run"
    proc = _cli([*RUN, "--epochs", "4", "--out", str(out)])
    wait_for(out / "checkpoint-epoch0001.pt", proc)
    time.sleep(0.3)  # into epoch 2
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    done = json.loads((out / "record.json").read_text())
    assert done["status"] == "running" and 1 <= len(done["history"]) < 4
    resumed = _cli(["train", "--out", str(out), "--resume", "--no-progress"])
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    record, history, weights = _final(out)
    ref_record, ref_history, ref_weights = uninterrupted
    assert record["status"] == "completed" and len(record["resumed"]) == 1
    assert history == ref_history  # exactly: every loss and accuracy, every epoch
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)


def test_sigint_and_sigterm_leave_a_loadable_checkpoint_and_exit_130(fmnist_root, tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / sig.name
        proc = _cli([*RUN, "--epochs", "30", "--out", str(out)])
        wait_for(out / "checkpoint-epoch0001.pt", proc)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
        assert "Traceback" not in stderr
        assert f"resume with: python -m d2lnotes train --out {out} --resume" in stderr
        record = json.loads((out / "record.json").read_text())
        assert record["status"] == "interrupted" and len(record["history"]) >= 1
        state = runs.load_checkpoint(runs.list_checkpoints(out)[-1])
        assert state["epoch"] == len(record["history"])


def test_a_corrupt_checkpoint_is_reported_and_the_previous_survives(fmnist_root, tmp_path,
                                                                    capsys):
    out = tmp_path / "run"
    assert cli.main([*RUN, "--epochs", "2", "--out", str(out)]) == cli.EXIT_OK
    first, last = runs.list_checkpoints(out)
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a crash while copying
    assert cli.main(["train", "--out", str(out), "--resume", "--no-progress"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"cannot read checkpoint {last}" in err and str(first) in err
    assert "Traceback" not in err
    assert runs.load_checkpoint(first)["epoch"] == 1  # still there, still good
    assert last.exists()  # the damaged file is not deleted either


def test_resume_refuses_other_settings_and_new_runs_refuse_a_used_folder(fmnist_root,
                                                                         tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*RUN, "--epochs", "1", "--out", str(out)]) == cli.EXIT_OK
    assert cli.main(["train", "--out", str(out), "--resume", "--lr", "0.1"]) == cli.EXIT_ERROR
    assert "--lr 0.1 (the run has 0.05)" in capsys.readouterr().err
    assert cli.main([*RUN, "--epochs", "1", "--out", str(out)]) == cli.EXIT_ERROR
    assert "already holds a run" in capsys.readouterr().err
    assert cli.main(["train", "--out", str(tmp_path / "empty"), "--resume"]) == cli.EXIT_ERROR
    assert "holds no run to resume" in capsys.readouterr().err


def test_divergence_stops_with_step_and_lr_and_keeps_the_last_good_checkpoint(fmnist_root,
                                                                              tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main([*RUN, "--epochs", "2", "--lr", "1e30", "--out", str(out)])
    assert code == cli.EXIT_DIVERGED
    err = capsys.readouterr().err
    assert "diverged" in err and "step" in err and "learning rate 1e+30" in err
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "diverged"
    [good] = runs.list_checkpoints(out)
    state = runs.load_checkpoint(good)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_train_ch6_resume_in_process_is_exact(fmnist_root, tmp_path):
    """The same through the Python API, with the improved recipe (augmentation, schedule)."""
    loaders = data.load_data_fashion_mnist(128, train_size=512, test_size=256, device="cpu",
                                           seed=0)

    def run(folder, stop_after=None, resume=False):
        torch.manual_seed(0)
        net, steps = models.lenet(batch_norm=True), []
        stop = (lambda: steps.append(1) or len(steps) == stop_after) if stop_after else None
        h = train.train_ch6(net, *loaders, 3, 0.3, "cpu", verbose=False, amp=False,
                            recipe="improved", checkpoint_dir=folder, resume=resume,
                            should_stop=stop)
        return net, h.drop(columns="seconds")

    net0, h0 = run(tmp_path / "a")
    with pytest.raises(train.TrainingInterrupted) as stopped:
        run(tmp_path / "b", stop_after=6)
    assert stopped.value.epoch == 1 and stopped.value.checkpoint.name == "checkpoint-epoch0001.pt"
    torch.manual_seed(12345)  # whatever the global state, resuming restores it
    net1, h1 = run(tmp_path / "b", resume=True)
    assert h0.equals(h1)
    assert all(torch.equal(a, b) for a, b in zip(net0.state_dict().values(),
                                                 net1.state_dict().values()))


def test_checkpoints_load_without_running_code(tmp_path):
    """weights_only=True: a pickle that would run code is refused with a clear error."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = tmp_path / "checkpoint-epoch0001.pt"
    torch.save({"format": 2, "payload": Evil()}, path)
    with pytest.raises(runs.CheckpointError, match="cannot read checkpoint"):
        runs.load_checkpoint(path)


# ---- clear errors before any work starts -------------------------------------------------

@pytest.mark.parametrize("epochs, lr", [(0, 0.1), (-2, 0.1), (1, 0.0), (1, -1.0),
                                        (1, float("nan")), (1, float("inf"))])
def test_train_ch6_rejects_non_positive_settings(epochs, lr):
    with pytest.raises(ValueError, match="num_epochs|lr"):
        train.train_ch6(models.lenet(), [], [], epochs, lr, "cpu")


@pytest.mark.parametrize("batch_size", [0, -1])
def test_non_positive_batch_size(batch_size, fmnist_root):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.load_data_fashion_mnist(batch_size)


def test_a_resize_the_network_cannot_take_names_the_valid_size(fmnist_root):
    loaders = data.load_data_fashion_mnist(64, resize=20, train_size=128, test_size=64,
                                           device="cpu")
    with pytest.raises(ValueError, match=r"cannot take 20x20 images .* smallest size it accepts is 28x28"):
        train.train_ch6(models.lenet(), *loaders, 1, 0.1, "cpu", verbose=False)


def test_wrong_number_of_channels_says_expected_and_got(fmnist_root):
    loaders = data.load_data_fashion_mnist(64, train_size=128, test_size=64, device="cpu")
    with pytest.raises(ValueError, match=r"expects 3 input channel\(s\), but the images have 1"):
        train.train_ch6(models.resnet18(in_channels=3), *loaders, 1, 0.1, "cpu")


def test_one_value_per_bn_channel_explains_the_batch_size(fmnist_root):
    # 129 images in batches of 128: the last batch holds one image, and ResNet-18's last BN
    # layers see 1x1 maps, so they would get one value per channel.
    loaders = data.load_data_fashion_mnist(128, train_size=129, test_size=64, device="cpu")
    with pytest.raises(ValueError, match=r"more than one value per channel.*batch size"):
        train.train_ch6(models.resnet18(), *loaders, 1, 0.1, "cpu", verbose=False)
    # The DataLoader path is checked the same way.
    loaders = data.load_data_fashion_mnist(128, train_size=129, test_size=64)
    with pytest.raises(ValueError, match="batch size"):
        train.train_ch6(models.resnet18(), *loaders, 1, 0.1, "cpu", verbose=False)


def test_unknown_profile_and_device_are_clear_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(PROFILE_VAR, "huge")
    assert cli.main(["train", "--out", str(tmp_path / "a")]) == cli.EXIT_ERROR
    assert "unknown profile 'huge'" in capsys.readouterr().err
    monkeypatch.delenv(PROFILE_VAR)
    for device, message in [("tpu", "is not a device"), ("meta", "cpu or cuda")]:
        assert cli.main(["train", "--device", device, "--out", str(tmp_path / device)]) == 1
        assert message in capsys.readouterr().err


@pytest.fixture
def data_copy(fmnist_root, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.RAW_FILES:
        shutil.copy(Path(fmnist_root) / "FashionMNIST" / "raw" / name, raw / name)
    return tmp_path, raw


def test_a_truncated_data_file_is_named_and_kept(data_copy):
    root, raw = data_copy
    target = raw / "t10k-labels-idx1-ubyte"
    target.write_bytes(target.read_bytes()[:5000])
    with pytest.raises(data.DataCorruptError, match=r"t10k-labels-idx1-ubyte .* 5,000 bytes, "
                                                   r"the official file has 10,008"):
        data.load_data_fashion_mnist(64, root=root, train_size=128, test_size=64)
    assert target.stat().st_size == 5000  # never deleted or overwritten


def test_a_wrong_magic_number_is_named(data_copy, tmp_path, capsys):
    root, raw = data_copy
    target = raw / "train-images-idx3-ubyte"
    with open(target, "r+b") as f:
        f.write((2049).to_bytes(4, "big"))
    with pytest.raises(data.DataCorruptError, match="magic number is 2049, the official file's is 2051"):
        data.fashion_mnist(root=root)
    assert cli.main([*RUN, "--data", str(root), "--out", str(tmp_path / "o")]) == cli.EXIT_ERROR
    assert "train-images-idx3-ubyte is damaged" in capsys.readouterr().err


# ---- the command line never answers bad arguments with a traceback --------------------------

FLAGS = ["--epochs", "--lr", "--batch-size", "--resize", "--train-size", "--test-size",
         "--profile", "--device", "--seed", "--recipe", "--out", "--data", "--amp", "--no-amp",
         "--compile", "--resume", "--no-progress", "--bogus", "-x", "train", "help"]
VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "nan", "inf", "1e400", "0.05", "abc", "",
                                    "cuda:7", "cpu", "quick", "improved", "--", "-", "' ;"]),
                   st.text(max_size=8), st.integers(-10**6, 10**6).map(str))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(FLAGS), VALUES), max_size=8))
def test_fuzzed_arguments_never_give_a_traceback(monkeypatch, capsys, argv):
    """Parse and resolve any argument list; training itself is replaced by a no-op."""
    monkeypatch.setattr(cli, "run_train", lambda args: (cli.resolve_settings(args), 0)[1])
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err
    if code:
        assert "error" in err, (argv, err)
