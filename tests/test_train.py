import json
import math

import pandas as pd
import pytest
import torch
from torch import nn

from d2lnotes import data, device, models, runs, train
from d2lnotes.bn import BatchNorm


def test_timer_and_accumulator():
    timer = train.Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.times) == 2 and timer.sum() >= 0
    assert timer.cumsum()[-1] == pytest.approx(timer.sum())
    acc = train.Accumulator(2)
    acc.add(1, torch.tensor(2.0))
    acc.add(3, 4)
    assert (acc[0], acc[1]) == (4.0, 6.0)
    acc.reset()
    assert acc.data == [0.0, 0.0]


def test_accuracy_counts_correct_predictions():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert train.accuracy(y_hat, torch.tensor([1, 0, 0])) == 2.0
    assert train.accuracy(torch.tensor([1, 1]), torch.tensor([1, 0])) == 1.0


def test_device_helpers(monkeypatch):
    assert device.cpu() == torch.device("cpu")
    assert device.gpu(1) == torch.device("cuda:1")
    monkeypatch.setattr(device, "num_gpus", lambda: 0)
    assert device.try_gpu() == torch.device("cpu")
    monkeypatch.setattr(device, "num_gpus", lambda: 2)
    assert device.try_gpu(1) == torch.device("cuda:1")
    assert device.try_gpu(2) == torch.device("cpu")


@pytest.fixture(scope="module")
def small_data(fmnist_root):
    return data.load_data_fashion_mnist(128, train_size=2048, test_size=512, device="cpu",
                                        seed=0)


def test_train_ch6_learns_on_real_data(small_data, capsys):
    train_iter, test_iter = small_data
    torch.manual_seed(0)
    history = train.train_ch6(models.lenet(batch_norm=True), train_iter, test_iter, 2, 1.0,
                              device.try_gpu())
    assert list(history.columns) == ["epoch", "train_loss_all", "val_loss_all",
                                     "train_acc_all", "val_acc_all", "seconds"]
    assert list(history["epoch"]) == [0, 1]
    # Chance is 0.10; a model that does not learn cannot pass this.
    assert history["val_acc_all"].iloc[-1] > 0.6
    assert history["train_loss_all"].iloc[-1] < history["train_loss_all"].iloc[0]
    out = capsys.readouterr().out
    assert "training on cpu" in out and "1 val loss:" in out


def test_train_ch6_accepts_dataloaders(fmnist_root):
    train_iter, test_iter = data.load_data_fashion_mnist(64, train_size=256, test_size=128,
                                                         seed=0)
    history = train.train_ch6(models.lenet(), train_iter, test_iter, 1, 0.5, "cpu",
                              verbose=False)
    assert isinstance(history, pd.DataFrame) and len(history) == 1


@pytest.mark.parametrize("epochs, lr", [(0, 0.1), (1, 0.0), (1, -1.0), (1, math.nan)])
def test_train_ch6_rejects_bad_settings(epochs, lr):
    with pytest.raises(ValueError):
        train.train_ch6(models.lenet(), [], [], epochs, lr, "cpu")


def test_evaluate_matches_a_direct_computation(small_data):
    _, test_iter = small_data
    torch.manual_seed(0)
    net = models.lenet().eval()
    loss, acc = train.evaluate_loss_accuracy(net, test_iter)
    X = torch.cat([x for x, _ in test_iter])
    y = torch.cat([y for _, y in test_iter])
    with torch.no_grad():
        logits = net(X)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_device_loader_visits_every_example_once_per_epoch(fmnist_root):
    x, y = data.fashion_mnist_tensors(True, 300)
    loader = data.DeviceLoader(x, y, 64, resize=32, shuffle=True, seed=0)
    assert len(loader) == 5
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [64, 64, 64, 64, 44]
    assert batches[0][0].shape == (64, 1, 32, 32) and batches[0][0].dtype == torch.float32
    labels = torch.cat([b[1] for b in batches])
    assert torch.equal(labels.sort().values, y.sort().values)
    assert not torch.equal(labels, y)  # shuffled
    second = torch.cat([b[1] for b in loader])
    assert not torch.equal(labels, second)  # a new order every epoch


def test_device_loader_order_follows_seed(fmnist_root):
    x, y = data.fashion_mnist_tensors(True, 300)
    first = [next(iter(data.DeviceLoader(x, y, 50, shuffle=True, seed=s)))[1] for s in (1, 1, 2)]
    assert torch.equal(first[0], first[1]) and not torch.equal(first[0], first[2])


