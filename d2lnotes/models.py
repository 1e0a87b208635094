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


def lenet(batch_norm: bool = True, bn_layer=None) -> nn.Sequential:
    """d2l's LeNet with batch normalization after every conv and linear layer but the last.

    ``batch_norm=False`` gives the same network without those layers, so the two differ in BN
    alone. ``bn_layer(num_features, num_dims)`` swaps in another implementation, e.g.
    ``d2lnotes.bn.BatchNorm``; the default is PyTorch's ``nn.BatchNorm1d``/``nn.BatchNorm2d``.
    Inputs are 1x28x28.
    """
    def norm(num_features, num_dims):
        if not batch_norm:
            return nn.Identity()
        if bn_layer is not None:
            return bn_layer(num_features, num_dims)
        return nn.BatchNorm2d(num_features) if num_dims == 4 else nn.BatchNorm1d(num_features)

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), norm(6, 4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), norm(16, 4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), norm(120, 2), nn.Sigmoid(),
        nn.Linear(120, 84), norm(84, 2), nn.Sigmoid(),
        nn.Linear(84, 10))


def mlp(depth: int, width: int = 256, batch_norm: bool = False,
        activation: type[nn.Module] = nn.Sigmoid) -> nn.Sequential:
    """An MLP on flattened 28x28 images with ``depth`` hidden layers, BN before each activation.

    Used for the seed's Q4 (does BN help an MLP, and more so when it is deep?).
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    layers: list[nn.Module] = [nn.Flatten()]
    n_in = 28 * 28
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.BatchNorm1d(width) if batch_norm else nn.Identity(),
                   activation()]
        n_in = width
    layers.append(nn.Linear(n_in, 10))
    return nn.Sequential(*layers)


class Plain(nn.Module):
    """``Residual`` without its shortcut, ReLU(g(x)): the block of He et al.'s plain networks,
    so that plain and residual networks differ in the shortcut and nothing else."""

    def __init__(self, input_channels, num_channels, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(X))))))


class PreActResidual(nn.Module):
    """He et al. (2016b): BN-ReLU-conv twice, x + g(x) with nothing after the sum, so the
    identity path runs from the input to the output of the network untouched."""

    def __init__(self, input_channels, num_channels, strides=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(input_channels)
        self.conv1 = nn.Conv2d(input_channels, num_channels, 3, padding=1, stride=strides)
        self.bn2 = nn.BatchNorm2d(num_channels)
        self.conv2 = nn.Conv2d(num_channels, num_channels, 3, padding=1)
        self.shortcut = (nn.Identity() if input_channels == num_channels and strides == 1
                         else nn.Conv2d(input_channels, num_channels, 1, stride=strides))

    def forward(self, X):
        Y = self.conv1(F.relu(self.bn1(X)))
        Y = self.conv2(F.relu(self.bn2(Y)))
        return Y + self.shortcut(X)


class Bottleneck(nn.Module):
    """ResNet-50's block: a 1x1 conv down to ``mid_channels``, a 3x3 conv there (in
    ``groups`` groups: ResNeXt's block when groups > 1), a 1x1 conv back up; BN after each,
    ReLU after the sum. The 3x3 conv, the expensive one, runs on fewer channels."""

    def __init__(self, input_channels, mid_channels, num_channels, strides=1, groups=1):
        super().__init__()
        if mid_channels % groups:
            raise ValueError(f"mid_channels ({mid_channels}) must be a multiple of groups "
                             f"({groups}): each group convolves the same number of channels")
        self.conv1 = nn.Conv2d(input_channels, mid_channels, 1)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, padding=1, stride=strides,
                               groups=groups)
        self.conv3 = nn.Conv2d(mid_channels, num_channels, 1)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.bn3 = nn.BatchNorm2d(num_channels)
        self.shortcut = (nn.Identity() if input_channels == num_channels and strides == 1
                         else nn.Conv2d(input_channels, num_channels, 1, stride=strides))

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = F.relu(self.bn2(self.conv2(Y)))
        return F.relu(self.bn3(self.conv3(Y)) + self.shortcut(X))


def cifar_net(n: int, block: str = "residual", in_channels: int = 1, num_classes: int = 10,
              widths: tuple[int, int, int] = (16, 32, 64)) -> nn.Sequential:
    """He et al. (2016a, section 4.2): a 3x3 stem, three stages of ``n`` blocks at 16, 32 and
    64 channels (the second and third halve H and W), global pooling and a linear layer, so
    6n + 2 layers with weights. ``block``: "plain" (:class:`Plain`), "residual"
    (:class:`Residual`, with a 1x1 shortcut where the shape changes) or "preact"
    (:class:`PreActResidual`, with a final BN-ReLU as He et al. 2016b)."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n (blocks per stage) must be a positive integer, got {n!r}")
    # Lambdas, not the classes themselves: they look the names up when called, and the
    # chapter that writes this function out defines PreActResidual after it.
    makers = {"plain": lambda i, o, s: Plain(i, o, s),
              "residual": lambda i, o, s: Residual(i, o, use_1x1conv=i != o or s != 1,
                                                   strides=s),
              "preact": lambda i, o, s: PreActResidual(i, o, s)}
    if block not in makers:
        raise ValueError(f"block must be one of {sorted(makers)}, got {block!r}")
    c = widths[0]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1)]
    if block != "preact":
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
    for stage, width in enumerate(widths):
        for i in range(n):
            layers.append(makers[block](c, width, 2 if stage and not i else 1))
            c = width
    if block == "preact":
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, num_classes))


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


