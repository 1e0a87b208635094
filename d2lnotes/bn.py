"""Batch normalization from scratch, with PyTorch's exact semantics.

d2l's from-scratch version teaches the formula but differs from ``nn.BatchNorm2d`` in three ways
that bite: it picks training or prediction mode from ``torch.is_grad_enabled()`` instead of
``module.train()``/``eval()``; it updates the running variance with the *biased* batch variance;
and its running statistics are plain attributes, missing from ``state_dict``. This version
matches PyTorch (tested to 1e-5 in ``tests/test_bn.py``), so a ``state_dict`` loads both ways.

``batch_norm`` and ``BatchNorm`` are also written out in the notebook "Batch normalization from
scratch"; a test keeps the two copies the same.
"""
from __future__ import annotations

import torch
from torch import nn


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Normalize X per feature (2D input) or per channel (3D/4D), then scale and shift.

    Training: normalize with the batch mean and the *biased* batch variance, and return running
    statistics updated with weight ``momentum`` on the new value, using the *unbiased* variance.
    Prediction: normalize with the running statistics, which are returned unchanged.
    """
    shape = (1, -1) + (1,) * (X.dim() - 2)  # broadcast per feature / per channel
    if not training:
        X_hat = (X - moving_mean.view(shape)) / torch.sqrt(moving_var.view(shape) + eps)
    else:
        dims = [0] + list(range(2, X.dim()))  # every axis but the channel axis
        n = X.numel() // X.shape[1]  # values averaged per channel
        if n < 2:
            raise ValueError(
                f"batch norm in training mode needs more than 1 value per channel, got input "
                f"of shape {tuple(X.shape)}: use a batch of at least 2 examples, or call "
                f".eval() to normalize with the running statistics")
        mean = X.mean(dim=dims)
        var = ((X - mean.view(shape)) ** 2).mean(dim=dims)  # biased: what we normalize with
        X_hat = (X - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
        with torch.no_grad():
            moving_mean = (1 - momentum) * moving_mean + momentum * mean
            moving_var = (1 - momentum) * moving_var + momentum * var * n / (n - 1)  # unbiased
    Y = gamma.view(shape) * X_hat + beta.view(shape)
    return Y, moving_mean, moving_var


class BatchNorm(nn.Module):
    """A drop-in for ``nn.BatchNorm1d`` (``num_dims=2`` or 3) and ``nn.BatchNorm2d`` (4).

    Same parameter and buffer names and shapes (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``num_batches_tracked``), so state dicts load both ways and ``.to(device)``
    moves everything. ``momentum=None`` gives a cumulative average, as in PyTorch.
    """

    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.1):
        super().__init__()
        if num_dims not in (2, 3, 4):
            raise ValueError(f"num_dims must be 2 or 3 (fully connected) or 4 (convolutional), "
                             f"got {num_dims}")
        self.num_features, self.num_dims = num_features, num_dims
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))  # gamma
        self.bias = nn.Parameter(torch.zeros(num_features))  # beta
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, X):
        if X.dim() != self.num_dims or X.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm(num_features={self.num_features}, num_dims={self.num_dims}) expected "
                f"a {self.num_dims}D input with {self.num_features} channels at dim 1, got shape "
                f"{tuple(X.shape)}")
        momentum = 0.0
        if self.training:
            self.num_batches_tracked += 1
            momentum = (1.0 / self.num_batches_tracked.item() if self.momentum is None
                        else self.momentum)
        Y, mean, var = batch_norm(X, self.weight, self.bias, self.running_mean,
                                  self.running_var, self.eps, momentum, self.training)
        if self.training:
            self.running_mean.copy_(mean)
            self.running_var.copy_(var)
        return Y

    def extra_repr(self):
        return (f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
                f"momentum={self.momentum}")
