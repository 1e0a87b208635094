"""Training with the seed's API (``train_ch6``, ``Timer``, ``Accumulator``, ``try_gpu``).

The names and the returned DataFrame are the seed's, so its code runs unchanged; the inside
avoids its costs. The seed converts tensors to Python floats several times per batch, and
every conversion makes the CPU wait for the GPU; here the running sums stay on the device and
are read once per epoch. The seed's evaluation runs the network twice per batch (once for the
loss, once for the accuracy); here it runs once.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from .plot import matplot_acc_loss  # noqa: F401  (the seed imports it from its tools module)

HISTORY_COLUMNS = ["epoch", "train_loss_all", "val_loss_all", "train_acc_all", "val_acc_all",
                   "seconds"]


class Timer:
    """Record several running times (the seed's and d2l's ``Timer``)."""

    def __init__(self):
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sums over ``n`` variables (the seed's and d2l's ``Accumulator``).

    ``float(b)`` on a GPU tensor waits for the GPU, so the training loop below keeps its sums on
    the device instead; this class stays for code written the d2l way.
    """

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (a count, as in the seed and d2l, not a fraction)."""
    return float(_correct(y_hat, y))


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).sum()


def gpu(i: int = 0) -> torch.device:
    return torch.device(f"cuda:{i}")


def cpu() -> torch.device:
    return torch.device("cpu")


def num_gpus() -> int:
    return torch.cuda.device_count()


def try_gpu(i: int = 0) -> torch.device:
    """``gpu(i)`` if it exists, otherwise ``cpu()``."""
    return gpu(i) if num_gpus() >= i + 1 else cpu()


def init_weights(m: nn.Module) -> None:
    """The seed's initialisation: Xavier-uniform weights for every Linear and Conv2d."""
    if type(m) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)


def amp_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for full float32.

    ``amp=None`` (auto) turns mixed precision on for CUDA only: bfloat16 where the GPU supports
    it (Ampere and newer), float16 with a gradient scaler on older GPUs such as Colab's T4. On a
    CPU it stays off unless asked for (``amp=True`` gives bfloat16), because only some CPUs run
    bfloat16 faster; ``benchmarks/train_speed.py`` measures it.
    """
    device = torch.device(device)
    if amp is False or (amp is None and device.type != "cuda"):
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def train_epoch(net: nn.Module, train_iter, loss_fn, optimizer: torch.optim.Optimizer,
                device: torch.device, *, dtype: torch.dtype | None = None,
                scaler: torch.amp.GradScaler | None = None, channels_last: bool = False,
                progress: bool = False, desc: str = "train") -> tuple[float, float]:
    """One pass over ``train_iter``; returns mean loss and accuracy, synchronising once."""
    net.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for X, y in _progress(train_iter, progress, desc):
        X, y = _to(X, device, channels_last), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            y_hat = net(X)
            loss = loss_fn(y_hat, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        loss_sum += loss.detach().float() * len(y)
        correct += _correct(y_hat.detach(), y)
        n += len(y)
    return loss_sum.item() / n, correct.item() / n


@torch.no_grad()
def evaluate_loss_accuracy(net: nn.Module, data_iter, loss_fn=None,
                           device: torch.device | None = None, *,
                           dtype: torch.dtype | None = None,
                           channels_last: bool = False) -> tuple[float, float]:
    """Mean loss and accuracy over ``data_iter`` in eval mode, one forward pass per batch."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for X, y in data_iter:
        X, y = _to(X, device, channels_last), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            y_hat = net(X)
            loss = loss_fn(y_hat, y)
        loss_sum += loss.float() * len(y)
        correct += _correct(y_hat, y)
        n += len(y)
    return loss_sum.item() / n, correct.item() / n


