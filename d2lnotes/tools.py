"""The notes' own ``tools`` module, name for name: ``import d2lnotes.tools as tools``.

The notes train with ``import tools; from tools import *`` and then
``train_ch6(net, train_iter, test_iter, num_epochs, lr, tools.try_gpu())`` and
``tools.matplot_acc_loss(train_process)``. With this module in its place their script runs
unchanged, with d2l's loader or ours. Every name of their ``tools`` is here with its signature,
including the misspelt ``evalution_loss_accuracy`` and the CPU/GPU pairs; the package's own
code uses the modern functions that these forward to (:mod:`d2lnotes.train`).
"""
from __future__ import annotations

import torch
from torch import nn

from .data import load_data_fashion_mnist
from .device import cpu, gpu, num_gpus, try_gpu
from .plot import matplot_acc_loss, show_images
from .train import Accumulator, Timer, accuracy, evaluate_loss_accuracy, train_ch6
from .train import train_epoch as _train_epoch

__all__ = ["Timer", "Accumulator", "accuracy", "argmax", "astype", "reduce_sum", "train_epoch",
           "train_epoch_gpu", "evalution_loss_accuracy", "evalution_loss_accuracy_gpu",
           "matplot_acc_loss", "gpu", "cpu", "num_gpus", "try_gpu", "train_ch6",
           "load_data_fashion_mnist", "show_images"]

argmax = lambda x, *args, **kwargs: x.argmax(*args, **kwargs)  # noqa: E731 (the notes' own)
astype = lambda x, *args, **kwargs: x.type(*args, **kwargs)  # noqa: E731
reduce_sum = lambda x, *args, **kwargs: x.sum(*args, **kwargs)  # noqa: E731


def _device_of(net) -> torch.device:
    params = list(net.parameters()) if isinstance(net, nn.Module) else []
    return params[0].device if params else torch.device("cpu")


def train_epoch(net, train_iter, loss, trainer) -> tuple[float, float]:
    """One epoch on the device the network is on: the notes' ``train_epoch``.

    ``trainer`` is a torch optimizer or, as in d2l's from-scratch chapters, a function
    ``trainer(batch_size)`` that updates the parameters after ``l.sum().backward()``.
    """
    if isinstance(trainer, torch.optim.Optimizer):
        return _train_epoch(net, train_iter, loss, trainer, _device_of(net))
    if isinstance(net, nn.Module):
        net.train()
    metric = Accumulator(3)  # loss sum, correct, examples
    for X, y in train_iter:
        y_hat = net(X)
        ls = loss(y_hat, y)
        ls.sum().backward()
        trainer(X.shape[0])
        n = y.numel()
        metric.add(float(ls.detach().sum()) * (n if ls.dim() == 0 else 1), accuracy(y_hat, y), n)
    return metric[0] / metric[2], metric[1] / metric[2]


def train_epoch_gpu(net, train_iter, loss, trainer, device) -> tuple[float, float]:
    """The notes' ``train_epoch_gpu``: one epoch with the batches moved to ``device``."""
    return _train_epoch(net, train_iter, loss, trainer, torch.device(device))


def evalution_loss_accuracy(net, data_iter, loss) -> tuple[float, float]:
    """The notes' evaluation (their spelling): mean loss and accuracy, one pass per batch."""
    return evaluate_loss_accuracy(net, data_iter, loss, _device_of(net))


def evalution_loss_accuracy_gpu(net, data_iter, loss, device="None") -> tuple[float, float]:
    """The same on ``device`` (the notes' default, the string ``'None'``, means the network's)."""
    device = _device_of(net) if device in (None, "None") else torch.device(device)
    return evaluate_loss_accuracy(net, data_iter, loss, device)
