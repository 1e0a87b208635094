"""The deeper-than-18 chapter's networks: He et al.'s CIFAR nets, plain and residual, the
pre-activation, bottleneck and ResNeXt blocks. Shapes, depths and parameter counts."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from d2lnotes.models import (Bottleneck, Plain, PreActResidual, Residual, cifar_net,
                             num_params)


def _depth(net):
    """Layers with weights as He et al. count them: 3x3 convs and linear layers (the 1x1
    shortcut projections are not on the main path)."""
    return sum(isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
               for m in net.modules())


@pytest.mark.parametrize("block", ["plain", "residual", "preact"])
@pytest.mark.parametrize("n", [1, 3])
def test_cifar_net_has_6n_plus_2_layers_and_the_right_shapes(n, block):
    net = cifar_net(n, block).eval()
    assert _depth(net) == 6 * n + 2
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    shapes = []
    X = torch.randn(1, 1, 28, 28)
    for layer in net:
        X = layer(X)
        shapes.append(tuple(X.shape))
    assert (1, 64, 7, 7) in shapes and (1, 32, 14, 14) in shapes and (1, 16, 28, 28) in shapes


def test_plain_and_residual_nets_differ_only_in_the_shortcuts():
    plain, res = cifar_net(3, "plain"), cifar_net(3, "residual")
    shortcut = sum(num_params(m.conv3) for m in res.modules()
                   if isinstance(m, Residual) and m.conv3 is not None)
    assert num_params(res) - num_params(plain) == shortcut == (16 * 32 + 32) + (32 * 64 + 64)


def test_plain_block_is_the_residual_block_without_x():
    torch.manual_seed(0)
    res, plain = Residual(4, 4).eval(), Plain(4, 4).eval()
    plain.load_state_dict(res.state_dict())  # same names: conv1, conv2, bn1, bn2
    X = torch.randn(2, 4, 6, 6)
    g = res.bn2(res.conv2(F.relu(res.bn1(res.conv1(X)))))
    torch.testing.assert_close(plain(X), F.relu(g))
    torch.testing.assert_close(res(X), F.relu(g + X))


def test_preact_block_keeps_the_identity_path_clean():
    """With its last convolution zeroed the block is exactly the identity: nothing (no ReLU,
    no BN) sits on the path from input to output."""
    torch.manual_seed(0)
    blk = PreActResidual(4, 4).eval()
    nn.init.zeros_(blk.conv2.weight)
    nn.init.zeros_(blk.conv2.bias)
    X = torch.randn(2, 4, 5, 5)  # negative values too: a ReLU after the sum would clip them
    torch.testing.assert_close(blk(X), X)
    down = PreActResidual(4, 8, strides=2)
    assert down(X).shape == (2, 8, 3, 3) and isinstance(down.shortcut, nn.Conv2d)


def test_bottleneck_parameters_against_the_basic_block():
    """He et al.'s example: at 256 channels, a bottleneck through 64 channels costs a
    seventeenth of the two 3x3 layers of a basic block."""
    bottleneck = Bottleneck(256, 64, 256)
    weights = sum(m.weight.numel() for m in bottleneck.modules() if isinstance(m, nn.Conv2d))
    assert weights == 256 * 64 + 64 * 64 * 9 + 64 * 256 == 69_632
    basic = Residual(256, 256)
    basic_weights = sum(m.weight.numel() for m in (basic.conv1, basic.conv2))
    assert basic_weights == 2 * 256 * 256 * 9 == 1_179_648
    assert num_params(bottleneck) == 69_632 + (64 + 64 + 256) + 2 * (64 + 64 + 256)
    assert bottleneck(torch.randn(2, 256, 4, 4)).shape == (2, 256, 4, 4)


@pytest.mark.parametrize("groups", [1, 2, 8, 32])
def test_resnext_groups_divide_the_3x3_weights(groups):
    blk = Bottleneck(64, 128, 64, groups=groups)
    assert blk.conv2.weight.numel() == 128 * (128 // groups) * 9
    assert blk(torch.randn(2, 64, 6, 6)).shape == (2, 64, 6, 6)
    assert Bottleneck(64, 128, 256, strides=2, groups=groups)(
        torch.randn(2, 64, 6, 6)).shape == (2, 256, 3, 3)


@pytest.mark.parametrize("make, match", [
    (lambda: cifar_net(0), "positive integer"),
    (lambda: cifar_net(2.0), "positive integer"),
    (lambda: cifar_net(1, "dense"), "block must be one of"),
    (lambda: Bottleneck(64, 30, 64, groups=4), "multiple of groups"),
])
def test_bad_settings_are_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
