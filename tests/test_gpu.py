"""What only a GPU can check: mixed precision, layouts, compilation, the on-device loader,
exact resume with the CUDA random state, and NCCL. Run by ``make gpu-check``; skipped elsewhere.

Every test is marked ``gpu`` and takes the ``device`` fixture: CUDA when there is one,
otherwise a skip. ``D2LNOTES_GPU_REHEARSAL=1`` runs them on the CPU instead, as far as a CPU
can (gloo for NCCL, bf16/fp16 autocast on the CPU, torch.compile with the ``eager`` backend),
so that ``make gpu-check REHEARSAL=1`` catches a typo here before the one real GPU run does.
The tests use small subsets of the real Fashion-MNIST and take seconds on a GPU.
"""
import copy
import os

# Deterministic cuBLAS needs this before its first call in the process (the resume test).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from d2lnotes import data, device as ddevice, dist, models, runs, train  # noqa: E402

pytestmark = pytest.mark.gpu
REHEARSAL = os.environ.get("D2LNOTES_GPU_REHEARSAL") == "1"


@pytest.fixture
def device(fmnist_root):
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if REHEARSAL:
        return torch.device("cpu")
    pytest.skip("needs CUDA (make gpu-check runs it on a GPU machine)")


@pytest.fixture
def no_tf32():
    """Plain float32 matmuls and convolutions, so float32 comparisons can be tight."""
    old = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.set_float32_matmul_precision(old[0])
    torch.backends.cudnn.allow_tf32 = old[1]


# A rehearsal on a CPU only checks that the tests run: the smallest data that does.
TRAIN_SIZE, TEST_SIZE = (128, 64) if REHEARSAL else (512, 256)


def loaders(device, batch_size=64, resize=None, train_size=TRAIN_SIZE, test_size=TEST_SIZE,
            seed=0):
    return data.load_data_fashion_mnist(batch_size, resize=resize, train_size=train_size,
                                        test_size=test_size, seed=seed, device=device)


def finite(history) -> bool:
    cols = ["train_loss_all", "val_loss_all", "train_acc_all", "val_acc_all"]
    return bool(history[cols].notna().all().all()) and bool((history[cols].abs() < 1e6).all().all())


def test_bf16_autocast_trains_resnet18(device):
    """On Ampere and newer, amp=None means bfloat16 autocast; ResNet-18 trains in it."""
    dtype = ddevice.amp_dtype(device, None if device.type == "cuda" else True)
    assert dtype == torch.bfloat16
    net = models.resnet18().to(device)
    X = next(iter(loaders(device)[0]))[0]
    with ddevice.autocast(device, dtype):
        assert net(X).dtype == torch.bfloat16
    torch.manual_seed(0)  # (a CPU without bf16 instructions emulates it: LeNet there)
    net = models.resnet18() if device.type == "cuda" else models.lenet()
    h = train.train_ch6(net, *loaders(device), 1, 0.05, device, verbose=False, amp=True)
    assert len(h) == 1 and finite(h)


def test_fp16_with_grad_scaler_as_on_a_t4(device, monkeypatch):
    """A GPU without bf16 (Colab's T4) gets float16 autocast with a gradient scaler."""
    dtype = torch.float16
    if device.type == "cpu":  # the CPU rehearsal
        try:
            with ddevice.autocast(device, dtype):
                pass
        except RuntimeError:
            pytest.skip("this torch has no float16 autocast on CPUs (added in torch 2.2)")
    if device.type == "cuda":
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        assert ddevice.amp_dtype(device, None) == torch.float16
    scaler = ddevice.grad_scaler(device, dtype)
    assert scaler is not None and ddevice.grad_scaler(device, torch.bfloat16) is None
    torch.manual_seed(0)
    net = models.lenet().to(device)
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for X, y in loaders(device)[0]:
        with ddevice.autocast(device, dtype):
            loss = nn.functional.cross_entropy(net(X), y)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    assert 0 < scaler.get_scale() < float("inf")
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    if device.type == "cuda":  # the whole loop picks float16 and the scaler by itself
        torch.manual_seed(0)
        h = train.train_ch6(models.lenet(), *loaders(device), 1, 0.5, device, verbose=False)
        assert finite(h)


