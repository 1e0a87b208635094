"""Training with the notes' API: ``train_ch6`` and its parts, and the seed's ``Timer`` and
``Accumulator``.

The names and the returned DataFrame are the notes', so their code runs unchanged; the inside
avoids their costs. The notes convert tensors to Python floats several times per batch, and
every conversion makes the CPU wait for the GPU; here the running sums stay on the device and
are read once per epoch. The notes' evaluation runs the network twice per batch (once for the
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

from . import dist
from .data import draw_seed
from .device import (amp_dtype, autocast, default_channels_last, grad_scaler, precision_name,
                     synchronize, to_device)
from .models import check_input
from .recipe import Augment, Recipe, get_recipe, init_weights, make_optimizer, make_scheduler
from .runs import HISTORY_COLUMNS, Checkpoints


class Timer:
    """Record several running times (the notes' and d2l's ``Timer``)."""

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
    """Sums over ``n`` variables (the notes' and d2l's ``Accumulator``).

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
    """Number of correct predictions (a count, as in the notes and d2l, not a fraction)."""
    return float(num_correct(y_hat, y))


def num_correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Like :func:`accuracy`, but a tensor on the device: reading it would wait for the GPU."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).sum()


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request (Ctrl-C, SIGTERM) after a complete step.

    A ``KeyboardInterrupt``, so code that handles Ctrl-C handles this too. ``checkpoint`` is
    the file to resume from (set by ``train_ch6`` when it keeps checkpoints).
    """

    def __init__(self, epoch: int, step: int, steps: int | None, checkpoint=None):
        self.epoch, self.step, self.steps, self.checkpoint = epoch, step, steps, checkpoint
        super().__init__(f"interrupted in epoch {epoch + 1} after step {step}"
                         + (f" of {steps}" if steps else ""))


def train_epoch(net: nn.Module, train_iter, loss_fn, optimizer: torch.optim.Optimizer,
                device: torch.device, *, dtype: torch.dtype | None = None, scaler=None,
                channels_last: bool = False, scheduler=None, augment: Augment | None = None,
                generator: torch.Generator | None = None, ema=None, should_stop=None,
                progress: bool = False, desc: str = "train",
                epoch: int = 0) -> tuple[float, float]:
    """One pass over ``train_iter``; returns mean loss and accuracy, synchronizing once.

    Per batch: augment (on the device, drawing from ``generator``), forward, loss, backward,
    step; then step the learning-rate ``scheduler`` and update the ``ema`` of the weights.
    ``should_stop()`` is asked after every step; when it says yes, the epoch ends there with
    :class:`TrainingInterrupted`. A NaN or infinite loss is noted on the device (no sync) and
    reported after the epoch as a ``FloatingPointError`` with its step and learning rate.
    """
    net.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    first_bad = torch.full((), -1, device=device, dtype=torch.long)
    lrs, n, steps = [], 0, len(train_iter) if hasattr(train_iter, "__len__") else None
    for step, (X, y) in enumerate(_progress(train_iter, progress, desc)):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if augment:
            X = augment(X, generator)
        X = to_device(X, device, channels_last)
        lrs.append(optimizer.param_groups[0]["lr"])
        with autocast(device, dtype):
            y_hat = net(X)
            loss = loss_fn(y_hat, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:  # float16: scale the loss so small gradients do not underflow
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(net)
        loss = loss.detach().float()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        loss_sum += loss * len(y)
        correct += num_correct(y_hat.detach(), y)
        n += len(y)
        if should_stop is not None and dist.agree_to_stop(should_stop, step):
            raise TrainingInterrupted(epoch, step + 1, steps)
    bad = int(dist.max_over_processes(first_bad).item())  # a NaN anywhere stops every process
    if bad >= 0:
        raise FloatingPointError(
            f"training diverged: the loss became NaN or infinite in epoch {epoch + 1}, step "
            f"{bad + 1}{f' of {steps}' if steps else ''}, at learning rate {lrs[bad]:g}; "
            f"try a smaller learning rate")
    loss_sum, correct, n = dist.sum_over_processes(loss_sum, correct,
                                                   torch.tensor(n, device=device))
    return loss_sum.item() / n.item(), correct.item() / n.item()


@torch.no_grad()
def evaluate_loss_accuracy(net: nn.Module, data_iter, loss_fn=None,
                           device: torch.device | None = None, *,
                           dtype: torch.dtype | None = None, channels_last: bool = False,
                           tta: bool = False) -> tuple[float, float]:
    """Mean loss and accuracy over ``data_iter`` in eval mode, one forward pass per batch.

    ``tta=True`` (test-time augmentation) averages the logits of each image and its mirror
    image, which costs a second forward pass.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for X, y in data_iter:
        X, y = to_device(X, device, channels_last), y.to(device, non_blocking=True)
        with autocast(device, dtype):
            y_hat = net(X)
            if tta:
                y_hat = (y_hat + net(X.flip(-1))) / 2
            loss = loss_fn(y_hat, y)
        loss_sum += loss.float() * len(y)
        correct += num_correct(y_hat, y)
        n += len(y)
    loss_sum, correct, n = dist.sum_over_processes(loss_sum, correct,
                                                   torch.tensor(n, device=device))
    return loss_sum.item() / n.item(), correct.item() / n.item()


