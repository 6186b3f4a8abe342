"""Regression features of a configuration, and the linear algebra the fits share."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daskhpo.space import Choice, Grid, LogRandInt, LogUniform, RandInt, SearchSpace, Uniform

__all__ = [
    "CV_FOLDS",
    "MIN_GAIN",
    "Array",
    "Column",
    "columns_for",
    "cv_folds",
    "design",
    "expand",
    "expand_row",
    "least_squares",
    "squared_columns",
]

#: A regression is chosen only if it cuts the cross-validated error by this fraction.
MIN_GAIN = 0.05
#: Ridge penalty per observation on the feature coefficients (features are in [0, 1]): a
#: numerical guard for features the data never varies (an unseen category), nothing more.
RIDGE = 1e-9
CV_FOLDS = 5

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Column:
    """One regression feature of a configuration, in [0, 1] over the parameter's domain.

    ``linear``: ``(value - low) / (high - low)``; ``log``: the same on ``log(value)``;
    ``category``: 1 when the parameter equals ``category``, else 0.
    """

    param: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    category: Any = None

    @property
    def label(self) -> str:
        if self.kind == "log":
            return f"log({self.param})"
        if self.kind == "category":
            return f"{self.param}={self.category}"
        return self.param

    def value(self, config: Mapping[str, Any]) -> float:
        if self.param not in config:
            raise ValueError(
                f"the configuration has no parameter {self.param!r} (it has {sorted(config)}); "
                "plan with the search space the experiment was calibrated on"
            )
        raw = config[self.param]
        if self.kind == "category":
            return 1.0 if _key(raw) == _key(self.category) else 0.0
        x = float(raw)
        if self.kind == "log":
            x = math.log(max(x, 1e-300))
        return (x - self.low) / (self.high - self.low) if self.high > self.low else 0.0


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def columns_for(space: SearchSpace) -> list[Column]:
    """The regression features of a search space's sampled parameters."""
    columns: list[Column] = []
    for name, domain in space.domains.items():
        if isinstance(domain, (Uniform, RandInt)):
            columns.append(Column(name, "linear", float(domain.low), float(domain.high)))
        elif isinstance(domain, (LogUniform, LogRandInt)):
            columns.append(
                Column(name, "log", math.log(float(domain.low)), math.log(float(domain.high)))
            )
        elif isinstance(domain, (Choice, Grid)):
            values = domain.categories if isinstance(domain, Choice) else domain.values
            columns.extend(Column(name, "category", category=v) for v in values[1:])
    return columns


def design(columns: Sequence[Column], configs: Sequence[Mapping[str, Any]]) -> Array:
    """The design matrix: an intercept column, then one column per feature."""
    out = np.ones((len(configs), len(columns) + 1))
    for i, config in enumerate(configs):
        for j, column in enumerate(columns):
            out[i, j + 1] = column.value(config)
    return out


def least_squares(x: Array, y: Array) -> Array:
    """Least squares with a small ridge penalty on every coefficient but the intercept."""
    n, p = x.shape
    penalty = np.sqrt(RIDGE * max(n, 1)) * np.eye(p)[1:]
    coef, *_ = np.linalg.lstsq(np.vstack([x, penalty]), np.concatenate([y, np.zeros(p - 1)]))
    return np.asarray(coef, dtype=np.float64)


def cv_folds(groups: Sequence[int], k: int = CV_FOLDS) -> list[np.ndarray[Any, np.dtype[np.bool_]]]:
    """Test masks of a K-fold split that keeps each group (a trial) in one fold."""
    unique = sorted(set(groups))
    order = np.random.default_rng(0).permutation(len(unique))
    fold_of = {unique[j]: i % min(k, len(unique)) for i, j in enumerate(order)}
    labels = np.array([fold_of[g] for g in groups])
    return [labels == f for f in range(min(k, len(unique)))]


def squared_columns(columns: Sequence[Column]) -> tuple[int, ...]:
    """Positions in a design row (after the intercept) of the numeric features: a quadratic
    model adds their squares, so a best value inside the domain can be represented."""
    return tuple(j + 1 for j, c in enumerate(columns) if c.kind != "category")


def expand(x: Array, squares: Sequence[int]) -> Array:
    """A design matrix with the squares of the columns ``squares`` appended."""
    return np.hstack([x, x[:, list(squares)] ** 2]) if squares else x


def expand_row(row: Sequence[float], squares: Sequence[int]) -> list[float]:
    return [*row, *(row[i] ** 2 for i in squares)]
