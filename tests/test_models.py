import pytest
import torch
from torch import nn

from d2lnotes import models


@pytest.mark.parametrize("size", [28, 96, 224])
def test_resnet18_output_shape(size):
    net = models.resnet18().eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, size, size)).shape == (2, 10)


def test_resnet18_parameter_count_matches_the_seed():
    assert models.num_params(models.resnet18()) == 11_178_378


def test_resnet18_options():
    net = models.resnet18(in_channels=3, num_classes=7).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 64)).shape == (1, 7)


def test_seed_shape_printout_at_224():
    table = models.layer_shapes(models.resnet18(), torch.rand(1, 1, 224, 224))
    assert list(table["output shape"]) == [
        (1, 64, 56, 56), (1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7),
        (1, 512, 1, 1), (1, 512), (1, 10)]
    assert table["parameters"].sum() == 11_178_378
    assert list(table["layer"][:5]) == ["Sequential"] * 5
    # Stages b2..b5 cost about the same: channels double while the area quarters.
    stage_flops = table["GFLOPs"][1:5]
    assert stage_flops.max() / stage_flops.min() < 1.2


def test_layer_shapes_restores_training_mode():
    net = models.resnet18().train()
    models.layer_shapes(net, torch.rand(1, 1, 32, 32))
    assert net.training


def test_residual_identity_variant_keeps_shape():
    blk = models.Residual(3, 3)
    assert blk.conv3 is None
    assert blk(torch.rand(4, 3, 6, 6)).shape == (4, 3, 6, 6)


def test_residual_1x1_variant_halves_and_widens():
    blk = models.Residual(3, 6, use_1x1conv=True, strides=2)
    assert isinstance(blk.conv3, nn.Conv2d) and blk.conv3.kernel_size == (1, 1)
    assert blk(torch.rand(4, 3, 6, 6)).shape == (4, 6, 3, 3)


def test_residual_without_shortcut_conv_cannot_change_shape():
    with pytest.raises(RuntimeError):
        models.Residual(3, 6, strides=2)(torch.rand(4, 3, 6, 6))


def test_residual_is_relu_of_g_plus_x():
    torch.manual_seed(0)
    blk = models.Residual(4, 4).eval()
    X = torch.randn(2, 4, 5, 5)
    g = blk.bn2(blk.conv2(torch.relu(blk.bn1(blk.conv1(X)))))
    torch.testing.assert_close(blk(X), torch.relu(g + X))


def test_resnet_block_structure():
    first = models.resnet_block(64, 64, 2, first_block=True)
    assert [b.conv3 is None for b in first] == [True, True]
    later = models.resnet_block(64, 128, 2)
    assert later[0].conv3 is not None and later[0].conv1.stride == (2, 2)
    assert later[1].conv3 is None and later[1].conv1.in_channels == 128


def test_torchvision_comparison_accounts_for_the_difference():
    seed, tv = models.resnet18(), models.torchvision_resnet18()
    biases = sum(m.bias.numel() for m in seed.modules()
                 if isinstance(m, nn.Conv2d) and m.bias is not None)
    shortcut_bn = sum(models.num_params(m[1]) for m in tv.modules()
                      if isinstance(m, nn.Sequential) and len(m) == 2
                      and isinstance(m[1], nn.BatchNorm2d))
    assert models.num_params(seed) - models.num_params(tv) == biases - shortcut_bn == 3_008