def test_channels_last_gives_the_same_logits_and_trains(device, no_tf32):
    torch.manual_seed(0)
    net = models.resnet18().to(device).eval()
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    X = next(iter(loaders(device, resize=64)[1]))[0]
    with torch.no_grad():
        a, b = net(X), net_cl(X.contiguous(memory_format=torch.channels_last))
    # float32 either way; only the convolution algorithms differ, so rounding differs (a
    # layout mistake would differ by O(1))
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    torch.manual_seed(0)
    net = models.resnet18()
    h = train.train_ch6(net, *loaders(device), 1, 0.05, device, verbose=False,
                        channels_last=True)
    assert finite(h)
    assert net[0][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_torch_compile_trains_and_matches_eager(device, no_tf32, monkeypatch):
    if REHEARSAL and device.type == "cpu":  # tracing only: inductor's C++ build takes minutes
        compile_ = torch.compile
        monkeypatch.setattr(torch, "compile", lambda m, **kw: compile_(m, backend="eager", **kw))
    torch.manual_seed(0)
    net = models.lenet()
    h = train.train_ch6(net, *loaders(device), 1, 0.5, device, verbose=False, amp=False,
                        compile=True)
    assert finite(h)
    net.eval()
    X = next(iter(loaders(device)[1]))[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(net)(X), net(X), rtol=1e-4, atol=1e-4)
    torch._dynamo.reset()


def test_device_loader_lives_on_the_device_and_orders_by_seed_and_epoch(device):
    train_iter, test_iter = loaders(device, resize=96)
    X, y = next(iter(train_iter))
    assert X.device.type == device.type and y.device.type == device.type
    assert X.dtype == torch.float32 and y.dtype == torch.int64 and X.shape == (64, 1, 96, 96)
    assert 0 <= X.min() and X.max() <= 1

    def labels(loader, epoch):
        loader.set_epoch(epoch)
        return torch.cat([y.cpu() for _, y in loader])

    cpu_train, cpu_test = loaders("cpu", resize=96)
    e0, e1 = labels(train_iter, 0), labels(train_iter, 1)
    assert torch.equal(e0, labels(train_iter, 0))  # (seed, epoch) alone fixes the order
    assert not torch.equal(e0, e1)
    assert torch.equal(e0.sort().values, e1.sort().values)  # every example once per epoch
    assert torch.equal(e0, labels(cpu_train, 0))  # the order is drawn on the CPU for all
    train_iter.seed = 1
    assert not torch.equal(e0, labels(train_iter, 0))
    # the same pixels as the CPU's resize (float32 bilinear; kernels may round differently)
    torch.testing.assert_close(next(iter(test_iter))[0].cpu(), next(iter(cpu_test))[0],
                               rtol=0, atol=1e-5)


class _DropoutLeNet(nn.Sequential):
    """LeNet (no overlapping pools: deterministic backward) after a dropout on the input,
    which draws from the global CUDA generator, so resuming must restore it."""

    def __init__(self):
        super().__init__(nn.Dropout(0.2), *models.lenet())


def test_checkpoint_resume_is_exact_with_the_cuda_random_state(device, tmp_path, monkeypatch,
                                                               no_tf32):
    """Stop after 6 steps, resume, compare with a run never stopped: same history, weights.

    Exactness needs deterministic kernels: float32 (no autocast), cuDNN deterministic, the
    deterministic-algorithms switch (warn_only: an op without a deterministic version warns
    instead of failing) and CUBLAS_WORKSPACE_CONFIG (set at the top of this file). A second
    uninterrupted run is the control: if even two plain runs differ on this machine, the
    resumed run is compared with a tolerance instead, and the test says so.
    """
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        tr, te = loaders(device, batch_size=TRAIN_SIZE // 4)  # 4 steps an epoch: stop in the 2nd

        def run(folder, stop_after=None, resume=False):
            torch.manual_seed(0)
            net, steps = _DropoutLeNet(), []
            stop = (lambda: steps.append(1) or len(steps) == stop_after) if stop_after else None
            h = train.train_ch6(net, tr, te, 3, 0.3, device, verbose=False, amp=False,
                                channels_last=False, recipe="improved", checkpoint_dir=folder,
                                resume=resume, should_stop=stop)
            return net.state_dict(), h.drop(columns="seconds")

        w0, h0 = run(tmp_path / "a")
        w_control, h_control = run(tmp_path / "control")
        with pytest.raises(train.TrainingInterrupted) as stopped:
            run(tmp_path / "b", stop_after=6)
        assert stopped.value.epoch == 1
        state = runs.load_checkpoint(stopped.value.checkpoint)
        if device.type == "cuda":
            assert len(state["ranks"][0]["rng"]["cuda"]) == torch.cuda.device_count()
        torch.manual_seed(12345)  # whatever the global state, resuming restores it
        if device.type == "cuda":
            torch.cuda.manual_seed_all(12345)
        w1, h1 = run(tmp_path / "b", resume=True)
    finally:
        torch.use_deterministic_algorithms(was)
    deterministic = h0.equals(h_control) and all(torch.equal(w0[k], w_control[k]) for k in w0)
    if deterministic:
        assert h0.equals(h1), (h0, h1)
        assert all(torch.equal(w0[k], w1[k]) for k in w0)
    else:  # this platform is not bit-reproducible even without a stop: compare closely
        import warnings
        warnings.warn("two uninterrupted runs differ on this device; resume compared with "
                      "a tolerance of 1e-4")
        torch.testing.assert_close(h1.to_numpy(), h0.to_numpy(), rtol=1e-4, atol=1e-4)
        for k in w0:
            torch.testing.assert_close(w1[k].float(), w0[k].float(), rtol=1e-4, atol=1e-4)


def test_single_process_ddp_over_nccl(device, tmp_path):
    """One process, world size 1: NCCL starts, DDP's averaged gradients are the plain ones,
    and the package's collectives run on it."""
    import torch.distributed as tdist

    backend = "nccl" if device.type == "cuda" else "gloo"
    tdist.init_process_group(backend, init_method=f"file://{tmp_path / 'store'}", rank=0,
                             world_size=1)
    try:
        assert tdist.get_backend() == backend and dist.world() == dist.World(0, 1)
        torch.manual_seed(0)
        net = models.lenet().to(device)
        plain = copy.deepcopy(net)
        ddp = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
        X, y = next(iter(loaders(device)[0]))
        for model in (ddp, plain):
            nn.functional.cross_entropy(model(X), y).backward()
        for a, b in zip(net.parameters(), plain.parameters()):  # averaged over 1 process:
            # the same up to cuDNN's nondeterministic weight-gradient kernels
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
        t = torch.arange(4.0, device=device)
        tdist.all_reduce(t)  # a collective through the backend itself (one rank: the same)
        assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
        total, count = dist.sum_over_processes(torch.tensor(2.5, device=device),
                                               torch.tensor(3, device=device))
        assert total.item() == 2.5 and count.item() == 3
        loss, acc = train.evaluate_loss_accuracy(plain, loaders(device)[1], device=device)
        assert 0 <= acc <= 1
    finally:
        tdist.destroy_process_group()
