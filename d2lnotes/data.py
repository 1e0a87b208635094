"""Fashion-MNIST, found offline when it is there and downloaded only when it is not.

Where the files live (first match wins):

1. the ``root`` argument;
2. the ``D2LNOTES_DATA`` environment variable;
3. a per-user cache folder (``$XDG_CACHE_HOME/d2lnotes`` or ``~/.cache/d2lnotes``).

The layout under the root is torchvision's: ``<root>/FashionMNIST/raw/train-images-idx3-ubyte``
and its three siblings. When they are missing we ask torchvision to download them; if that fails
too (no network, a proxy, a typo in the path) we raise one :class:`DataNotFoundError` that says
where we looked and how to fix it, instead of torchvision's long traceback.

The images are small (47 MB as uint8 for the 60,000 training images, 55 MB with the test
split), so we keep them as one tensor and resize whole batches with ``F.interpolate``. That gives
the same ``(batch, 1, resize, resize)`` float tensors in [0, 1] as d2l's
``load_data_fashion_mnist``, far faster than resizing image by image with PIL.

Both loaders (:class:`HostLoader`, a DataLoader, and :class:`DeviceLoader`, the fast path) draw
each epoch's order from ``(seed, epoch)`` alone, as PyTorch's ``DistributedSampler`` does:
``set_epoch(e)`` picks the epoch (``train_ch6`` calls it), and a loop that never calls it gets
epochs 0, 1, 2, ... in turn. So a resumed run needs no hidden random state, and both loaders
visit the same batches for the same seed.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils import data

__all__ = [
    "DataCorruptError", "DataNotFoundError", "DeviceLoader", "HostLoader", "RAW_FILES",
    "TEXT_LABELS", "data_root", "draw_seed", "epoch_order", "fashion_mnist",
    "fashion_mnist_tensors", "get_fashion_mnist_labels", "load_data_fashion_mnist",
    "resize_batch", "text_labels",
]

ENV_VAR = "D2LNOTES_DATA"
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


class DataNotFoundError(FileNotFoundError):
    """Fashion-MNIST is neither on disk nor downloadable."""


class DataCorruptError(ValueError):
    """A Fashion-MNIST file is there but is not the official file (size or magic number)."""


# (size in bytes, IDX magic number) of the official files: a 16-byte header + 28x28 bytes per
# image, an 8-byte header + 1 byte per label.
RAW_FORMAT = {
    "train-images-idx3-ubyte": (16 + 60_000 * 784, 2051),
    "train-labels-idx1-ubyte": (8 + 60_000, 2049),
    "t10k-images-idx3-ubyte": (16 + 10_000 * 784, 2051),
    "t10k-labels-idx1-ubyte": (8 + 10_000, 2049),
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) ``FashionMNIST/raw``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "d2lnotes"


def _raw_folder(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


def _missing_files(root: Path) -> list[str]:
    raw = _raw_folder(root)
    return [name for name in RAW_FILES if not (raw / name).is_file()]


def fashion_mnist(train: bool = True, root: str | os.PathLike | None = None,
                  download: bool = True) -> torchvision.datasets.FashionMNIST:
    """torchvision's Fashion-MNIST split, downloading only when the raw files are missing."""
    root = data_root(root)
    missing = _missing_files(root)
    if missing:
        if not download:
            raise DataNotFoundError(_not_found_message(root, missing, "download=False"))
        try:
            torchvision.datasets.FashionMNIST(root, train=train, download=True)
        except Exception as exc:  # network, permissions, disk: report them all the same way
            reason = f"{type(exc).__name__}: {exc}".strip()
            raise DataNotFoundError(_not_found_message(root, missing, reason)) from None
    _check_files(root)
    return torchvision.datasets.FashionMNIST(root, train=train, download=False)


def _check_files(root: Path) -> None:
    """Refuse files of the wrong size or magic number, naming the file; never delete them."""
    raw = _raw_folder(root)
    for name, (size, magic) in RAW_FORMAT.items():
        path = raw / name
        actual = path.stat().st_size
        with open(path, "rb") as f:
            found = int.from_bytes(f.read(4), "big")
        problem = (f"it has {actual:,} bytes, the official file has {size:,}" if actual != size
                   else f"its magic number is {found}, the official file's is {magic}"
                   if found != magic else None)
        if problem:
            raise DataCorruptError(
                f"Fashion-MNIST file {path} is damaged or not the official file: {problem} "
                f"(a partial download or copy?). Re-fetch it: move this file away (d2lnotes "
                f"never deletes your files) and run again with network access, which downloads "
                f"it to {raw}, or copy the official {name} there.")


