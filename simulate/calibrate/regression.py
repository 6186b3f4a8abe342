"""Time per trial (or per step) and the final metric: a regression on the configuration, or
the empirical distribution when no regression beats it in cross-validation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulate.calibrate.features import (
    MIN_GAIN,
    Array,
    cv_folds,
    expand,
    expand_row,
    least_squares,
)

__all__ = ["LinearFit", "fit_linear"]


@dataclass(frozen=True)
class LinearFit:
    """``y = coef · features + residual``, the residual resampled from the measured ones.

    ``kind="empirical"`` has only an intercept: it resamples the measured values. A
    regression uses the squares of the features at ``squares`` too, when they helped.
    """

    target: str
    kind: str
    coef: tuple[float, ...]
    residuals: tuple[float, ...]
    n: int
    cv_error: float | None
    cv_error_empirical: float | None
    reason: str
    squares: tuple[int, ...] = ()

    def mean(self, row: Sequence[float]) -> float:
        full = expand_row(row, self.squares) if self.squares else row
        return float(sum(c * x for c, x in zip(self.coef, full, strict=True)))

    def draw(self, row: Sequence[float], u: float) -> float:
        """The value for features ``row`` with the residual picked by ``u`` in [0, 1)."""
        residual = self.residuals[min(int(u * len(self.residuals)), len(self.residuals) - 1)]
        return self.mean(row) + residual


def fit_linear(
    x: Array,
    y: Array,
    groups: Sequence[int],
    labels: Sequence[str],
    target: str,
    squares: Sequence[int] = (),
) -> LinearFit:
    """A regression of ``y`` on ``x`` (and, if it helps, the squares of the columns at
    ``squares``), or the empirical distribution when no regression beats it."""
    n, width = int(x.shape[0]), int(x.shape[1])
    p = width - 1
    mean = float(y.mean())
    empirical_coef = (mean,) + (0.0,) * p
    empirical_res = tuple(sorted(float(v) for v in y - mean))

    def empirical(reason: str, cv: float | None = None, cv_emp: float | None = None) -> LinearFit:
        return LinearFit(target, "empirical", empirical_coef, empirical_res, n, cv, cv_emp, reason)

    if p == 0:
        return empirical(f"the empirical distribution of {n} measured values (no parameters)")
    if n < p + 4:
        return empirical(
            f"the empirical distribution of {n} measured values: too few for a regression on "
            f"{p} features (it needs at least {p + 4})"
        )
    folds = cv_folds(groups)

    def cv(design: Array) -> float:
        total = 0.0
        for test in folds:
            coef = least_squares(design[~test], y[~test])
            total += float(np.sum((y[test] - design[test] @ coef) ** 2))
        return total / n

    cv_emp = sum(float(np.sum((y[test] - y[~test].mean()) ** 2)) for test in folds) / n
    names = ", ".join(labels)
    chosen: tuple[Array, tuple[int, ...], float] | None = None
    cv_lin = cv(x)
    if cv_lin < (1.0 - MIN_GAIN) * cv_emp:
        chosen = (x, (), cv_lin)
    x_sq = expand(x, squares)
    if squares and n >= x_sq.shape[1] + 4:
        cv_sq = cv(x_sq)
        if cv_sq < (1.0 - MIN_GAIN) * (chosen[2] if chosen else cv_emp):
            chosen = (x_sq, tuple(squares), cv_sq)
    if chosen is None:
        return empirical(
            f"the empirical distribution of {n} measured values: a regression on {names} did "
            f"not beat it in cross-validation (mean squared error {cv_lin:.3g} vs {cv_emp:.3g})",
            cv_lin,
            cv_emp,
        )
    design, used, cv_reg = chosen
    coef = least_squares(design, y)
    residuals = y - design @ coef
    inflate = math.sqrt(n / max(n - design.shape[1], 1))  # fitted residuals understate noise
    on = f"{names} and their squares" if used else names
    return LinearFit(
        target,
        "regression",
        tuple(float(c) for c in coef),
        tuple(sorted(float(r) * inflate for r in residuals)),
        n,
        cv_reg,
        cv_emp,
        f"a regression on {on} with the measured residuals (cross-validated mean squared "
        f"error {cv_reg:.3g} vs {cv_emp:.3g} for the empirical distribution, {n} trials)",
        used,
    )
