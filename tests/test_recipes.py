"""Issue 5: the pieces of the improved recipe, each checked on its own, then together."""

import pytest
import torch
from torch import nn

from d2lnotes import data, models, recipe, train


def _batch(n=64, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, size, size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return X, y


@pytest.mark.parametrize("augment", [recipe.Augment(crop=4), recipe.Augment(flip=True),
                                     recipe.Augment(erase=1.0),
                                     recipe.Augment(crop=2, flip=True, erase=0.5)])
@pytest.mark.parametrize("size", [28, 64])
def test_augment_keeps_shape_dtype_and_differs_per_sample(augment, size):
    X, _ = _batch(size=size)
    out = augment(X, torch.Generator().manual_seed(1))
    assert out.shape == X.shape and out.dtype == X.dtype and out.device == X.device
    changed = (out != X).flatten(1).any(dim=1)
    assert changed.any()
    # Per sample, not per batch: the samples are not all transformed the same way. Apply the
    # augmentation to a batch of copies of one image: the outputs must differ among themselves.
    same = X[:1].expand(32, -1, -1, -1).clone()
    outs = augment(same, torch.Generator().manual_seed(2))
    assert len({tuple(o.flatten().tolist()) for o in outs}) > 1


def test_augment_is_reproducible_and_identity_when_off():
    X, _ = _batch()
    a = recipe.Augment(crop=4, flip=True, erase=0.5)
    assert torch.equal(a(X, torch.Generator().manual_seed(3)), a(X, torch.Generator().manual_seed(3)))
    assert not recipe.Augment()
    assert torch.equal(recipe.Augment()(X), X)


def test_random_crop_is_a_shifted_window():
    X = torch.arange(36.0).view(1, 1, 6, 6).repeat(200, 1, 1, 1)
    out = recipe.random_crop(X, 1, torch.Generator().manual_seed(0))
    padded = nn.functional.pad(X[:1], (1, 1, 1, 1))[0, 0]
    windows = {(dy, dx): padded[dy:dy + 6, dx:dx + 6] for dy in range(3) for dx in range(3)}
    seen = set()
    for o in out[:, 0]:
        match = [k for k, w in windows.items() if torch.equal(w, o)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) == 9  # every offset occurs


def test_random_flip_mirrors_about_half():
    X, _ = _batch(n=400)
    out = recipe.random_flip(X, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, x.flip(-1)) for o, x in zip(out, X)])
    kept = torch.tensor([torch.equal(o, x) for o, x in zip(out, X)])
    assert (flipped | kept).all()
    assert 150 < int(flipped.sum()) < 250


def test_random_erasing_replaces_one_rectangle():
    X = torch.zeros(300, 1, 28, 28)
    out = recipe.random_erasing(X, 1.0, torch.Generator().manual_seed(0))
    for o in out[:, 0]:
        rows, cols = (o != 0).any(dim=1).nonzero(), (o != 0).any(dim=0).nonzero()
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.01 * 784 <= area <= 0.4 * 784  # scale (0.02, 0.33), after rounding
    assert torch.equal(recipe.random_erasing(X, 0.0, torch.Generator().manual_seed(0)), X)


def test_augment_rejects_bad_settings():
    with pytest.raises(ValueError, match="crop"):
        recipe.Augment(crop=-1)
    with pytest.raises(ValueError, match="probability"):
        recipe.Augment(erase=1.5)
    with pytest.raises(ValueError, match=r"\(n, c, h, w\)"):
        recipe.Augment(flip=True)(torch.rand(28, 28))


def test_labels_stay_aligned_and_augmentation_is_off_in_evaluation():
    """A net that reads the label off the image: augmentation must never scramble the pairs."""
    X, y = _batch(n=128)
    X[:, :, :, :] = (y.float() / 10).view(-1, 1, 1, 1)  # each image is its label, everywhere
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, X):
            seen.append((self.training, X.detach().clone()))
            return nn.functional.one_hot((X.amax(dim=(1, 2, 3)) * 10).round().long(), 10).float() + self.w

    loader = [(X, y)]
    crop_flip = recipe.Recipe("crop+flip", augment=recipe.Augment(crop=4, flip=True))
    history = train.train_ch6(Spy(), loader, loader, 1, 0.1, "cpu", init=False, verbose=False,
                              recipe=crop_flip)
    train_X = [x for training, x in seen if training][0]
    eval_X = [x for training, x in seen if not training][0]
    assert not torch.equal(train_X, X)  # augmented in training (crops add zero borders)
    assert torch.equal(eval_X, X)  # untouched in evaluation
    assert history["train_acc_all"].iloc[0] == 1.0 and history["val_acc_all"].iloc[0] == 1.0


