"""d2lnotes.norm must be nn.LayerNorm / nn.GroupNorm: outputs, gradients, state dicts."""
import pytest
import torch
from torch import nn

from d2lnotes.norm import GhostBatchNorm2d, GroupNorm, LayerNorm, groups_for

TOL = {torch.float32: dict(atol=2e-5, rtol=2e-5), torch.float64: dict(atol=1e-10, rtol=1e-10)}


def _affine(ours, ref, gen):
    with torch.no_grad():
        if ours.weight is not None:
            ours.weight.copy_(torch.rand(ours.weight.shape, generator=gen) + 0.5)
            ours.bias.copy_(torch.rand(ours.bias.shape, generator=gen) - 0.5)
    ref.load_state_dict(ours.state_dict())


def _check(ours, ref, shape, gen, dtype):
    ours, ref = ours.to(dtype), ref.to(dtype)
    X = (torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + 1).to(dtype)
    X1, X2 = X.clone().requires_grad_(), X.clone().requires_grad_()
    Y1, Y2 = ours(X1), ref(X2)
    torch.testing.assert_close(Y1, Y2, **TOL[dtype])
    g = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    (Y1 * g).sum().backward()
    (Y2 * g).sum().backward()
    torch.testing.assert_close(X1.grad, X2.grad, **TOL[dtype])
    if ours.weight is not None:
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **TOL[dtype])
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_group_norm_matches_pytorch(seed, affine, dtype):
    gen = torch.Generator().manual_seed(seed)
    groups = int(torch.randint(1, 5, (1,), generator=gen))
    C = groups * int(torch.randint(1, 4, (1,), generator=gen))
    N = int(torch.randint(1, 5, (1,), generator=gen))
    rest = [int(torch.randint(1, 6, (1,), generator=gen)) for _ in range(seed % 3)]
    ours, ref = GroupNorm(groups, C, affine=affine), nn.GroupNorm(groups, C, affine=affine)
    _affine(ours, ref, gen)
    _check(ours, ref, (N, C, *rest), gen, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_layer_norm_matches_pytorch(seed, affine, dtype):
    gen = torch.Generator().manual_seed(seed)
    normalized = [int(torch.randint(2, 6, (1,), generator=gen)) for _ in range(1 + seed % 3)]
    batch = [int(torch.randint(1, 4, (1,), generator=gen)) for _ in range(seed % 2 + 1)]
    ours = LayerNorm(normalized, elementwise_affine=affine)
    ref = nn.LayerNorm(normalized, elementwise_affine=affine)
    _affine(ours, ref, gen)
    _check(ours, ref, (*batch, *normalized), gen, dtype)


def test_an_int_shape_and_a_batch_of_one_work():
    torch.manual_seed(0)
    X = torch.randn(1, 7)
    torch.testing.assert_close(LayerNorm(7)(X), nn.LayerNorm(7)(X))
    X = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(GroupNorm(2, 4)(X), nn.GroupNorm(2, 4)(X))


@pytest.mark.parametrize("make", [lambda: (LayerNorm((3, 4)), nn.LayerNorm((3, 4))),
                                  lambda: (GroupNorm(2, 6), nn.GroupNorm(2, 6))])
def test_state_dicts_load_both_ways(make):
    ours, ref = make()
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-1, 1)
    assert ref.load_state_dict(ours.state_dict()).missing_keys == []
    for p in ref.parameters():
        nn.init.normal_(p)
    assert ours.load_state_dict(ref.state_dict()).missing_keys == []
    for (k1, v1), (k2, v2) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


def test_same_in_training_and_prediction_mode():
    """No running statistics: the output does not depend on mode or on the other examples."""
    torch.manual_seed(0)
    X = torch.randn(8, 4, 5, 5)
    gn = GroupNorm(2, 4)
    Y_train = gn.train()(X)
    torch.testing.assert_close(gn.eval()(X), Y_train)
    torch.testing.assert_close(gn(X[:1]), Y_train[:1])
    assert list(gn.buffers()) == []


def test_groupnorm_one_group_is_layernorm_over_chw():
    torch.manual_seed(0)
    X = torch.randn(3, 6, 4, 4)
    torch.testing.assert_close(GroupNorm(1, 6, affine=False)(X),
                               LayerNorm((6, 4, 4), elementwise_affine=False)(X))