def _progress(iterable, enabled: bool, desc: str):
    """A tqdm bar (notebook-aware) when asked for; the plain iterable otherwise."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=False, total=len(iterable))


def set_epoch(loader, epoch: int) -> None:
    """Tell a loader which epoch comes next, so that its order is a function of (seed, epoch).

    Our loaders have ``set_epoch``, as has PyTorch's ``DistributedSampler`` inside a
    DataLoader; any other iterable is left alone.
    """
    for obj in (loader, getattr(loader, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
            return


def check_batches(net: nn.Module, loader) -> None:
    """Check the loader's batch shapes against ``net`` before any work, when it can tell them
    (our loaders have ``batch_shapes()``); see :func:`d2lnotes.models.check_input`."""
    for shape in getattr(loader, "batch_shapes", lambda: [])():
        check_input(net, shape)


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float | None,
              device: torch.device | str, *, init: bool = True, verbose: bool = True,
              optimizer: torch.optim.Optimizer | None = None, amp: bool | None = None,
              channels_last: bool | None = None, compile: bool = False,
              progress: bool = False, on_epoch_end=None,
              recipe: Recipe | str | None = None, checkpoint_dir=None, resume: bool = False,
              record: dict | None = None, should_stop=None) -> pd.DataFrame:
    """Train ``net`` with SGD and cross-entropy, evaluate after every epoch (the notes' API).

    Returns a DataFrame with the notes' columns ``epoch, train_loss_all, val_loss_all,
    train_acc_all, val_acc_all`` plus ``seconds`` (wall-clock of that epoch's training and
    evaluation). Beyond the notes' arguments, all optional:

    * ``lr=None`` takes the recipe's learning rate;
    * ``init=False`` keeps the current weights instead of the notes' Xavier initialization;
    * ``verbose=False`` silences the per-epoch lines, ``progress=True`` adds tqdm bars;
    * ``recipe``: a :class:`~d2lnotes.recipe.Recipe` or its name (``"seed"``, the default, or
      ``"improved"``); ``optimizer`` replaces the recipe's SGD;
    * ``amp``: mixed precision, ``None`` = automatic (:func:`d2lnotes.device.amp_dtype`);
    * ``channels_last``: NHWC memory layout, faster for convolutions on GPUs with tensor cores;
      ``None`` = on for CUDA, off on CPUs;
    * ``compile=True`` runs the model through ``torch.compile`` (slow to start, faster after);
    * ``on_epoch_end(history)`` is called with the DataFrame so far after every epoch;
    * ``checkpoint_dir``: before the first epoch and after every epoch, save everything needed
      to continue to ``checkpoint_dir/checkpoint-epochNNNN.pt``, atomically (the two newest are
      kept), and, with a ``record`` dict, that record with the history so far to
      ``checkpoint_dir/record.json``. With ``resume=True`` training continues after the
      newest checkpoint and ends with the same history as a run that was never stopped;
    * ``should_stop()``: asked after every step; True ends training with
      :class:`TrainingInterrupted` (the command line's Ctrl-C and SIGTERM use it).

    Each epoch's data order is a function of the loader's seed and the epoch (``set_epoch``),
    so two calls on the same loaders see the same batches. The validation loss is always plain
    cross-entropy (no label smoothing), so that it means the same in every recipe. A loss that
    becomes NaN or infinite stops training with a ``FloatingPointError`` naming the epoch,
    step and learning rate; the last checkpoint is then the last good state.
    """
    recipe = get_recipe(recipe)
    lr = recipe.lr if lr is None else lr
    if not (isinstance(num_epochs, int) and num_epochs >= 1):
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    device = torch.device(device)
    check_batches(net, train_iter)
    if init:
        net.apply(init_weights)
    dtype = amp_dtype(device, amp)
    channels_last = default_channels_last(device) if channels_last is None else channels_last
    rank = dist.world().rank
    verbose = verbose and rank == 0  # one voice for all processes
    say = print if verbose else (lambda *a, **k: None)
    say("training on", device, f"({precision_name(dtype)}"
        f"{', channels_last' if channels_last else ''}{', compiled' if compile else ''})"
        + ("" if recipe == get_recipe("seed") else f", {recipe.describe()}"))
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    model = dist.wrap(net, device)
    model = torch.compile(model) if compile else model
    optimizer = optimizer or make_optimizer(net, recipe, lr)
    scheduler = make_scheduler(optimizer, recipe, lr, num_epochs * len(train_iter))
    scaler = grad_scaler(device, dtype)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    generator = None
    if recipe.augment:  # its own stream, seeded from torch's, so torch.manual_seed fixes it;
        generator = torch.Generator(device=device)  # each data-parallel process its own draws
        generator.manual_seed(draw_seed() + rank)
    ema = None
    if recipe.ema:
        decay = 1 - 1 / max(1.0, recipe.ema * len(train_iter))
        ema = torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)
    checkpoints, rows, start = None, [], 0
    if checkpoint_dir is not None:
        checkpoints = Checkpoints(
            checkpoint_dir, {"model": net, "optimizer": optimizer, "scheduler": scheduler,
                             "scaler": scaler, "ema": ema}, {"augment": generator},
            {"num_epochs": num_epochs, "lr": lr, "recipe": recipe.describe(),
             "precision": precision_name(dtype), "world_size": dist.world().size}, record)
        rows, start = checkpoints.start(resume, device, say)
    timer = Timer()
    try:
        for epoch in range(start, num_epochs):
            timer.start()
            set_epoch(train_iter, epoch)
            train_loss, train_acc = train_epoch(
                model, train_iter, loss_fn, optimizer, device, dtype=dtype, scaler=scaler,
                channels_last=channels_last, scheduler=scheduler, augment=recipe.augment,
                generator=generator, ema=ema, should_stop=should_stop, progress=progress,
                desc=f"epoch {epoch + 1}/{num_epochs}", epoch=epoch)
            val_loss, val_acc = evaluate_loss_accuracy(
                ema if ema is not None else model, test_iter, nn.CrossEntropyLoss(), device,
                dtype=dtype, channels_last=channels_last, tta=recipe.tta)
            rows.append([epoch, train_loss, val_loss, train_acc, val_acc, timer.stop()])
            if checkpoints is not None:
                checkpoints.save(epoch + 1, rows)
            say(f"{epoch} train loss:{train_loss:.4f} train acc: {train_acc:.4f}")
            say(f"{epoch} val loss:{val_loss:.4f} val acc: {val_acc:.4f}")
            total = timer.sum()
            say(f"time for training and validation {total // 60:.0f}m{total % 60:.0f}s")
            if on_epoch_end is not None and rank == 0:
                on_epoch_end(pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    except TrainingInterrupted as stop:
        stop.checkpoint = checkpoints.last if checkpoints is not None else None
        raise
    if ema is not None:  # hand back the weights that were evaluated
        net.load_state_dict(ema.module.state_dict())
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def measure_throughput(net: nn.Module, train_iter, device: torch.device | str, *,
                       steps: int = 20, warmup: int = 3, lr: float = 0.05,
                       amp: bool | None = None, channels_last: bool | None = None) -> float:
    """Training images per second over ``steps`` SGD steps, after ``warmup`` untimed ones.

    Trains ``net`` in place (so pass a fresh copy); synchronizes the GPU before reading the
    clock, so the number is honest for asynchronous devices.
    """
    device = torch.device(device)
    dtype = amp_dtype(device, amp)
    channels_last = default_channels_last(device) if channels_last is None else channels_last
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    kw = dict(dtype=dtype, scaler=grad_scaler(device, dtype), channels_last=channels_last)
    batches = itertools.chain.from_iterable(itertools.repeat(train_iter))
    loss_fn = nn.CrossEntropyLoss()
    train_epoch(net, itertools.islice(batches, warmup), loss_fn, optimizer, device, **kw)
    counted = []

    def timed():
        for X, y in itertools.islice(batches, steps):
            counted.append(len(y))
            yield X, y

    synchronize(device)
    start = time.perf_counter()
    train_epoch(net, timed(), loss_fn, optimizer, device, **kw)  # one host sync, at the end
    synchronize(device)
    return sum(counted) / (time.perf_counter() - start)
