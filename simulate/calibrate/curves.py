"""Learning curves: ``floor(config) + gain(config) * shape(step)``, a power law or an
exponential, as rich in the configuration as cross-validation supports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulate.calibrate.features import (
    MIN_GAIN,
    Array,
    cv_folds,
    expand,
    expand_row,
    least_squares,
)

__all__ = ["CurveFit", "fit_curve"]


@dataclass(frozen=True)
class CurveFit:
    """``floor · features + (gain · features) * shape(step) + offset + noise``.

    ``shape`` is ``step ** -rate`` (``family="power"``) or ``exp(-step / rate)``
    (``family="exp"``); ``offsets`` are per-trial departures from the fit (resampled, shrunk
    by the noise in their estimate), ``noise`` the standard deviation of a single report.
    """

    family: str
    rate: float
    floor: tuple[float, ...]
    gain: tuple[float, ...]
    offsets: tuple[float, ...]
    noise: float
    config_dependent: bool
    trials: int
    reports: int
    cv_error: float | None
    cv_error_shape_only: float | None
    reason: str
    squares: tuple[int, ...] = ()

    def levels(self, row: Sequence[float]) -> tuple[float, float]:
        """``floor`` and ``gain`` for a configuration's design row."""
        full = expand_row(row, self.squares) if self.squares else row
        floor = sum(c * x for c, x in zip(self.floor, full, strict=True))
        gain = sum(c * x for c, x in zip(self.gain, full, strict=True))
        return float(floor), float(gain)

    def shape(self, steps: Array) -> Array:
        if self.family == "power":
            return np.asarray(steps ** (-self.rate), dtype=np.float64)
        return np.asarray(np.exp(-steps / self.rate), dtype=np.float64)

    def offset(self, u: float) -> float:
        if not self.offsets:
            return 0.0
        return self.offsets[min(int(u * len(self.offsets)), len(self.offsets) - 1)]

    @property
    def description(self) -> str:
        if self.family == "power":
            return f"a power law (step^-{self.rate:.3g})"
        return f"an exponential (exp(-step/{self.rate:.3g}))"


def _shapes(max_step: float) -> dict[str, Array]:
    """Candidate rates of each family, on a log grid."""
    return {
        "power": np.geomspace(0.05, 4.0, 40),
        "exp": np.geomspace(0.25, 4.0 * max(max_step, 1.0), 40),
    }


def _curve_design(floor_x: Array, gain_x: Array, h: Array) -> Array:
    return np.hstack([floor_x, gain_x * h[:, None]])


def _shape_values(family: str, rate: float, t: Array) -> Array:
    return np.asarray(t ** (-rate) if family == "power" else np.exp(-t / rate), dtype=np.float64)


def _sse(
    floor_x: Array, gain_x: Array, t: Array, v: Array, family: str, rate: float
) -> tuple[float, Array]:
    d = _curve_design(floor_x, gain_x, _shape_values(family, rate, t))
    coef = least_squares(d, v)
    return float(np.sum((v - d @ coef) ** 2)), coef


def _best_shape(
    floor_x: Array, gain_x: Array, t: Array, v: Array
) -> tuple[str, float, Array, float]:
    """The family and rate with the least squared error: a log grid, then a golden-section
    search between the best grid point's neighbours."""

    def sse(family: str, rate: float) -> float:
        return _sse(floor_x, gain_x, t, v, family, rate)[0]

    best: tuple[str, float, Array, float] | None = None
    for family, grid in _shapes(float(t.max())).items():
        errors = [sse(family, float(r)) for r in grid]
        i = int(np.argmin(errors))
        lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fa, fb = sse(family, math.exp(a)), sse(family, math.exp(b))
        for _ in range(30):
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - ratio * (hi - lo)
                fa = sse(family, math.exp(a))
            else:
                lo, a, fa = a, b, fb
                b = lo + ratio * (hi - lo)
                fb = sse(family, math.exp(b))
        candidates = [(errors[i], float(grid[i])), (fa, math.exp(a)), (fb, math.exp(b))]
        _, rate = min(candidates)
        err, coef = _sse(floor_x, gain_x, t, v, family, rate)
        if best is None or err < best[3] - 1e-12:
            best = (family, rate, coef, err)
    assert best is not None
    return best


