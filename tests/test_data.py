import socket

import pytest
import torch
import torchvision
from matplotlib.figure import Figure

from d2lnotes import data, plot
from d2lnotes.settings import PROFILES


def test_full_splits_on_the_real_files(fmnist_root):
    x_train, y_train = data.fashion_mnist_tensors(train=True)
    x_test, y_test = data.fashion_mnist_tensors(train=False)
    assert x_train.shape == (60_000, 1, 28, 28) and x_train.dtype == torch.uint8
    assert x_test.shape == (10_000, 1, 28, 28) and x_test.dtype == torch.uint8
    assert y_train.dtype == torch.int64 and y_test.dtype == torch.int64
    assert torch.equal(torch.bincount(y_train), torch.full((10,), 6_000))
    assert torch.equal(torch.bincount(y_test), torch.full((10,), 1_000))
    # Real images, not zeros or noise: Fashion-MNIST's published pixel mean is 0.2860.
    assert abs(x_train.float().mean().item() / 255 - 0.2860) < 1e-3


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_profile_subsets_have_every_class(fmnist_root, profile):
    p = PROFILES[profile]
    _, y_train = data.fashion_mnist_tensors(True, p.train_size)
    _, y_test = data.fashion_mnist_tensors(False, p.test_size)
    assert len(y_train) == p.train_size and len(y_test) == p.test_size
    assert torch.bincount(y_train, minlength=10).min() > 0.05 * p.train_size
    assert torch.bincount(y_test, minlength=10).min() > 0.05 * p.test_size


def test_loader_batches_shapes_and_sizes(fmnist_root):
    train_iter, test_iter = data.load_data_fashion_mnist(
        100, resize=64, train_size=250, test_size=120)
    X, y = next(iter(train_iter))
    assert X.shape == (100, 1, 64, 64) and X.dtype == torch.float32
    assert y.shape == (100,) and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.5
    assert int(y.min()) >= 0 and int(y.max()) <= 9
    assert [len(yb) for _, yb in train_iter] == [100, 100, 50]
    assert sum(len(yb) for _, yb in test_iter) == 120


def test_no_resize_keeps_28_pixels(fmnist_root):
    _, test_iter = data.load_data_fashion_mnist(32, test_size=32, train_size=32)
    X, _ = next(iter(test_iter))
    assert X.shape == (32, 1, 28, 28)
    x_test, _ = data.fashion_mnist_tensors(False, 32)
    torch.testing.assert_close(X, x_test.float() / 255)


def test_resize_agrees_with_d2ls_pil_pipeline(fmnist_root):
    """d2l resizes each PIL image then calls ToTensor; we resize whole batches on tensors."""
    ds = data.fashion_mnist(train=False)
    d2l_transform = torchvision.transforms.Compose(
        [torchvision.transforms.Resize(224), torchvision.transforms.ToTensor()])
    theirs = torch.stack([d2l_transform(ds[i][0]) for i in range(8)])
    x, _ = data.fashion_mnist_tensors(False, 8)
    ours = data.resize_batch(x, 224)
    assert ours.shape == theirs.shape == (8, 1, 224, 224)
    assert (ours - theirs).abs().mean() < 2 / 255


def test_seeded_shuffle_is_reproducible(fmnist_root):
    def first_labels(seed):
        train_iter, _ = data.load_data_fashion_mnist(64, train_size=512, test_size=64, seed=seed)
        return next(iter(train_iter))[1]
    assert torch.equal(first_labels(1), first_labels(1))
    assert not torch.equal(first_labels(1), first_labels(2))


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=8, resize=0), "resize"),
    (dict(batch_size=8, train_size=60_001), "1..60000"),
    (dict(batch_size=8, test_size=0), "1..10000"),
])
def test_bad_loader_arguments(fmnist_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load_data_fashion_mnist(**kwargs)


def test_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_root() == tmp_path / "cache" / "d2lnotes"


@pytest.fixture
def no_network(monkeypatch):
    """Make every connection attempt fail at once, as on a machine without network."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_missing_data_offline_gives_one_clear_error(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_data_fashion_mnist(32)
    message = str(err.value)
    assert str(tmp_path) in message
    for name in data.RAW_FILES:
        assert name in message
    assert data.ENV_VAR in message and "download failed" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback


def test_missing_data_without_download(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="download=False"):
        data.fashion_mnist(root=tmp_path, download=False)


def test_labels_and_images():
    assert data.get_fashion_mnist_labels([0, 9, 5]) == ["t-shirt", "ankle boot", "sandal"]
    assert data.text_labels(torch.tensor([1])) == ["trouser"]
    fig = plot.show_images(torch.rand(5, 1, 28, 28), 2, 3, titles=list("abcde"))
    assert isinstance(fig, Figure) and len(fig.axes) == 6


def _labels(loader):
    return torch.cat([y for _, y in loader])


def test_the_order_is_a_function_of_seed_and_epoch_in_both_loaders(fmnist_root):
    """No hidden state: epoch e's order comes from (seed, e), so a resumed run needs no
    generator state, and the DataLoader path and the fast path visit the same batches."""
    host, _ = data.load_data_fashion_mnist(64, train_size=300, test_size=64, seed=5)
    fast, _ = data.load_data_fashion_mnist(64, train_size=300, test_size=64, seed=5,
                                           device="cpu")
    e0, e1 = _labels(host), _labels(host)  # without set_epoch: epochs 0, 1, ... in turn
    assert not torch.equal(e0, e1)
    fast.set_epoch(1)
    assert torch.equal(_labels(fast), e1)
    for loader in (host, fast):
        loader.set_epoch(0)
        assert torch.equal(_labels(loader), e0)
    host.seed = 6
    host.set_epoch(0)
    assert not torch.equal(_labels(host), e0)


def test_both_loaders_tell_their_batch_shapes(fmnist_root):
    host, test = data.load_data_fashion_mnist(64, resize=32, train_size=300, test_size=64,
                                              seed=0)
    fast, _ = data.load_data_fashion_mnist(64, resize=32, train_size=300, test_size=64,
                                           seed=0, device="cpu")
    expected = [(64, 1, 32, 32), (44, 1, 32, 32)]
    assert host.batch_shapes() == fast.batch_shapes() == expected
    assert [tuple(X.shape) for X, _ in host][::4] == expected
    assert test.batch_shapes() == [(64, 1, 32, 32)]