def _not_found_message(root: Path, missing: list[str], reason: str) -> str:
    found = ("none of the four files is there" if len(missing) == len(RAW_FILES)
             else f"missing {', '.join(missing)}")
    return (
        f"Fashion-MNIST not found under {_raw_folder(root)} (root {root}).\n"
        f"  expected {', '.join(RAW_FILES)}: {found}\n"
        f"  the download failed: {reason}\n"
        f"Fix: point {ENV_VAR} (or the root= argument) at a folder that holds "
        f"FashionMNIST/raw/ with those four files, or run once with network access so they "
        f"can be downloaded there."
    )


def fashion_mnist_tensors(train: bool = True, size: int | None = None,
                          root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as a ``(n, 1, 28, 28)`` uint8 tensor and labels as int64, first ``size`` of them.

    The first ``size`` images are a fair subset: Fashion-MNIST's files are already shuffled,
    and the tests check that every class appears in the small subsets the profiles use.
    """
    ds = fashion_mnist(train=train, root=root)
    n = len(ds.data) if size is None else size
    if not 0 < n <= len(ds.data):
        split = "train" if train else "test"
        raise ValueError(f"size must be in 1..{len(ds.data)} for the {split} split, got {size}")
    return ds.data[:n].unsqueeze(1).contiguous(), ds.targets[:n].clone()


def resize_batch(images: torch.Tensor, resize: int | None) -> torch.Tensor:
    """uint8 ``(n, 1, 28, 28)`` -> float ``(n, 1, resize, resize)`` in [0, 1], bilinear like PIL."""
    x = images.float().div_(255)
    if resize is not None and resize != x.shape[-1]:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False,
                          antialias=resize < x.shape[-1])
    return x


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of ``n`` examples in ``epoch``: a permutation that depends on (seed, epoch) only.

    Drawn on the CPU (and moved where it is needed), so every device and both loaders get the
    same order. A tuple of ints hashes the same in every Python process.
    """
    g = torch.Generator().manual_seed(hash((seed, epoch)) & (2**63 - 1))
    return torch.randperm(n, generator=g)


def draw_seed(seed: int | None = None) -> int:
    """``seed``, or one drawn from torch's generator, so ``torch.manual_seed`` fixes the order."""
    return int(torch.randint(2**62, (1,)).item()) if seed is None else int(seed)


class _EpochShuffle(data.Sampler):
    """A sampler whose order is :func:`epoch_order` (seed, epoch)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = epoch_order(self.n, self.seed, self.epoch)
        self.epoch += 1  # a loop that never calls set_epoch still gets a new order every epoch
        yield from order.tolist()


class _Collate:
    """Stack uint8 images and resize the whole batch at once (picklable for worker processes)."""

    def __init__(self, resize: int | None):
        self.resize = resize

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([x for x, _ in batch])
        labels = torch.stack([y for _, y in batch])
        return resize_batch(images, self.resize), labels


def batch_shapes(n: int, batch_size: int, image_shape, resize: int | None,
                 drop_last: bool = False) -> list[tuple[int, ...]]:
    """Shapes of the first and, if it is smaller, the last batch of ``n`` images."""
    c, h, w = image_shape
    if resize is not None:
        h = w = resize
    shapes = [(min(batch_size, n), c, h, w)]
    if n % batch_size and n > batch_size and not drop_last:
        shapes.append((n % batch_size, c, h, w))
    return shapes


class HostLoader(data.DataLoader):
    """A torch DataLoader over uint8 images in host memory, resizing whole batches.

    Adds what training needs to know: ``set_epoch`` (the order is a function of ``seed`` and
    the epoch) and ``batch_shapes()`` (checked against the network before any work).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 resize: int | None = None, shuffle: bool = False, seed: int | None = None,
                 num_workers: int = 0):
        self.images, self.resize = images, resize
        sampler = _EpochShuffle(len(labels), draw_seed(seed)) if shuffle else None
        super().__init__(data.TensorDataset(images, labels), batch_size, sampler=sampler,
                         num_workers=num_workers, collate_fn=_Collate(resize))

    @property
    def seed(self) -> int | None:
        return self.sampler.seed if isinstance(self.sampler, _EpochShuffle) else None

    @seed.setter
    def seed(self, value: int) -> None:
        if isinstance(self.sampler, _EpochShuffle):
            self.sampler.seed = int(value)

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.sampler, _EpochShuffle):
            self.sampler.set_epoch(epoch)

    def batch_shapes(self) -> list[tuple[int, ...]]:
        return batch_shapes(len(self.images), self.batch_size, self.images.shape[1:],
                            self.resize, self.drop_last)


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, *,
                            root: str | os.PathLike | None = None,
                            train_size: int | None = None, test_size: int | None = None,
                            num_workers: int = 0, seed: int | None = None,
                            device: str | torch.device | None = None,
                            rank: int = 0, world_size: int = 1):
    """d2l's loader: (train_iter, test_iter) yielding float images in [0, 1] and int64 labels.

    Called as the notes call it, ``load_data_fashion_mnist(256, resize=224)``, it returns
    DataLoaders (:class:`HostLoader`) over all 60,000/10,000 images. ``train_size`` and
    ``test_size`` take the first n of each split (the profiles use this); ``seed`` fixes the
    shuffling order (None: drawn from torch's generator). With ``device`` it returns
    :class:`DeviceLoader` s instead: the data moves to the device once and every batch is
    shuffled and resized there (the fast path); ``rank``/``world_size`` then give this process
    its share of every global batch of ``batch_size`` (data-parallel training).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if resize is not None and resize < 1:
        raise ValueError(f"resize must be a positive number of pixels, got {resize}")
    x_train, y_train = fashion_mnist_tensors(True, train_size, root)
    x_test, y_test = fashion_mnist_tensors(False, test_size, root)
    seed = draw_seed(seed)
    if device is not None:
        return (DeviceLoader(x_train, y_train, batch_size, resize, True, device, seed,
                             rank, world_size),
                DeviceLoader(x_test, y_test, batch_size, resize, False, device, seed,
                             rank, world_size))
    if world_size > 1:
        raise ValueError("data-parallel loading (world_size > 1) needs device=...: the fast "
                         "path shards the device-resident data")
    return (HostLoader(x_train, y_train, batch_size, resize, True, seed, num_workers),
            HostLoader(x_test, y_test, batch_size, resize, False, seed, num_workers))


class DeviceLoader:
    """Batches from a dataset that lives on the device as uint8, shuffled and resized there.

    The fast path for training: no worker processes, no per-image Python, one host-to-device
    copy for the whole run. Iterating yields the same ``(float images in [0, 1], int64
    labels)`` batches as :class:`HostLoader`, in the same order for the same seed.

    Data parallel (``world_size > 1``): every process draws the same permutation (same seed
    and epoch), cuts it into the same global batches of ``batch_size`` and keeps its share of
    each, every ``world_size``-th example from position ``rank``. So the processes together
    see exactly the batches one process would, and they all take the same number of steps. A
    last global batch too small to give every process an example is dropped.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 resize: int | None = None, shuffle: bool = False,
                 device: str | torch.device = "cpu", seed: int | None = None,
                 rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        if batch_size < world_size:
            raise ValueError(f"the global batch_size {batch_size} must give each of the "
                             f"{world_size} processes at least one example")
        self.device = torch.device(device)
        self.images, self.labels = images.to(self.device), labels.to(self.device)
        self.batch_size, self.resize, self.shuffle = batch_size, resize, shuffle
        self.rank, self.world_size = rank, world_size
        self.seed, self.epoch = draw_seed(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next iteration uses."""
        self.epoch = epoch

    def _starts(self) -> range:
        n, last = len(self.labels), len(self.labels) % self.batch_size
        end = n - last if 0 < last < self.world_size else n
        return range(0, end, self.batch_size)

    def __len__(self) -> int:
        return len(self._starts())

    def batch_shapes(self) -> list[tuple[int, ...]]:
        """This process's share of the first and (if smaller) the last batch, without loading."""
        c, h, w = self.images.shape[1:]
        if self.resize is not None:
            h = w = self.resize
        n = len(self.labels)
        sizes = {len(range(self.rank, min(self.batch_size, n - s), self.world_size))
                 for s in (self._starts()[0], self._starts()[-1])} if len(self) else set()
        return [(k, c, h, w) for k in sorted(sizes, reverse=True)]

    def __iter__(self):
        n = len(self.labels)
        if self.shuffle:
            order = epoch_order(n, self.seed, self.epoch).to(self.device)
            self.epoch += 1  # a loop that never calls set_epoch still gets a new order
        else:
            order = torch.arange(n, device=self.device)
        for start in self._starts():
            idx = order[start:start + self.batch_size][self.rank::self.world_size]
            yield resize_batch(self.images[idx], self.resize), self.labels[idx]


def get_fashion_mnist_labels(labels) -> list[str]:
    """Class indices -> names, as d2l's ``get_fashion_mnist_labels``."""
    return [TEXT_LABELS[int(i)] for i in labels]


text_labels = get_fashion_mnist_labels  # the name d2l's text uses
