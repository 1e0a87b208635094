"""Training with the seed's API (``train_ch6``, ``Timer``, ``Accumulator``, ``try_gpu``).

The names and the returned DataFrame are the seed's, so its code runs unchanged; the inside
avoids its costs. The seed converts tensors to Python floats several times per batch, and
every conversion makes the CPU wait for the GPU; here the running sums stay on the device and
are read once per epoch. The seed's evaluation runs the network twice per batch (once for the
loss, once for the accuracy); here it runs once.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import Augment
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


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything about a training run that is neither the model nor the data.

    The seed's recipe is plain SGD at a constant learning rate with nothing else: every field
    at its default. Each field is one measured change in the chapter "Fixing the overfitting":

    * ``momentum``/``nesterov``: SGD with (Nesterov) momentum;
    * ``weight_decay``: L2 decay on conv and linear weights only; BN's scale and shift and all
      biases are left alone (decaying them only fights the normalisation, see
      :func:`param_groups`);
    * ``label_smoothing``: cross-entropy against 0.9/0.1-style soft targets, so that the net
      stops pushing its logits to infinity on training images it already gets right;
    * ``schedule``: ``"constant"``, ``"onecycle"`` (warm up, then cosine down to ~0) or
      ``"cosine"`` (linear warm-up over ``warmup`` of the steps, then cosine), stepped per batch;
    * ``augment``: per-sample crop, flip and erasing on the device (:class:`~d2lnotes.data.Augment`);
    * ``ema``: evaluate an exponential moving average of the weights, with a time constant of
      ``ema`` epochs (0 = off); ``train_ch6`` then leaves the averaged weights in the net;
    * ``tta``: test-time augmentation: average the logits of each test image and its mirror.
    * ``lr``: the peak learning rate this recipe was tuned for (``train_ch6`` uses the ``lr``
      it is given; the CLI and the notebook pass this one).
    """

    name: str = "seed"
    lr: float = 0.05
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup: float = 0.0
    augment: Augment = dataclasses.field(default_factory=Augment)
    ema: float = 0.0
    tta: bool = False

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        checks = [("lr", self.lr > 0), ("momentum", 0 <= self.momentum < 1),
                  ("weight_decay", self.weight_decay >= 0),
                  ("label_smoothing", 0 <= self.label_smoothing < 1),
                  ("warmup", 0 <= self.warmup < 1), ("ema", self.ema >= 0)]
        for field, ok in checks:
            if not ok:
                raise ValueError(f"recipe {self.name!r}: bad {field} {getattr(self, field)!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"recipe {self.name!r}: nesterov needs a momentum > 0")

    def describe(self) -> str:
        """One line listing what differs from the seed's recipe."""
        seed = Recipe()
        parts = [f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self)
                 if f.name != "name" and getattr(self, f.name) != getattr(seed, f.name)]
        return f"recipe {self.name}: " + (", ".join(parts) if parts else "plain SGD, constant lr")


SCHEDULES = ("constant", "onecycle", "cosine")
RECIPES: dict[str, Recipe] = {
    "seed": Recipe("seed"),
    "improved": Recipe("improved", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                       label_smoothing=0.1, schedule="onecycle",
                       augment=Augment(crop=2, flip=True, erase=0.25), tta=True),
}


def get_recipe(recipe: Recipe | str | None) -> Recipe:
    """A :class:`Recipe` from itself, its name in :data:`RECIPES`, or None (the seed's)."""
    if recipe is None:
        return RECIPES["seed"]
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; valid recipes: {', '.join(RECIPES)}")
    return RECIPES[recipe]