def _to(X: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    X = X.to(device, non_blocking=True)
    return X.contiguous(memory_format=torch.channels_last) if channels_last else X


def _progress(iterable, enabled: bool, desc: str):
    """A tqdm bar (notebook-aware) when asked for; the plain iterable otherwise."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=False, total=len(iterable))


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
              device: torch.device | str, *, init: bool = True, verbose: bool = True,
              optimizer: torch.optim.Optimizer | None = None, amp: bool | None = None,
              channels_last: bool | None = None, compile: bool = False,
              progress: bool = False, on_epoch_end=None) -> pd.DataFrame:
    """Train ``net`` with SGD and cross-entropy, evaluate after every epoch (the seed's API).

    Returns a DataFrame with the seed's columns ``epoch, train_loss_all, val_loss_all,
    train_acc_all, val_acc_all`` plus ``seconds`` (wall-clock of that epoch's training and
    evaluation). Beyond the seed's arguments, all optional:

    * ``init=False`` keeps the current weights instead of the seed's Xavier initialisation;
    * ``verbose=False`` silences the per-epoch lines, ``progress=True`` adds tqdm bars;
    * ``optimizer`` replaces plain SGD;
    * ``amp``: mixed precision, ``None`` = automatic (see :func:`amp_dtype`), True or False;
    * ``channels_last``: NHWC memory layout, faster for convolutions on GPUs with tensor cores;
      ``None`` = on for CUDA, off on CPUs;
    * ``compile=True`` runs the model through ``torch.compile`` (slow to start, faster after);
    * ``on_epoch_end(history)`` is called with the DataFrame so far after every epoch.

    A loss that becomes NaN or infinite stops training with a ``FloatingPointError`` naming the
    epoch and the learning rate.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr}")
    device = torch.device(device)
    if init:
        net.apply(init_weights)
    dtype = amp_dtype(device, amp)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    if verbose:
        print("training on", device, f"({_precision(dtype)}"
              f"{', channels_last' if channels_last else ''}{', compiled' if compile else ''})")
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    model = torch.compile(net) if compile else net
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss()
    rows, timer = [], Timer()
    for epoch in range(num_epochs):
        timer.start()
        train_loss, train_acc = train_epoch(model, train_iter, loss_fn, optimizer, device,
                                            dtype=dtype, scaler=scaler,
                                            channels_last=channels_last, progress=progress,
                                            desc=f"epoch {epoch + 1}/{num_epochs}")
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training diverged: the loss became {train_loss} in epoch {epoch} with "
                f"lr {lr}; try a smaller learning rate")
        val_loss, val_acc = evaluate_loss_accuracy(model, test_iter, loss_fn, device,
                                                   dtype=dtype, channels_last=channels_last)
        seconds = timer.stop()
        rows.append([epoch, train_loss, val_loss, train_acc, val_acc, seconds])
        if verbose:
            print(f"{epoch} train loss:{train_loss:.4f} train acc: {train_acc:.4f}")
            print(f"{epoch} val loss:{val_loss:.4f} val acc: {val_acc:.4f}")
            total = timer.sum()
            print(f"time for training and validation {total // 60:.0f}m{total % 60:.0f}s")
        if on_epoch_end is not None:
            on_epoch_end(pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _precision(dtype: torch.dtype | None) -> str:
    return "float32" if dtype is None else f"mixed precision {str(dtype).removeprefix('torch.')}"


def epochs_to_reach(history: pd.DataFrame, target: float, column: str = "val_acc_all") -> float:
    """The first epoch (counting from 1) at which ``column`` reaches ``target``; NaN if never."""
    hits = np.flatnonzero(history[column].to_numpy() >= target)
    return float(hits[0] + 1) if len(hits) else math.nan


def layer_grad_norms(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                     loss_fn=None) -> pd.DataFrame:
    """Gradient norm of every Linear/Conv2d weight for one batch, bottom layer first.

    Used to see where the gradient is small (the bottom layers, the seed's Q2) and how batch
    normalization changes that (Q9). Leaves the parameters' ``.grad`` cleared afterwards.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    net.zero_grad(set_to_none=True)
    loss_fn(net(X), y).backward()
    rows = []
    for name, m in net.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight.grad is not None:
            g = m.weight.grad
            rows.append({"layer": name, "kind": type(m).__name__,
                         "grad norm": g.norm().item(),
                         "relative grad norm": (g.norm() / m.weight.norm()).item()})
    net.zero_grad(set_to_none=True)
    return pd.DataFrame(rows)


def versions() -> dict[str, str | None]:
    """Software versions for a run record."""
    import platform

    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "cudnn": str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None}


def device_name(device: torch.device | str) -> str:
    """A human name for the device: the GPU's model, or the CPU's."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def save_record(record: dict, path) -> None:
    """Write a run record as JSON atomically: a crash mid-write never leaves half a file."""
    import json
    import os
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, default=float)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_record(path) -> tuple[dict, pd.DataFrame]:
    """A run record and its history as a DataFrame (the shape ``train_ch6`` returns)."""
    import json

    with open(path) as f:
        record = json.load(f)
    return record, pd.DataFrame(record["history"], columns=HISTORY_COLUMNS)


def measure_throughput(net: nn.Module, train_iter, device: torch.device | str, *,
                       steps: int = 20, warmup: int = 3, lr: float = 0.05,
                       amp: bool | None = None, channels_last: bool | None = None) -> float:
    """Training images per second over ``steps`` SGD steps, after ``warmup`` untimed ones.

    Trains ``net`` in place (so pass a fresh copy); synchronises the GPU before reading the
    clock, so the number is honest for asynchronous devices.
    """
    device = torch.device(device)
    dtype = amp_dtype(device, amp)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss()
    batches = _cycle(train_iter)
    kw = dict(dtype=dtype, scaler=scaler, channels_last=channels_last)
    train_epoch(net, itertools.islice(batches, warmup), loss_fn, optimizer, device, **kw)
    counted = []

    def timed():
        for X, y in itertools.islice(batches, steps):
            counted.append(len(y))
            yield X, y

    _sync(device)
    start = time.perf_counter()
    train_epoch(net, timed(), loss_fn, optimizer, device, **kw)  # one host sync, at the end
    _sync(device)
    return sum(counted) / (time.perf_counter() - start)


def _cycle(iterable):
    while True:
        yield from iterable


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
