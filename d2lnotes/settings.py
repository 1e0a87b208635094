"""Run profiles: one environment variable scales every notebook.

The seed trains ResNet-18 on all of Fashion-MNIST at 224 px for 10 epochs. That is right on a
GPU and hopeless on a 2-core CI machine, so every notebook reads its sizes from a profile:

* ``smoke``: CI. Seconds per notebook, on a small subset of the real data.
* ``quick``: a reader on a CPU. Minutes.
* ``full``:  the seed's settings (10 epochs, batch 256, resize 224, 60,000/10,000; the learning
  rate, 0.05, is the recipe's: :data:`d2lnotes.recipe.RECIPES`).

``D2LNOTES_PROFILE`` picks one; the default ``auto`` means ``full`` when CUDA is available and
``quick`` otherwise. Run ``python -m d2lnotes.settings`` to print the profile in force.
"""
from __future__ import annotations

import dataclasses
import os

import torch

from .device import try_gpu

ENV_VAR = "D2LNOTES_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """The sizes a notebook runs at. Frozen so that a notebook cannot change them by accident."""

    name: str
    resize: int  # image side in pixels fed to the network (Fashion-MNIST is 28x28)
    train_size: int  # number of training images used (the first ``train_size`` of 60,000)
    test_size: int  # number of test images used (the first ``test_size`` of 10,000)
    epochs: int  # passes over the training images
    batch_size: int  # images per SGD step

    def describe(self, device: str | torch.device | None = None) -> str:
        """What actually runs, and on a second line what the notes run: each line fits the
        book's 80-character code column."""
        device = device if device is not None else try_gpu()
        full = PROFILES["full"]
        return (
            f"profile {self.name} on {device}: resize {self.resize}, "
            f"{self.train_size:,}/{self.test_size:,} images, {_plural(self.epochs, 'epoch')}, "
            f"batch {self.batch_size}\n(the notes: resize {full.resize}, "
            f"{full.train_size:,}/{full.test_size:,} images, {_plural(full.epochs, 'epoch')}, "
            f"batch {full.batch_size})"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# Sizes for ResNet-18 runs. Notebooks that train smaller networks (LeNet, MLPs) or several
# of them keep their own budget per profile name, next to the experiment it sizes.
PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", resize=28, train_size=1_024, test_size=512, epochs=1,
                     batch_size=128),
    "quick": Profile("quick", resize=28, train_size=6_000, test_size=1_000, epochs=2,
                     batch_size=128),
    "full": Profile("full", resize=224, train_size=60_000, test_size=10_000, epochs=10,
                    batch_size=256),
}
VALID_NAMES = ("auto", *PROFILES)


def get_profile(name: str | None = None) -> Profile:
    """Resolve a profile name (argument, else ``$D2LNOTES_PROFILE``, else ``auto``).

    Raises ``ValueError`` listing the valid names for anything unknown, so a typo in the
    environment variable fails loudly instead of silently running the wrong sizes.
    """
    source = "argument"
    if name is None:
        name, source = os.environ.get(ENV_VAR, "").strip() or "auto", ENV_VAR
    key = name.strip().lower()
    if key == "auto":
        key = "full" if torch.cuda.is_available() else "quick"
    if key not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r} (from {source}); valid profiles: {', '.join(VALID_NAMES)}"
        )
    return PROFILES[key]


if __name__ == "__main__":  # used by the Makefile to key the book's execution cache
    print(get_profile().name)