def param_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer groups: conv/linear weights decay, BN parameters and biases do not.

    A weight in front of a BN layer is scale-free (BN divides its scale out), so decaying it
    only raises its effective learning rate; decaying BN's gamma and beta or a bias, on the
    other hand, pulls the layer's output scale and offset towards zero for no benefit. Tensors
    with one dimension are exactly BN's parameters and the biases.
    """
    decay = [p for p in net.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, lr: float,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The recipe's per-batch learning-rate schedule, or None for a constant rate."""
    if recipe.schedule == "constant":
        return None
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps, pct_start=recipe.warmup or 0.25,
            cycle_momentum=False)
    warm = max(1, round(recipe.warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def amp_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for full float32.

    ``amp=None`` (auto) turns mixed precision on where it measures faster for ResNet-18:
    on CUDA, bfloat16 where the GPU supports it (Ampere and newer) and float16 with a gradient
    scaler on older GPUs such as Colab's T4; on a CPU, bfloat16 autocast only when the CPU has
    native bfloat16 instructions (AVX-512 BF16 or AMX; see :func:`cpu_has_native_bf16`). On
    such a CPU it made a ResNet-18 epoch at 64 px 1.55x faster with the same accuracy over
    3 seeds (``benchmarks/cpu_bf16_accuracy.py``); on other CPUs bfloat16 is emulated and
    slower. Small networks such as LeNet gain nothing (it measured slower), so the notebooks
    that train them pass ``amp=False``. ``amp=True`` forces it on (bfloat16 on a CPU).
    """
    device = torch.device(device)
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp is None and not (device.type == "cpu" and cpu_has_native_bf16()):
        return None
    return torch.bfloat16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX tiles)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def train_epoch(net: nn.Module, train_iter, loss_fn, optimizer: torch.optim.Optimizer,
                device: torch.device, *, dtype: torch.dtype | None = None,
                scaler: torch.amp.GradScaler | None = None, channels_last: bool = False,
                progress: bool = False, desc: str = "train", scheduler=None,
                augment: Augment | None = None, generator: torch.Generator | None = None,
                ema: torch.optim.swa_utils.AveragedModel | None = None,
                should_stop=None, epoch: int = 0) -> tuple[float, float]:
    """One pass over ``train_iter``; returns mean loss and accuracy, synchronising once.

    Optional per-batch extras: ``augment`` the batch on the device (drawing from
    ``generator``), step the learning-rate ``scheduler``, update the ``ema`` of the weights.
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
        X = _to(X, device, channels_last)
        lrs.append(optimizer.param_groups[0]["lr"])
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
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(net)
        loss = loss.detach().float()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        loss_sum += loss * len(y)
        correct += _correct(y_hat.detach(), y)
        n += len(y)
        if should_stop is not None and _agree_to_stop(should_stop, step):
            raise TrainingInterrupted(epoch, step + 1, steps)
    if distributed()[1] > 1:  # every process learns of a NaN anywhere, and stops with the rest
        torch.distributed.all_reduce(first_bad, op=torch.distributed.ReduceOp.MAX)
    bad = int(first_bad.item())
    if bad >= 0:
        raise FloatingPointError(
            f"training diverged: the loss became NaN or infinite in epoch {epoch + 1}, step "
            f"{bad + 1}{f' of {steps}' if steps else ''}, at learning rate {lrs[bad]:g}; "
            f"try a smaller learning rate")
    loss_sum, correct, n = _sum_over_processes(loss_sum, correct,
                                               torch.tensor(n, device=device))
    return loss_sum.item() / n.item(), correct.item() / n.item()


def _agree_to_stop(should_stop, step: int, every: int = 10) -> bool:
    """One process alone must not stop (the others would wait for it forever): with several
    processes, they compare their stop requests every ``every`` steps and stop together."""
    world = distributed()[1]
    if world == 1:
        return bool(should_stop())
    if (step + 1) % every:
        return False
    flag = torch.tensor(float(bool(should_stop())), device=_collective_device())
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def _collective_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request (Ctrl-C, SIGTERM) after a complete step.

    A ``KeyboardInterrupt``, so code that handles Ctrl-C handles this too. ``checkpoint`` is
    the file to resume from (set by ``train_ch6`` when it keeps checkpoints).
    """

    def __init__(self, epoch: int, step: int, steps: int | None, checkpoint=None):
        self.epoch, self.step, self.steps, self.checkpoint = epoch, step, steps, checkpoint
        super().__init__(f"interrupted in epoch {epoch + 1} after step {step}"
                         + (f" of {steps}" if steps else ""))


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
        X, y = _to(X, device, channels_last), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            y_hat = net(X)
            if tta:
                y_hat = (y_hat + net(X.flip(-1))) / 2
            loss = loss_fn(y_hat, y)
        loss_sum += loss.float() * len(y)
        correct += _correct(y_hat, y)
        n += len(y)
    loss_sum, correct, n = _sum_over_processes(loss_sum, correct,
                                               torch.tensor(n, device=device))
    return loss_sum.item() / n.item(), correct.item() / n.item()


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless torch.distributed is initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _sum_over_processes(*values: torch.Tensor) -> list[torch.Tensor]:
    """All-reduce (sum) a few scalars across data-parallel processes in one collective."""
    if distributed()[1] == 1:
        return list(values)
    stacked = torch.stack([v.double() for v in values])
    torch.distributed.all_reduce(stacked)
    return list(stacked.unbind())


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
              progress: bool = False, on_epoch_end=None,
              recipe: Recipe | str | None = None, checkpoint_dir=None, resume: bool = False,
              should_stop=None) -> pd.DataFrame:
    """Train ``net`` with SGD and cross-entropy, evaluate after every epoch (the seed's API).

    Returns a DataFrame with the seed's columns ``epoch, train_loss_all, val_loss_all,
    train_acc_all, val_acc_all`` plus ``seconds`` (wall-clock of that epoch's training and
    evaluation). Beyond the seed's arguments, all optional:

    * ``init=False`` keeps the current weights instead of the seed's Xavier initialisation;
    * ``verbose=False`` silences the per-epoch lines, ``progress=True`` adds tqdm bars;
    * ``recipe``: a :class:`Recipe` or its name (``"seed"``, the default, or ``"improved"``):
      momentum, weight decay, label smoothing, schedule, augmentation, EMA, test-time flips.
      ``lr`` is the recipe's peak learning rate;
    * ``optimizer`` replaces the recipe's SGD;
    * ``amp``: mixed precision, ``None`` = automatic (see :func:`amp_dtype`), True or False;
    * ``channels_last``: NHWC memory layout, faster for convolutions on GPUs with tensor cores;
      ``None`` = on for CUDA, off on CPUs;
    * ``compile=True`` runs the model through ``torch.compile`` (slow to start, faster after);
    * ``on_epoch_end(history)`` is called with the DataFrame so far after every epoch;
    * ``checkpoint_dir``: after every epoch (and once before the first), save everything needed
      to continue (weights, optimizer, schedule, scaler, EMA, every random state including the
      data order, the history) to ``checkpoint_dir/checkpoint-epochNNNN.pt``, atomically; the
      two newest are kept. With ``resume=True`` training continues after the newest
      checkpoint's epoch and ends with the same history as a run that was never stopped;
    * ``should_stop()``: asked after every step; True ends training with
      :class:`TrainingInterrupted` (the command line's Ctrl-C and SIGTERM use it).

    The validation loss is always plain cross-entropy (no label smoothing), so that it means
    the same thing in every recipe. Before any work, the first and last batch shapes are
    checked against the network (:func:`d2lnotes.models.check_input`). A loss that becomes NaN
    or infinite stops training with a ``FloatingPointError`` naming the epoch, step and
    learning rate; the last checkpoint is then the last good state.
    """
    from .data import loader_batch_shapes
    from .models import check_input

    if not (isinstance(num_epochs, int) and num_epochs >= 1):
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    recipe = get_recipe(recipe)
    device = torch.device(device)
    for shape in loader_batch_shapes(train_iter):
        check_input(net, shape)
    if init:
        net.apply(init_weights)
    dtype = amp_dtype(device, amp)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    verbose = verbose and distributed()[0] == 0  # one voice for all processes
    if verbose:
        print("training on", device, f"({_precision(dtype)}"
              f"{', channels_last' if channels_last else ''}{', compiled' if compile else ''})"
              + ("" if recipe == RECIPES["seed"] else f", {recipe.describe()}"))
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    rank, world = distributed()
    model = net
    if world > 1:  # data parallel: gradients are averaged across processes in backward()
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    model = torch.compile(model) if compile else model
    if optimizer is None:
        params = param_groups(net, recipe.weight_decay) if recipe.weight_decay else net.parameters()
        optimizer = torch.optim.SGD(params, lr=lr, momentum=recipe.momentum,
                                    nesterov=recipe.nesterov)
    scheduler = make_scheduler(optimizer, recipe, lr, num_epochs * len(train_iter))
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    eval_loss_fn = nn.CrossEntropyLoss()
    generator = None
    if recipe.augment:  # its own stream, seeded from torch's, so torch.manual_seed fixes it;
        generator = torch.Generator(device=device)  # each data-parallel process its own draws
        generator.manual_seed(int(torch.randint(2**62, (1,)).item()) + rank)
    ema = None
    if recipe.ema:
        decay = 1 - 1 / max(1.0, recipe.ema * len(train_iter))
        ema = torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)
    parts = {"model": net, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler,
             "ema": ema}
    generators = {"data": _data_generator(train_iter), "augment": generator}
    meta = {"num_epochs": num_epochs, "lr": lr, "recipe": recipe.describe(),
            "precision": _precision(dtype), "world_size": world}
    rows, start_epoch, saved = [], 0, None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        existing = list_checkpoints(checkpoint_dir)
        if resume and existing:
            saved = existing[-1]
            state = load_checkpoint(saved, device)
            _check_same_run(state["meta"], meta, saved)
            _restore(state, parts, generators, device)
            rows, start_epoch = [list(r) for r in state["history"]], state["epoch"]
            if verbose:
                print(f"resuming from {saved}: {start_epoch} of {num_epochs} epochs done")
        else:
            if existing:
                raise FileExistsError(
                    f"{checkpoint_dir} already holds checkpoints of another run ({existing[-1].name}); "
                    f"resume it (resume=True, or --resume), or choose another folder")
            _barrier()  # every process has looked before the first one writes
            saved = _save(0, rows, parts, generators, meta, checkpoint_dir)
    timer = Timer()
    try:
        for epoch in range(start_epoch, num_epochs):
            timer.start()
            train_loss, train_acc = train_epoch(
                model, train_iter, loss_fn, optimizer, device, dtype=dtype, scaler=scaler,
                channels_last=channels_last, progress=progress,
                desc=f"epoch {epoch + 1}/{num_epochs}", scheduler=scheduler,
                augment=recipe.augment, generator=generator, ema=ema,
                should_stop=should_stop, epoch=epoch)
            val_loss, val_acc = evaluate_loss_accuracy(
                ema if ema is not None else model, test_iter, eval_loss_fn, device, dtype=dtype,
                channels_last=channels_last, tta=recipe.tta)
            seconds = timer.stop()
            rows.append([epoch, train_loss, val_loss, train_acc, val_acc, seconds])
            if checkpoint_dir is not None:
                saved = _save(epoch + 1, rows, parts, generators, meta, checkpoint_dir)
            if verbose:
                print(f"{epoch} train loss:{train_loss:.4f} train acc: {train_acc:.4f}")
                print(f"{epoch} val loss:{val_loss:.4f} val acc: {val_acc:.4f}")
                total = timer.sum()
                print(f"time for training and validation {total // 60:.0f}m{total % 60:.0f}s")
            if on_epoch_end is not None and distributed()[0] == 0:
                on_epoch_end(pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    except TrainingInterrupted as stop:
        stop.checkpoint = saved
        raise
    if ema is not None:  # hand back the weights that were evaluated
        net.load_state_dict(ema.module.state_dict())
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read back (truncated, corrupted, or not ours)."""


CHECKPOINT_FORMAT = 2


def _checkpoint_name(epoch: int) -> str:
    return f"checkpoint-epoch{epoch:04d}.pt"


def list_checkpoints(folder) -> list[Path]:
    """The checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    return sorted(folder.glob("checkpoint-epoch[0-9][0-9][0-9][0-9].pt")) if folder.is_dir() else []


def save_checkpoint(state: dict, folder, epoch: int, keep: int = 2) -> Path:
    """Write ``state`` atomically to ``folder/checkpoint-epochNNNN.pt``; keep the ``keep`` newest.

    Atomic: written to a temporary file, flushed and fsynced, then renamed over the final
    name, so a crash (or a full disk) at any moment leaves either the old file or the new one,
    never half of one. Older checkpoints are removed only after the new one is safely there.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _checkpoint_name(epoch)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable (POSIX); not possible on every platform
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path, device: torch.device | str = "cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``: tensors and plain data only,
    so a file from elsewhere cannot run code. Any damage raises :class:`CheckpointError`
    naming the file and the previous checkpoint, which is left in place."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not (isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT):
            raise ValueError("not a d2lnotes checkpoint (format marker missing)")
        return state
    except Exception as err:  # truncated zip, bad pickle, wrong file: all the same to a user
        others = [p for p in list_checkpoints(path.parent) if p != path]
        hint = (f"; the previous checkpoint {others[-1]} is untouched: move the damaged file "
                f"away to resume from it" if others else "")
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}{hint}") from None


def _data_generator(train_iter) -> torch.Generator | None:
    """The generator that shuffles ``train_iter`` (ours or a DataLoader's sampler's), if any."""
    g = getattr(train_iter, "generator", None)
    if g is None:
        g = getattr(getattr(train_iter, "sampler", None), "generator", None)
    return g


def _rng_states() -> dict:
    import random

    np_state = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_states(states: dict) -> None:
    import random

    python = states["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, key, *rest = states["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), *rest))
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def _random_states(generators: dict) -> dict:
    return {"rng": _rng_states(),
            "generators": {k: g.get_state() if g is not None else None
                           for k, g in generators.items()}}


def _save(epoch: int, rows: list, parts: dict, generators: dict, meta: dict, folder: Path) -> Path:
    """Save a checkpoint from process 0, with every process's random states in it."""
    rank, world = distributed()
    mine = _random_states(generators)
    ranks = [mine]
    if world > 1:
        ranks = [None] * world
        torch.distributed.all_gather_object(ranks, mine)
    path = folder / _checkpoint_name(epoch)
    if rank == 0:
        state = {"format": CHECKPOINT_FORMAT, "epoch": epoch,
                 "history": [list(r) for r in rows], "meta": meta, "ranks": ranks,
                 **{k: p.state_dict() if p is not None else None for k, p in parts.items()}}
        path = save_checkpoint(state, folder, epoch)
    _barrier()  # nobody moves on (or resumes) before the file is complete
    return path


def _barrier() -> None:
    if distributed()[1] > 1:
        torch.distributed.barrier()


def _restore(state: dict, parts: dict, generators: dict, device: torch.device) -> None:
    for key, part in parts.items():
        if part is not None:
            part.load_state_dict(state[key])
    mine = state["ranks"][distributed()[0]]
    for key, g in generators.items():
        if g is not None and mine["generators"].get(key) is not None:
            g.set_state(mine["generators"][key].cpu())
    _set_rng_states(mine["rng"])


def _check_same_run(saved: dict, now: dict, path) -> None:
    """Refuse to continue a checkpoint with other settings: the result would be neither run."""
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in now.items()
            if saved.get(k) != v]
    if diff:
        raise ValueError(f"cannot resume from {path} with different settings ("
                         + "; ".join(diff) + "); resume with the run's own settings")


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