def fit_curve(
    x_trials: Array,
    trial_index: np.ndarray[Any, np.dtype[np.int64]],
    t: Array,
    v: Array,
    groups: Sequence[int],
    labels: Sequence[str],
    squares: Sequence[int] = (),
) -> CurveFit:
    """Fit learning curves to reports ``v`` at steps ``t`` of trials ``trial_index``.

    Candidates from simple to rich: one curve for all; a floor linear in the features; floor
    and gain linear in them; the same with the squares of the numeric features. A richer one
    is chosen only if it cuts the cross-validated error (trials held out) of the one chosen
    so far by :data:`MIN_GAIN`.
    """
    n_trials, width = x_trials.shape
    p = width - 1
    x_full = x_trials[trial_index]
    x_sq = expand(x_full, squares)
    ones = x_full[:, :1]
    # (floor design, gain design, squares used, what it is called)
    candidates: list[tuple[Array, Array, tuple[int, ...], str]] = [(ones, ones, (), "one curve")]
    if p > 0 and n_trials >= width + 2:
        candidates.append((x_full, ones, (), "floor"))
    if p > 0 and n_trials >= 2 * width + 2:
        candidates.append((x_full, x_full, (), "floor and gain"))
    if squares and n_trials >= 2 * x_sq.shape[1] + 2:
        candidates.append((x_sq, x_sq, tuple(squares), "with squares"))
    shapes = [_best_shape(f, g, t, v) for f, g, _, _ in candidates]
    names = ", ".join(labels)
    chosen = 0
    errors: list[float] = []
    if len(candidates) == 1:
        reason = "the same curve for every configuration " + (
            "(no parameters)" if p == 0 else f"({n_trials} trials are too few to tell apart)"
        )
    else:
        folds = cv_folds([groups[i] for i in trial_index])

        def cv(floor_x: Array, gain_x: Array, family: str, rate: float) -> float:
            d = _curve_design(floor_x, gain_x, _shape_values(family, rate, t))
            total = 0.0
            for test in folds:
                coef = least_squares(d[~test], v[~test])
                total += float(np.sum((v[test] - d[test] @ coef) ** 2))
            return total / len(v)

        errors = [cv(f, g, s[0], s[1]) for (f, g, _, _), s in zip(candidates, shapes, strict=True)]
        for i in range(1, len(candidates)):
            if errors[i] < (1.0 - MIN_GAIN) * errors[chosen]:
                chosen = i
        scores = ", ".join(f"{c[3]} {e:.3g}" for c, e in zip(candidates, errors, strict=True))
        what = {
            0: f"one curve for all configurations (letting it depend on {names} did not help)",
            1: f"the floor depends on {names}",
            2: f"floor and gain depend on {names}",
            3: f"floor and gain depend on {names} and their squares",
        }[chosen]
        reason = f"{what}; cross-validated mean squared error: {scores}"
    floor_x, gain_x, used, _ = candidates[chosen]
    family, rate, coef, _ = shapes[chosen]
    design_width = x_sq.shape[1] if used else width
    wf, wg = floor_x.shape[1], gain_x.shape[1]
    floor = tuple(float(c) for c in coef[:wf]) + (0.0,) * (design_width - wf)
    gain = tuple(float(c) for c in coef[wf:]) + (0.0,) * (design_width - wg)
    pred = _curve_design(floor_x, gain_x, _shape_values(family, rate, t)) @ coef
    offsets, noise = _offsets_and_noise(v - pred, trial_index, n_trials)
    return CurveFit(
        family=family,
        rate=float(rate),
        floor=floor,
        gain=gain,
        offsets=offsets,
        noise=noise,
        config_dependent=chosen > 0,
        trials=len(set(trial_index.tolist())),
        reports=len(v),
        cv_error=errors[chosen] if errors else None,
        cv_error_shape_only=errors[0] if errors else None,
        reason=reason,
        squares=used,
    )


def _offsets_and_noise(
    residuals: Array, trial_index: np.ndarray[Any, np.dtype[np.int64]], n_trials: int
) -> tuple[tuple[float, ...], float]:
    """Per-trial mean residuals, shrunk to the spread the report noise does not explain."""
    counts = np.bincount(trial_index, minlength=n_trials).astype(np.float64)
    sums = np.bincount(trial_index, weights=residuals, minlength=n_trials)
    seen = counts > 0
    means = sums[seen] / counts[seen]
    within = residuals - (sums / np.maximum(counts, 1.0))[trial_index]
    dof = len(residuals) - int(seen.sum())
    noise_var = float(np.sum(within**2)) / dof if dof > 0 else 0.0
    if len(means) < 2:
        return (), math.sqrt(noise_var)
    spread = float(np.var(means, ddof=1))
    between = max(0.0, spread - float(np.mean(noise_var / counts[seen])))
    scale = math.sqrt(between / spread) if spread > 0 else 0.0
    offsets = tuple(sorted(float(m) * scale for m in means - means.mean()))
    return offsets, math.sqrt(noise_var)
