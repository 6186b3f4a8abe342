"""Repeats of a simulated setting: a seed for each, and a confidence interval over them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mean_ci", "repeat_seed"]

# Two-sided 95 % Student-t quantiles by degrees of freedom.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat``: independent streams from one user seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % confidence interval; the interval collapses to the mean for one value."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, mean, mean
    t = _T95[len(arr) - 2] if len(arr) - 1 <= len(_T95) else 1.96
    half = t * float(arr.std(ddof=1)) / math.sqrt(len(arr))
    return mean, mean - half, mean + half