def check_input(net: nn.Module, shape: tuple[int, ...]) -> None:
    """Raise a clear ``ValueError`` if ``net`` cannot train on a batch of ``shape``.

    Runs a copy of the network on PyTorch's "meta" device: shapes are propagated, nothing is
    computed or allocated, so it takes milliseconds even for ResNet-18. It catches, before any
    training starts, the three shape mistakes a learner makes: images with the wrong number of
    channels, images too small (or of a size the network's fixed layers cannot take), and a
    batch that leaves batch normalization one value per channel.
    """
    shape = tuple(int(s) for s in shape)
    first = next((m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    if isinstance(first, nn.Conv2d) and len(shape) == 4 and shape[1] != first.in_channels:
        raise ValueError(
            f"the network's first convolution expects {first.in_channels} input channel(s), "
            f"but the images have {shape[1]} (batch shape {shape}); Fashion-MNIST is greyscale, "
            f"1 channel: build the network with in_channels={shape[1]} or convert the images")
    import copy

    with torch.no_grad():
        meta = copy.deepcopy(net).to("meta").train()
        try:
            meta(torch.empty(shape, device="meta"))
            return
        except (RuntimeError, ValueError) as err:
            message = str(err).strip().splitlines()[0]
            if "value per channel" in message:
                raise ValueError(
                    f"batch normalization in training mode needs more than one value per "
                    f"channel, but a batch of shape {shape} leaves one value per channel at "
                    f"some layer ({message}). The cause is the batch size: a batch of "
                    f"{shape[0]} example(s) (often the last, smaller batch of an epoch: the "
                    f"number of training images modulo the batch size) at a layer whose maps "
                    f"are 1x1. Use a batch size that leaves no remainder of 1, or drop the last "
                    f"batch") from None
            if len(shape) != 4:
                raise ValueError(f"the network cannot take a batch of shape {shape}: "
                                 f"{message}") from None
            sizes = _valid_sizes(meta.eval(), shape[1])
            hint = ("no size from 1 to 256 works" if not sizes else
                    f"it only accepts {sizes[0]}x{sizes[0]} images" if len(sizes) == 1 else
                    f"the smallest size it accepts is {sizes[0]}x{sizes[0]}")
            raise ValueError(f"the network cannot take {shape[2]}x{shape[3]} images ({message}); "
                             f"{hint}: change the resize") from None


def _valid_sizes(meta: nn.Module, channels: int, largest: int = 256) -> list[int]:
    ok = []
    for size in range(1, largest + 1):
        try:
            meta(torch.empty((2, channels, size, size), device="meta"))
            ok.append(size)
        except (RuntimeError, ValueError):
            pass
    return ok


def layer_grad_norms(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                     loss_fn=None) -> pd.DataFrame:
    """Gradient norm of every Linear/Conv2d weight for one batch, bottom layer first.

    Used to see where the gradient is small (the bottom layers, the notes' Q2) and how batch
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
