"""Noise bands: when is a measured difference a finding, and when is it noise?

A test accuracy p measured on n images has a standard error of sqrt(p(1-p)/n): about 1.1 points
at 1,000 images. Two runs that differ by less than about two standard errors (or by less than
the spread between seeds, where there are seeds) have told us nothing, and the book says
"within noise" rather than "helped" or "hurt". Every verdict the chapters print goes through
here, so one rule decides them all.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

Z = 2.0  # a band of two standard errors: about 95 % for a normal estimate


@dataclass(frozen=True)
class Difference:
    """A measured difference ``value`` (new minus old) and its noise ``band`` (Z standard
    errors). Formats as ``+0.0123 ± 0.0110`` with the format spec applied to both numbers."""

    value: float
    band: float

    def __post_init__(self):
        if not (math.isfinite(self.value) and math.isfinite(self.band) and self.band >= 0):
            raise ValueError(f"a Difference needs a finite value and a finite band >= 0, got "
                             f"value={self.value!r}, band={self.band!r}")

    @property
    def sign(self) -> int:
        """+1 above the band, -1 below it, 0 within noise."""
        if self.value > self.band:
            return 1
        if self.value < -self.band:
            return -1
        return 0

    def word(self, up: str, down: str, same: str = "within noise") -> str:
        """``up``, ``down`` or ``same``, as the sign says."""
        return {1: up, -1: down, 0: same}[self.sign]

    def __format__(self, spec: str) -> str:
        spec = spec or ".4f"
        return f"{self.value:+{spec}} ± {self.band:{spec}}"

    def __str__(self) -> str:
        return format(self)


def _check_fraction(p: float, what: str) -> None:
    if not (isinstance(p, (int, float)) and 0 <= p <= 1):
        raise ValueError(f"{what} must be an accuracy in [0, 1], got {p!r}")


def _check_count(n: int, what: str) -> None:
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"{what} must be a positive number of images, got {n!r}")


def accuracy_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` images (binomial)."""
    _check_fraction(p, "p")
    _check_count(n, "n")
    return math.sqrt(p * (1 - p) / n)


def difference(value: float, se: float) -> Difference:
    """A difference with standard error ``se``: the band is ``Z * se``."""
    return Difference(float(value), Z * float(se))


def accuracy_difference(new: float, old: float, n: int, n_old: int | None = None) -> Difference:
    """``new - old`` for two accuracies measured on ``n`` (and ``n_old``) independent images."""
    n_old = n if n_old is None else n_old
    _check_fraction(new, "new")
    _check_fraction(old, "old")
    se = math.hypot(accuracy_se(new, n), accuracy_se(old, n_old))
    return difference(new - old, se)


def seed_difference(new: Sequence[float], old: Sequence[float]) -> Difference:
    """Mean of ``new`` minus mean of ``old``, each over seeds; the band comes from the spread
    between seeds (the standard error of each mean), so it holds every source of noise."""
    if len(new) < 2 or len(old) < 2:
        raise ValueError(f"seed_difference needs at least 2 seeds on each side, got "
                         f"{len(new)} and {len(old)}")
    se = math.hypot(statistics.stdev(new) / math.sqrt(len(new)),
                    statistics.stdev(old) / math.sqrt(len(old)))
    return difference(statistics.fmean(new) - statistics.fmean(old), se)
