"""d2lnotes.bn.BatchNorm must be nn.BatchNorm1d/2d: outputs, gradients, running statistics."""
import pytest
import torch
from torch import nn

from d2lnotes.bn import BatchNorm, batch_norm

TOL = dict(atol=1e-5, rtol=1e-5)


def pair(num_dims, C, momentum, seed, dtype=torch.float32):
    torch.manual_seed(seed)
    ours = BatchNorm(C, num_dims, momentum=momentum).to(dtype)
    ref = (nn.BatchNorm2d if num_dims == 4 else nn.BatchNorm1d)(C, momentum=momentum).to(dtype)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2.0)
        ours.bias.uniform_(-1.0, 1.0)
        ref.load_state_dict(ours.state_dict())
    return ours, ref


def random_shape(num_dims, gen, min_batch=2):
    n = int(torch.randint(min_batch, 9, (1,), generator=gen))
    C = int(torch.randint(1, 6, (1,), generator=gen))
    rest = [int(torch.randint(1, 6, (1,), generator=gen)) for _ in range(num_dims - 2)]
    return (n, C, *rest)


# float64 covers the smallest batches, whose input gradients are badly conditioned (two values
# per channel: the output is +-1 whatever the input); float32 covers the usual case.
@pytest.mark.parametrize("dtype, min_batch", [(torch.float32, 4), (torch.float64, 2)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("num_dims", [2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_matches_pytorch_over_steps_and_modes(num_dims, momentum, seed, dtype, min_batch):
    gen = torch.Generator().manual_seed(seed)
    shape = random_shape(num_dims, gen, min_batch)
    ours, ref = pair(num_dims, shape[1], momentum, seed, dtype)
    for step in range(4):
        X = (torch.randn(*shape, generator=gen, dtype=torch.float64) * (step + 1) + step).to(dtype)
        X1, X2 = X.clone().requires_grad_(), X.clone().requires_grad_()
        Y1, Y2 = ours(X1), ref(X2)
        torch.testing.assert_close(Y1, Y2, **TOL)
        g = torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
        (Y1 * g).sum().backward()
        (Y2 * g).sum().backward()
        torch.testing.assert_close(X1.grad, X2.grad, **TOL)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **TOL)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, **TOL)
        ours.zero_grad()
        ref.zero_grad()
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(ours, name), getattr(ref, name), **TOL)
    ours.eval()
    ref.eval()
    X = torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    X2 = X.detach().clone().requires_grad_()
    Y1, Y2 = ours(X), ref(X2)
    torch.testing.assert_close(Y1, Y2, **TOL)
    Y1.sum().backward()
    Y2.sum().backward()
    torch.testing.assert_close(X.grad, X2.grad, **TOL)
    # Prediction mode leaves the running statistics alone.
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)


def test_mode_follows_train_and_eval_not_grad_mode():
    ours = BatchNorm(3, 2)
    X = torch.randn(8, 3) * 4 + 2
    with torch.no_grad():  # training mode even without gradients, as in PyTorch
        ours(X)
    assert int(ours.num_batches_tracked) == 1
    assert not torch.allclose(ours.running_mean, torch.zeros(3))
    ours.eval()
    before = ours.running_mean.clone()
    ours(X)  # gradients enabled, yet prediction mode: nothing moves
    assert torch.equal(ours.running_mean, before)


def test_cumulative_average_with_momentum_none():
    ours = BatchNorm(2, 2, momentum=None)
    batches = [torch.randn(5, 2) + i for i in range(3)]
    for X in batches:
        ours(X)
    expected = torch.stack([X.mean(0) for X in batches]).mean(0)
    torch.testing.assert_close(ours.running_mean, expected, **TOL)


@pytest.mark.parametrize("num_dims", [2, 4])
def test_state_dict_round_trip_both_ways(num_dims):
    ours, ref = pair(num_dims, 4, 0.1, 0)
    shape = (6, 4) if num_dims == 2 else (6, 4, 3, 3)
    for _ in range(3):
        ref(torch.randn(*shape) * 3 + 1)
    ours.load_state_dict(ref.state_dict())  # PyTorch -> ours
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    fresh = type(ref)(4)
    for _ in range(2):
        ours(torch.randn(*shape))
    fresh.load_state_dict(ours.state_dict())  # ours -> PyTorch
    ours.eval()
    fresh.eval()
    X = torch.randn(*shape)
    torch.testing.assert_close(ours(X), fresh(X), **TOL)


def test_buffers_follow_to():
    ours = BatchNorm(3, 4).to(torch.float64)
    assert ours.running_mean.dtype == torch.float64 and ours.weight.dtype == torch.float64
    assert {name for name, _ in ours.named_buffers()} == {
        "running_mean", "running_var", "num_batches_tracked"}


def test_one_value_per_channel_in_training_is_an_error_like_torch():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel.*batch of at least 2"):
        BatchNorm(3, 2)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm(3, 4)(torch.randn(1, 3, 1, 1))
    ours = BatchNorm(3, 2).eval()
    assert ours(torch.randn(1, 3)).shape == (1, 3)  # prediction mode is fine


def test_wrong_input_shapes_are_reported():
    with pytest.raises(ValueError, match="expected a 4D input with 3 channels"):
        BatchNorm(3, 4)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="with 3 channels at dim 1, got shape \\(2, 5, 4, 4\\)"):
        BatchNorm(3, 4)(torch.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match="num_dims"):
        BatchNorm(3, 5)


def test_function_normalises_with_biased_and_tracks_unbiased_variance():
    X = torch.tensor([[1.0], [3.0]])  # mean 2, biased var 1, unbiased var 2
    Y, mean, var = batch_norm(X, torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1),
                              eps=0.0, momentum=1.0, training=True)
    torch.testing.assert_close(Y, torch.tensor([[-1.0], [1.0]]))
    torch.testing.assert_close(mean, torch.tensor([2.0]))
    torch.testing.assert_close(var, torch.tensor([2.0]))
