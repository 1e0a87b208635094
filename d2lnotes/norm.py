"""Layer and group normalization from scratch, with PyTorch's exact semantics.

Batch normalization averages over the batch, so its statistics are only as good as the batch is
large. Layer normalization (Ba et al., 2016) averages over each example's own features instead,
and group normalization (Wu & He, 2018) over groups of each example's channels: neither looks
at the other examples, so both behave the same in training and prediction, keep no running
statistics, and work at a batch of one. ``GroupNorm(1, C)`` normalizes over all of an
example's channels and positions (LayerNorm over (C, H, W) with per-channel affine), and
``GroupNorm(C, C)`` over each channel alone (InstanceNorm).

``GhostBatchNorm2d`` goes the other way: it keeps batch normalization but computes the training
statistics over groups of ``group`` examples of each batch ("ghost" batches, Hoffer et al.,
2017), which is what data-parallel training without SyncBN does with ``group`` examples per
device. It lets one machine measure BN at a small per-device batch while SGD's batch stays
the same.

Same parameter names (``weight``, ``bias``) and shapes as ``nn.LayerNorm``/``nn.GroupNorm``, so
state dicts load both ways; tested against PyTorch in ``tests/test_norm.py``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def _standardize(X, dims, eps):
    """(X - mean) / sqrt(var + eps) over ``dims``, with the biased variance (as BN, LN, GN)."""
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
    return (X - mean) / torch.sqrt(var + eps)


def layer_norm(X, normalized_shape, weight, bias, eps):
    """Normalize each example over its last ``len(normalized_shape)`` axes, then scale and
    shift elementwise (``weight``/``bias`` have ``normalized_shape``; None means no affine)."""
    dims = list(range(X.dim() - len(normalized_shape), X.dim()))
    Y = _standardize(X, dims, eps)
    if weight is not None:
        Y = Y * weight + bias
    return Y


def group_norm(X, num_groups, weight, bias, eps):
    """Normalize each example over groups of ``C / num_groups`` channels (and all positions),
    then scale and shift per channel."""
    N, C = X.shape[:2]
    Y = _standardize(X.reshape(N, num_groups, -1), [2], eps).reshape(X.shape)
    if weight is not None:
        shape = (1, C) + (1,) * (X.dim() - 2)
        Y = Y * weight.view(shape) + bias.view(shape)
    return Y


class LayerNorm(nn.Module):
    """A drop-in for ``nn.LayerNorm(normalized_shape, eps, elementwise_affine)``."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True):
        super().__init__()
        shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                 else tuple(normalized_shape))
        if not shape or any(not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"normalized_shape must be positive integers, got "
                             f"{normalized_shape!r}")
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(shape))
            self.bias = nn.Parameter(torch.zeros(shape))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, X):
        k = len(self.normalized_shape)
        if X.dim() < k or tuple(X.shape[X.dim() - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm{self.normalized_shape} normalizes the last axes of "
                             f"its input, which must have shape {self.normalized_shape}; got "
                             f"input of shape {tuple(X.shape)}")
        return layer_norm(X, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(nn.Module):
    """A drop-in for ``nn.GroupNorm(num_groups, num_channels, eps, affine)``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True):
        super().__init__()
        if num_groups < 1 or num_channels < 1:
            raise ValueError(f"num_groups and num_channels must be positive, got "
                             f"{num_groups} and {num_channels}")
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be a positive multiple of "
                             f"num_groups ({num_groups}): each group holds the same number of "
                             f"channels; try one of {_divisors(num_channels)}")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, X):
        if X.dim() < 2 or X.shape[1] != self.num_channels or X.numel() == 0:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects an "
                             f"input of shape (N, {self.num_channels}, ...); got "
                             f"{tuple(X.shape)}")
        return group_norm(X, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


def ghost_batch_norm(X, group, weight, bias, running_mean, running_var,
                     momentum, eps):
    """Training-mode BN of (N, C, H, W) `X`, each group of `group` examples
    normalized with its own statistics."""
    N, C, H, W = X.shape
    G = X.reshape(N // group, group, C, H, W)
    mean = G.mean(dim=(1, 3, 4), keepdim=True)
    var = ((G - mean) ** 2).mean(dim=(1, 3, 4), keepdim=True)
    Y = ((G - mean) / torch.sqrt(var + eps)).reshape(X.shape)
    with torch.no_grad():  # running averages of the groups' statistics
        n = group * H * W
        running_mean.lerp_(mean.mean(dim=0).flatten(), momentum)
        running_var.lerp_(var.mean(dim=0).flatten() * n / (n - 1), momentum)
    return Y * weight.view(1, C, 1, 1) + bias.view(1, C, 1, 1)


class GhostBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training statistics come from each group of ``group``
    consecutive examples of the batch; prediction mode (running averages) is unchanged.

    With ``group`` equal to the batch size it is ``nn.BatchNorm2d`` exactly (outputs,
    gradients, running statistics; same state dict). The running averages take the mean of
    the groups' statistics, so the prediction-mode statistics are as good at every ``group``
    and only training sees the small-group noise."""

    def __init__(self, num_features: int, group: int, eps: float = 1e-5,
                 momentum: float = 0.1):
        if not (isinstance(group, int) and group >= 1):
            raise ValueError(f"group must be a positive number of examples, got {group!r}")
        super().__init__(num_features, eps, momentum)
        self.group = group

    def forward(self, X):
        if not self.training:
            return super().forward(X)
        if X.dim() != 4 or X.shape[1] != self.num_features:
            raise ValueError(f"GhostBatchNorm2d({self.num_features}) expects an input of shape "
                             f"(N, {self.num_features}, H, W); got {tuple(X.shape)}")
        N, _, H, W = X.shape
        if N % self.group:
            raise ValueError(f"a batch of {N} examples cannot be split into groups of "
                             f"{self.group}: use a batch size that is a multiple of "
                             f"{self.group} (or drop the last, smaller batch)")
        if self.group * H * W < 2:
            raise ValueError(f"batch normalization in training mode needs more than one value "
                             f"per channel, but groups of {self.group} example(s) of {H}x{W} "
                             f"maps leave one")
        self.num_batches_tracked.add_(1)
        return ghost_batch_norm(X, self.group, self.weight, self.bias, self.running_mean,
                                self.running_var, self.momentum, self.eps)

    def extra_repr(self):
        return f"{super().extra_repr()}, group={self.group}"


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def groups_for(num_channels: int, max_groups: int = 32) -> int:
    """The most groups, at most ``max_groups``, that divide ``num_channels`` evenly (Wu & He
    use 32; a narrow layer gets fewer)."""
    if num_channels < 1 or max_groups < 1:
        raise ValueError(f"num_channels and max_groups must be positive, got {num_channels} "
                         f"and {max_groups}")
    return max(d for d in _divisors(num_channels) if d <= max_groups)

