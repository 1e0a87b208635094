"""Recipes: everything about a training run that is neither the model nor the data.

The notes train with plain SGD at a constant learning rate, Xavier-initialized, with nothing
else; that is the ``"seed"`` recipe. The ``"improved"`` recipe adds the fixes that the chapter
"Fixing the overfitting" measures one at a time: momentum, a one-cycle schedule, weight decay
(not on BN), label smoothing, augmentation on the device and test-time flips.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

SCHEDULES = ("constant", "onecycle", "cosine")


def init_weights(m: nn.Module) -> None:
    """The notes' initialization: Xavier-uniform weights for every Linear and Conv2d."""
    if type(m) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)


@dataclasses.dataclass(frozen=True)
class Augment:
    """Per-sample random crop (with zero padding), horizontal flip and random erasing.

    Applied to whole batches on the device, after resizing, so it costs a few tensor ops per
    batch instead of per-image Python. Every sample gets its own crop offset, its own coin for
    the flip and its own erased rectangle; labels are untouched (the batch keeps its order).
    ``generator`` makes the draws reproducible; it must live on the batch's device.
    """

    crop: int = 0  # padding in px of the 28x28 original, scaled with the resize (4: 32 at 224)
    flip: bool = False  # mirror left-right with probability 1/2: garments are symmetric enough
    erase: float = 0.0  # probability of replacing a random rectangle with noise

    def __post_init__(self):
        if not (isinstance(self.crop, int) and self.crop >= 0):
            raise ValueError(f"crop padding must be a whole number of pixels >= 0, "
                             f"got {self.crop!r}")
        if not 0.0 <= self.erase <= 1.0:
            raise ValueError(f"erase is a probability in [0, 1], got {self.erase!r}")

    def __bool__(self) -> bool:
        return bool(self.crop or self.flip or self.erase)

    def __call__(self, X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if X.dim() != 4:
            raise ValueError(f"Augment expects a batch of shape (n, c, h, w), got {tuple(X.shape)}")
        if self.crop:
            X = random_crop(X, max(1, round(self.crop * X.shape[-1] / 28)), generator)
        if self.flip:
            X = random_flip(X, generator)
        if self.erase:
            X = random_erasing(X, self.erase, generator)
        return X


def random_crop(X: torch.Tensor, padding: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad every image by ``padding`` zeros and cut a random window of the original size.

    One gather for the whole batch: row and column indices are offset per sample.
    """
    n, c, h, w = X.shape
    padded = F.pad(X, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), device=X.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), device=X.device, generator=generator)
    rows = (dy + torch.arange(h, device=X.device))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx + torch.arange(w, device=X.device))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=X.device)[:, None, None, None]
    channel = torch.arange(c, device=X.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_flip(X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    coin = torch.rand(len(X), device=X.device, generator=generator) < 0.5
    return torch.where(coin[:, None, None, None], X.flip(-1), X)


def random_erasing(X: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None, *,
                   scale: tuple[float, float] = (0.02, 0.33),
                   ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): with probability ``p`` replace a random rectangle
    of each image with uniform noise.

    The rectangle covers a fraction of the image drawn from ``scale``, with aspect ratio drawn
    log-uniformly from ``ratio``; it is clipped to fit. The network must then recognize a
    garment from its parts, which is what a model that has memorised whole images cannot do.
    """
    n, c, h, w = X.shape
    dev = X.device
    rand = lambda *shape: torch.rand(*shape, device=dev, generator=generator)  # noqa: E731
    area = (scale[0] + (scale[1] - scale[0]) * rand(n)) * h * w
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * rand(n)
    eh = (area * log_r.exp()).sqrt().round().clamp(1, h).long()
    ew = (area / log_r.exp()).sqrt().round().clamp(1, w).long()
    top = (rand(n) * (h - eh + 1)).floor().long()
    left = (rand(n) * (w - ew + 1)).floor().long()
    r = torch.arange(h, device=dev)[None, :, None]
    q = torch.arange(w, device=dev)[None, None, :]
    box = ((r >= top[:, None, None]) & (r < (top + eh)[:, None, None])
           & (q >= left[:, None, None]) & (q < (left + ew)[:, None, None]))
    box &= (rand(n) < p)[:, None, None]
    noise = rand(n, c, h, w).to(X.dtype)
    return torch.where(box[:, None], noise, X)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe. Every field at its default is the notes' own: plain SGD, lr 0.05."""

    name: str = "seed"
    lr: float = 0.05  # peak learning rate: the one source of a run's default rate
    momentum: float = 0.0  # SGD momentum; at a fixed lr, 0.9 makes the effective step 10x
    nesterov: bool = False  # Nesterov's look-ahead form of momentum
    weight_decay: float = 0.0  # L2 on conv/linear weights only, never BN or biases (param_groups)
    label_smoothing: float = 0.0  # soft targets: stop pushing logits to infinity on known images
    schedule: str = "constant"  # "constant", "onecycle" or "cosine", stepped every batch
    warmup: float = 0.0  # fraction of the steps spent warming up (onecycle: 0 means 0.25)
    augment: Augment = dataclasses.field(default_factory=Augment)  # on the device, per sample
    ema: float = 0.0  # evaluate an average of the weights over this many epochs (0: off)
    tta: bool = False  # test-time augmentation: average the logits of an image and its mirror

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        checks = [("lr", math.isfinite(self.lr) and self.lr > 0),
                  ("momentum", 0 <= self.momentum < 1),
                  ("weight_decay", self.weight_decay >= 0),
                  ("label_smoothing", 0 <= self.label_smoothing < 1),
                  ("warmup", 0 <= self.warmup < 1), ("ema", self.ema >= 0)]
        for field, ok in checks:
            if not ok:
                raise ValueError(f"recipe {self.name!r}: bad {field} {getattr(self, field)!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"recipe {self.name!r}: nesterov needs a momentum > 0")

    def describe(self) -> str:
        """One line listing what differs from the notes' recipe."""
        seed = Recipe()
        parts = [f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self)
                 if f.name != "name" and getattr(self, f.name) != getattr(seed, f.name)]
        return f"recipe {self.name}: " + (", ".join(parts) if parts else "plain SGD, constant lr")


RECIPES: dict[str, Recipe] = {
    "seed": Recipe("seed"),
    "improved": Recipe("improved", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                       label_smoothing=0.1, schedule="onecycle",
                       augment=Augment(crop=2, flip=True, erase=0.25), tta=True),
}


def get_recipe(recipe: Recipe | str | None) -> Recipe:
    """A :class:`Recipe` from itself, its name in :data:`RECIPES`, or None (the notes')."""
    if recipe is None:
        return RECIPES["seed"]
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; valid recipes: {', '.join(RECIPES)}")
    return RECIPES[recipe]


def recipe_from_dict(fields: dict) -> Recipe:
    """The :class:`Recipe` that ``dataclasses.asdict(recipe)`` came from (run records)."""
    fields = dict(fields)
    fields["augment"] = Augment(**fields["augment"])
    return Recipe(**fields)


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


def make_optimizer(net: nn.Module, recipe: Recipe, lr: float) -> torch.optim.SGD:
    """The recipe's SGD: its momentum, and weight decay only where :func:`param_groups` says."""
    params = param_groups(net, recipe.weight_decay) if recipe.weight_decay else net.parameters()
    return torch.optim.SGD(params, lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, lr: float,
                   total_steps: int):
    """The recipe's per-batch learning-rate schedule, or None for a constant rate.

    ``onecycle`` is PyTorch's one-cycle policy (warm up to ``lr``, then cosine down to ~0);
    ``cosine`` is a linear warm-up over ``warmup`` of the steps followed by a cosine to 0.
    """
    if recipe.schedule == "constant":
        return None
    if recipe.schedule == "onecycle":
        if total_steps < 4:
            raise ValueError(f"the one-cycle schedule needs at least 4 steps (warm-up and "
                             f"annealing), this run has {total_steps}: train on more images "
                             f"or epochs, or use a constant schedule")
        # at least two warm-up steps: PyTorch divides by the warm-up length minus one
        warm = max(recipe.warmup or 0.25, 2 / total_steps)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps, pct_start=warm, cycle_momentum=False)
    warm = max(1, round(recipe.warmup * total_steps))
    sched = torch.optim.lr_scheduler
    return sched.SequentialLR(optimizer, [
        sched.LinearLR(optimizer, start_factor=1 / warm, total_iters=max(1, warm - 1)),
        sched.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warm))], milestones=[warm])
