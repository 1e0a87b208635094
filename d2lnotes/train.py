"""Training with the seed's API (``train_ch6``, ``Timer``, ``Accumulator``, ``try_gpu``).

The names and the returned DataFrame are the seed's, so its code runs unchanged; the inside
avoids its costs. The seed converts tensors to Python floats several times per batch, and
every conversion makes the CPU wait for the GPU; here the running sums stay on the device and
are read once per epoch. The seed's evaluation runs the network twice per batch (once for the
loss, once for the accuracy); here it runs once.
"""
from __future__ import annotations

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


def train_epoch(net: nn.Module, train_iter, loss_fn, optimizer: torch.optim.Optimizer,
                device: torch.device) -> tuple[float, float]:
    """One pass over ``train_iter``; returns mean loss and accuracy, synchronising once."""
    net.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for X, y in train_iter:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        y_hat = net(X)
        loss = loss_fn(y_hat, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(y)
        correct += _correct(y_hat.detach(), y)
        n += len(y)
    return loss_sum.item() / n, correct.item() / n


@torch.no_grad()
def evaluate_loss_accuracy(net: nn.Module, data_iter, loss_fn=None,
                           device: torch.device | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over ``data_iter`` in eval mode, one forward pass per batch."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device or next(net.parameters()).device
    net.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for X, y in data_iter:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        y_hat = net(X)
        loss_sum += loss_fn(y_hat, y) * len(y)
        correct += _correct(y_hat, y)
        n += len(y)
    return loss_sum.item() / n, correct.item() / n


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
              device: torch.device | str, *, init: bool = True, verbose: bool = True,
              optimizer: torch.optim.Optimizer | None = None) -> pd.DataFrame:
    """Train ``net`` with SGD and cross-entropy, evaluate after every epoch (the seed's API).

    Returns a DataFrame with the seed's columns ``epoch, train_loss_all, val_loss_all,
    train_acc_all, val_acc_all`` plus ``seconds`` (wall-clock of that epoch's training and
    evaluation). ``init=False`` keeps the current weights instead of the seed's Xavier init;
    ``verbose=False`` silences the per-epoch lines; ``optimizer`` replaces plain SGD.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr}")
    device = torch.device(device)
    if init:
        net.apply(init_weights)
    if verbose:
        print("training on", device)
    net.to(device)
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rows, timer = [], Timer()
    for epoch in range(num_epochs):
        timer.start()
        train_loss, train_acc = train_epoch(net, train_iter, loss_fn, optimizer, device)
        val_loss, val_acc = evaluate_loss_accuracy(net, test_iter, loss_fn, device)
        seconds = timer.stop()
        rows.append([epoch, train_loss, val_loss, train_acc, val_acc, seconds])
        if verbose:
            print(f"{epoch} train loss:{train_loss:.4f} train acc: {train_acc:.4f}")
            print(f"{epoch} val loss:{val_loss:.4f} val acc: {val_acc:.4f}")
            total = timer.sum()
            print(f"time for training and validation {total // 60:.0f}m{total % 60:.0f}s")
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


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