def test_epochs_to_reach():
    h = pd.DataFrame({"val_acc_all": [0.5, 0.7, 0.8]})
    assert runs.epochs_to_reach(h, 0.7) == 2
    assert runs.epochs_to_reach(h, 0.5) == 1
    assert math.isnan(runs.epochs_to_reach(h, 0.9))


def test_layer_grad_norms_one_row_per_weight_layer():
    torch.manual_seed(0)
    net = models.lenet()
    X, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    g = models.layer_grad_norms(net, X, y)
    assert list(g["kind"]) == ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"]
    assert (g["grad norm"] > 0).all()
    assert all(p.grad is None for p in net.parameters())


def test_lenet_variants_differ_only_in_bn():
    with_bn, without = models.lenet(True), models.lenet(False)
    assert sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in with_bn.modules()) == 4
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in without.modules())
    shapes = [p.shape for n, p in with_bn.named_parameters()
              if not isinstance(with_bn[int(n.split(".")[0])], nn.BatchNorm1d | nn.BatchNorm2d)]
    assert shapes == [p.shape for p in without.parameters()]
    assert without(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_lenet_with_scratch_bn_is_lenet_with_torch_bn():
    torch.manual_seed(0)
    ref = models.lenet()
    ours = models.lenet(bn_layer=BatchNorm)
    ours.load_state_dict(ref.state_dict())
    X = torch.rand(16, 1, 28, 28)
    for mode in (True, False):
        ref.train(mode)
        ours.train(mode)
        torch.testing.assert_close(ours(X), ref(X), atol=1e-5, rtol=1e-5)


def test_mlp():
    net = models.mlp(3, width=32, batch_norm=True)
    assert sum(isinstance(m, nn.Linear) for m in net) == 4
    assert sum(isinstance(m, nn.BatchNorm1d) for m in net) == 3
    assert net(torch.rand(4, 1, 28, 28)).shape == (4, 10)
    with pytest.raises(ValueError):
        models.mlp(0)


def test_fast_and_dataloader_paths_give_the_same_history(fmnist_root):
    """Same seed, CPU, float32: the device-resident path changes speed, not results."""
    histories = []
    for device in ("cpu", None):
        train_iter, test_iter = data.load_data_fashion_mnist(
            64, resize=32, train_size=320, test_size=128, device=device, seed=3)
        torch.manual_seed(0)
        histories.append(train.train_ch6(models.resnet18(), train_iter, test_iter, 2, 0.05,
                                         "cpu", verbose=False, amp=False))
    fast, loader = (h.drop(columns="seconds") for h in histories)
    pd.testing.assert_frame_equal(fast, loader, rtol=1e-4, atol=1e-5)


def test_amp_auto_picks_bf16_only_on_cpus_with_native_bf16(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.amp_dtype("cpu") == torch.bfloat16
    assert device.amp_dtype("cpu", False) is None
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert device.amp_dtype("cpu") is None
    assert device.amp_dtype("cpu", True) == torch.bfloat16


def test_provenance_names_the_commit_and_the_command(tmp_path, monkeypatch):
    state = runs.git_state()
    assert state["git_commit"] is None or len(state["git_commit"]) == 40
    record = runs.provenance("cpu", argv=["python", "-m", "d2lnotes", "train"])
    assert record["command"] == "python -m d2lnotes train" and record["device_name"]
    # a copy of the tree without .git (as sent to a GPU machine): the commit can be given
    monkeypatch.setenv("D2LNOTES_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("D2LNOTES_GIT_DIRTY", "1")
    given = runs.git_state(tmp_path)
    assert given["git_commit"] == "a" * 40 and given["git_dirty"] is True
    assert "given" in given["git_source"]
    monkeypatch.delenv("D2LNOTES_GIT_COMMIT")
    assert runs.git_state(tmp_path) == {"git_commit": None, "git_dirty": None}


def test_one_atomic_writer_leaves_no_half_file(tmp_path):
    path = tmp_path / "record.json"
    runs.save_json({"a": 1}, path)

    def broken(f):
        f.write("{\"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        runs.atomic_write(path, broken, mode="w")
    assert json.loads(path.read_text()) == {"a": 1}
    assert list(tmp_path.iterdir()) == [path]  # the old file, intact; no temporary left