def test_param_groups_exclude_bn_and_biases():
    net = models.resnet18()
    decay, no_decay = recipe.param_groups(net, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    bn = [p for m in net.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
    biases = [m.bias for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
              and m.bias is not None]
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert ids(bn) | ids(biases) == ids(no_decay["params"])
    assert ids(weights) == ids(decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(net.parameters()))


def test_weight_decay_leaves_bn_alone_in_training():
    """With zero gradients, decay must shrink conv weights and leave BN's gamma at 1."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    opt = torch.optim.SGD(recipe.param_groups(net, 0.1), lr=1.0)
    w0 = net[0].weight.detach().clone()
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(net[0].weight, 0.9 * w0)
    assert torch.equal(net[1].weight, torch.ones(4))


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_schedules_warm_up_then_anneal(schedule):
    net = nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = recipe.make_scheduler(opt, recipe.Recipe(schedule=schedule, warmup=0.2), 0.1, 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(100), key=lambda i: lrs[i])
    assert 10 <= peak <= 30 and lrs[peak] == pytest.approx(0.1, rel=0.05)
    assert lrs[0] < 0.05 and lrs[-1] < 0.01
    assert recipe.make_scheduler(opt, recipe.Recipe(), 0.1, 100) is None


def test_recipes_and_bad_recipe_settings():
    assert recipe.get_recipe(None) == recipe.RECIPES["seed"] == recipe.Recipe()
    assert recipe.get_recipe("improved").augment
    with pytest.raises(ValueError, match="valid recipes: seed, improved"):
        recipe.get_recipe("best")
    with pytest.raises(ValueError, match="schedule"):
        recipe.Recipe(schedule="step")
    with pytest.raises(ValueError, match="label_smoothing"):
        recipe.Recipe(label_smoothing=1.0)
    with pytest.raises(ValueError, match="nesterov"):
        recipe.Recipe(nesterov=True)


def test_tta_averages_an_image_and_its_mirror():
    X, y = _batch(n=32)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    both = (net(X) + net(X.flip(-1))) / 2
    loss, acc = train.evaluate_loss_accuracy(net, [(X, y)], device="cpu", tta=True)
    assert loss == pytest.approx(nn.functional.cross_entropy(both, y).item(), rel=1e-5)
    assert acc == pytest.approx((both.argmax(1) == y).float().mean().item())


def test_ema_is_evaluated_and_handed_back(small):
    train_iter, test_iter = small
    results = {}
    for ema in (0.0, 0.5):
        torch.manual_seed(0)
        net = models.lenet(batch_norm=True)
        h = train.train_ch6(net, train_iter, test_iter, 3, 0.5, "cpu", verbose=False,
                            amp=False, recipe=recipe.Recipe("ema", ema=ema))
        # the net we get back is the one that was evaluated last
        loss, acc = train.evaluate_loss_accuracy(net, test_iter)
        assert acc == pytest.approx(h["val_acc_all"].iloc[-1])
        results[ema] = h["val_acc_all"].tolist()
    assert results[0.5] != results[0.0]  # the average, not the live weights, was evaluated
    assert results[0.5][-1] > 0.5


@pytest.fixture(scope="module")
def small(fmnist_root):
    return data.load_data_fashion_mnist(128, train_size=2048, test_size=1024, device="cpu",
                                        seed=0)


def test_one_cycle_on_very_short_runs():
    """PyTorch's OneCycleLR divides by the warm-up length minus one: 4 steps at 25% warm-up
    used to crash with ZeroDivisionError; now 4 steps work and fewer are a clear error."""
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched = recipe.make_scheduler(opt, recipe.RECIPES["improved"], 0.1, 4)
    for _ in range(4):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="at least 4 steps"):
        recipe.make_scheduler(opt, recipe.RECIPES["improved"], 0.1, 3)