@pytest.mark.parametrize("make, match", [
    (lambda: GroupNorm(4, 6), "multiple of num_groups"),
    (lambda: GroupNorm(0, 6), "must be positive"),
    (lambda: GroupNorm(2, 0), "must be positive"),
    (lambda: groups_for(0), "must be positive"),
    (lambda: GhostBatchNorm2d(4, 0), "group must be a positive"),
    (lambda: GhostBatchNorm2d(4, 2.5), "group must be a positive"),
    (lambda: LayerNorm(0), "positive integers"),
    (lambda: LayerNorm([]), "positive integers"),
])
def test_bad_settings_are_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer, shape", [(LayerNorm(5), (2, 4)), (LayerNorm((2, 3)), (3,)),
                                          (GroupNorm(2, 4), (2, 6, 3)), (GroupNorm(2, 4), (4,))])
def test_wrong_shapes_are_clear_errors(layer, shape):
    with pytest.raises(ValueError, match="shape"):
        layer(torch.randn(shape))


def test_groups_for_picks_the_largest_divisor_up_to_32():
    assert [groups_for(c) for c in (64, 24, 3, 512, 1)] == [32, 24, 3, 32, 1]
    assert groups_for(48, max_groups=16) == 16


def test_the_axes_figure_shades_what_each_method_averages():
    import matplotlib.pyplot as plt

    from d2lnotes import plot
    fig = plot.draw_norm_axes(batch=4, channels=6, positions=4, groups=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4
    # BN: N*HW, LN: C*HW, IN: HW, GN: C/G*HW values share one mean
    for title, shared in zip(titles, [16, 24, 4, 8]):
        assert f"\n{shared} values share a mean" in title, title
    plt.close(fig)
    with pytest.raises(ValueError, match="multiple of groups"):
        plot.draw_norm_axes(channels=6, groups=4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("seed", range(3))
def test_ghost_bn_with_one_group_is_batchnorm(seed, dtype):
    """group == batch size: outputs, gradients, running statistics and state dict of BN."""
    gen = torch.Generator().manual_seed(seed)
    N, C = 2 * int(torch.randint(1, 5, (1,), generator=gen)), int(torch.randint(1, 6, (1,),
                                                                               generator=gen))
    ours, ref = GhostBatchNorm2d(C, N), nn.BatchNorm2d(C)
    _affine(ours, ref, gen)
    for _ in range(2):  # two steps: the running statistics accumulate alike
        _check(ours, ref, (N, C, 3, 4), gen, dtype)
    for name, buffer in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], buffer, **TOL.get(buffer.dtype, {}))
    X = torch.randn(N, C, 3, 4, generator=gen, dtype=torch.float64).to(dtype)
    torch.testing.assert_close(ours.eval()(X), ref.eval()(X), **TOL[dtype])
    GhostBatchNorm2d(C, 1).load_state_dict(ref.state_dict())  # loads both ways
    ref.load_state_dict(ours.state_dict())


def test_ghost_bn_normalizes_each_group_as_bn_would_alone():
    torch.manual_seed(0)
    X = torch.randn(8, 3, 4, 4) * 2 + 1
    ghost = GhostBatchNorm2d(3, 2)
    Y = ghost(X)
    means, variances = [], []
    for part, out in zip(X.split(2), Y.split(2)):
        bn = nn.BatchNorm2d(3)
        torch.testing.assert_close(out, bn(part))
        means.append(bn.running_mean)
        variances.append(bn.running_var)
    # the running averages take the mean of the four groups' updates
    torch.testing.assert_close(ghost.running_mean, torch.stack(means).mean(0))
    torch.testing.assert_close(ghost.running_var, torch.stack(variances).mean(0))
    assert int(ghost.num_batches_tracked) == 1


@pytest.mark.parametrize("shape, match", [
    ((6, 3, 4, 4), "cannot be split into groups of 4"),
    ((8, 5, 4, 4), r"shape \(N, 3, H, W\)"),
    ((8, 3, 4), r"shape \(N, 3, H, W\)"),
])
def test_ghost_bn_bad_batches_are_clear_errors(shape, match):
    with pytest.raises(ValueError, match=match):
        GhostBatchNorm2d(3, 4)(torch.randn(shape))


def test_ghost_bn_refuses_one_value_per_channel():
    with pytest.raises(ValueError, match="more than one value per channel"):
        GhostBatchNorm2d(3, 1)(torch.randn(4, 3, 1, 1))
