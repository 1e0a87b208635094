"""The seed's ResNet-18, built exactly as the notes (and d2l) build it.

``Residual`` and ``resnet_block`` are also written out in the notebook "The residual block and
ResNet-18"; ``tests/test_notebooks.py`` checks that the two copies stay the same.
"""
from __future__ import annotations

import pandas as pd
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode


class Residual(nn.Module):
    """Two 3x3 conv + BN layers, g(x), plus a shortcut: the block computes ReLU(g(x) + x).

    With ``use_1x1conv`` the shortcut is a 1x1 convolution, so that x can still be added to g(x)
    when the block changes the number of channels or (``strides=2``) halves height and width.
    """

    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    """A stage of residual blocks; the first block of every stage but the first halves H and W."""
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18(in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """The seed's ResNet-18: stem b1, four stages b2..b5 of two blocks each, pool, linear.

    With the defaults it has 11,178,378 parameters (its convolutions keep their biases, as in
    the seed and d2l, although the BatchNorm after each one makes them redundant).
    """
    b1 = nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(512, num_classes))


STAGE_NAMES = ("b1 (stem)", "b2", "b3", "b4", "b5", "global avg pool", "flatten", "linear")


def num_params(module: nn.Module) -> int:
    """Number of trainable parameters (BN's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@torch.no_grad()
def layer_shapes(net: nn.Sequential, X: torch.Tensor,
                 names: tuple[str, ...] | None = STAGE_NAMES) -> pd.DataFrame:
    """The seed's shape printout as a table: each top-level layer's output shape and cost.

    ``GFLOPs`` is the forward pass's floating-point operations for ``X`` (a multiply-add counts
    as two), measured by ``torch.utils.flop_counter``, so it scales with the batch in ``X``.
    Runs in eval mode (so BN uses running statistics and a batch of one is fine) and puts the
    network back in the mode it was in.
    """
    was_training = net.training
    net.eval()
    rows = []
    try:
        for i, layer in enumerate(net):
            with FlopCounterMode(display=False) as counter:
                X = layer(X)
            rows.append({
                "stage": names[i] if names and i < len(names) else str(i),
                "layer": layer.__class__.__name__,
                "output shape": tuple(X.shape),
                "parameters": num_params(layer),
                "GFLOPs": counter.get_total_flops() / 1e9,
            })
    finally:
        net.train(was_training)
    return pd.DataFrame(rows)


def torchvision_resnet18(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18 (random weights) with a stem for ``in_channels`` inputs.

    Used to compare designs: torchvision's convolutions have no bias and its downsampling
    shortcuts are a 1x1 conv *followed by BN*; the seed's have biases and no BN there.
    """
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net
