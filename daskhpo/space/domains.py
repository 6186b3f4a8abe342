"""Hyperparameter domains (uniform, loguniform, randint, lograndint, choice, grid) and the
factory functions users call; each domain validates its bounds once, when it is made."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from daskhpo.errors import SpaceError
from daskhpo.space._checks import (
    as_float,
    as_int,
    as_values,
    clamp_half_open,
    is_int_value,
    is_real_value,
    same,
)

__all__ = [
    "DOMAINS",
    "Choice",
    "Domain",
    "Grid",
    "LogRandInt",
    "LogUniform",
    "RandInt",
    "Uniform",
    "choice",
    "grid",
    "lograndint",
    "loguniform",
    "randint",
    "uniform",
]


class Domain(abc.ABC):
    """One hyperparameter's set of values."""

    name: ClassVar[str]
    #: Whether :meth:`sample` is ``from_unit(float(rng.random()))``: one uniform draw, mapped
    #: (so a searcher may draw the uniforms of many configurations at once, in the same order).
    from_one_uniform: ClassVar[bool] = False

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value using ``rng`` (and no other source of randomness)."""

    def from_unit(self, u: float) -> Any:
        """The value a uniform draw ``u`` in [0, 1) maps to (``from_one_uniform`` domains)."""
        raise NotImplementedError(f"{type(self).__name__} is not sampled from one uniform draw")

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON-able form, e.g. ``{"loguniform": [0.0001, 1.0]}``."""

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` could have been drawn from this domain."""


@dataclass(frozen=True)
class Uniform(Domain):
    """Real numbers drawn uniformly from the half-open interval [low, high)."""

    name: ClassVar[str] = "uniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        low = as_float(self.name, "low", self.low)
        high = as_float(self.name, "high", self.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpaceError(
                f"uniform needs finite bounds, got low={low!r}, high={high!r}; use finite numbers"
            )
        if not low < high:
            raise SpaceError(
                f"uniform needs low < high, got low={low!r}, high={high!r}; "
                f"swap the bounds, or use a constant for a single value"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    from_one_uniform: ClassVar[bool] = True

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(float(rng.random()))

    def from_unit(self, u: float) -> float:
        # This form cannot overflow for wide ranges; clamp rounding back into [low, high).
        value = self.low * (1.0 - u) + self.high * u
        return clamp_half_open(value, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return is_real_value(value) and self.low <= float(value) < self.high


@dataclass(frozen=True)
class LogUniform(Domain):
    """Positive reals in [low, high) whose logarithm is uniform (for rates, penalties...)."""

    name: ClassVar[str] = "loguniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        low = as_float(self.name, "low", self.low)
        high = as_float(self.name, "high", self.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpaceError(
                f"loguniform needs finite bounds, got low={low!r}, high={high!r}; "
                f"use finite numbers"
            )
        if not low > 0:
            raise SpaceError(
                f"loguniform needs 0 < low < high, got low={low!r}, high={high!r}; "
                f"log needs a positive lower bound, so use uniform(...) for a range "
                f"that includes 0"
            )
        if not low < high:
            raise SpaceError(
                f"loguniform needs 0 < low < high, got low={low!r}, high={high!r}; "
                f"swap the bounds, or use a constant for a single value"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    from_one_uniform: ClassVar[bool] = True

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(float(rng.random()))

    def from_unit(self, u: float) -> float:
        log_low, log_high = math.log(self.low), math.log(self.high)
        value = math.exp(log_low * (1.0 - u) + log_high * u)
        return clamp_half_open(value, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return is_real_value(value) and self.low <= float(value) < self.high


@dataclass(frozen=True)
class RandInt(Domain):
    """Integers drawn uniformly from [low, high], BOTH bounds inclusive.

    Unlike Ray Tune's ``randint`` (exclusive upper bound) and like Optuna's ``suggest_int``:
    ``randint(1, 3)`` yields 1, 2 or 3.
    """

    name: ClassVar[str] = "randint"
    low: int
    high: int

    def __post_init__(self) -> None:
        low = as_int(self.name, "low", self.low)
        high = as_int(self.name, "high", self.high)
        if not low <= high:
            raise SpaceError(
                f"randint needs low <= high (both inclusive), got low={low!r}, high={high!r}; "
                f"swap the bounds"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return is_int_value(value) and self.low <= int(value) <= self.high


@dataclass(frozen=True)
class LogRandInt(Domain):
    """Integers in [low, high], both inclusive, spread log-uniformly (for widths, batch sizes).

    A draw is ``floor(exp(u))`` with ``u`` uniform on ``[log(low), log(high + 1))``, so each
    integer ``k`` gets probability proportional to ``log((k + 1) / k)``.
    """

    name: ClassVar[str] = "lograndint"
    low: int
    high: int

    def __post_init__(self) -> None:
        low = as_int(self.name, "low", self.low)
        high = as_int(self.name, "high", self.high)
        if not low >= 1:
            raise SpaceError(
                f"lograndint needs 1 <= low <= high, got low={low!r}, high={high!r}; "
                f"log needs a positive lower bound, so use randint(...) for a range "
                f"that includes 0 or negative numbers"
            )
        if not low <= high:
            raise SpaceError(
                f"lograndint needs low <= high (both inclusive), got low={low!r}, "
                f"high={high!r}; swap the bounds"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    from_one_uniform: ClassVar[bool] = True

    def sample(self, rng: np.random.Generator) -> int:
        return self.from_unit(float(rng.random()))

    def from_unit(self, u: float) -> int:
        log_low, log_high = math.log(self.low), math.log(self.high + 1)
        value = math.floor(math.exp(log_low * (1.0 - u) + log_high * u))
        # exp(log(low)) may round just below low; exp(log(high + 1)) is excluded by u < 1.
        return max(self.low, min(self.high, int(value)))

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return is_int_value(value) and self.low <= int(value) <= self.high


@dataclass(frozen=True)
class Choice(Domain):
    """One of a fixed list of categories, each equally likely; returns the object itself."""

    name: ClassVar[str] = "choice"
    categories: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", as_values(self.name, self.categories))

    def sample(self, rng: np.random.Generator) -> Any:
        return self.categories[int(rng.integers(len(self.categories)))]

    def to_dict(self) -> dict[str, Any]:
        return {self.name: list(self.categories)}

    def contains(self, value: Any) -> bool:
        return any(same(value, c) for c in self.categories)


@dataclass(frozen=True)
class Grid(Domain):
    """Values enumerated exhaustively by the grid searcher, each exactly once.

    Duplicates are rejected because they would run the same grid point twice. ``sample``
    picks uniformly; it is only used when something random-samples a grid domain.
    """

    name: ClassVar[str] = "grid"
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        values = as_values(self.name, self.values)
        for i, value in enumerate(values):
            if any(same(value, earlier) for earlier in values[:i]):
                raise SpaceError(
                    f"grid values must be distinct, got {value!r} twice in {list(values)!r}; "
                    f"remove the duplicate"
                )
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self) -> dict[str, Any]:
        return {self.name: list(self.values)}

    def contains(self, value: Any) -> bool:
        return any(same(value, v) for v in self.values)


# --------------------------------------------------------------------------- factories


def uniform(low: float, high: float) -> Uniform:
    """Real numbers uniform on [low, high)."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """Positive reals on [low, high) with a uniform logarithm; needs 0 < low < high."""
    return LogUniform(low, high)


def randint(low: int | np.integer[Any], high: int | np.integer[Any]) -> RandInt:
    """Integers uniform on [low, high], BOTH bounds inclusive (like Optuna, unlike Ray Tune)."""
    return RandInt(as_int(RandInt.name, "low", low), as_int(RandInt.name, "high", high))


def lograndint(low: int | np.integer[Any], high: int | np.integer[Any]) -> LogRandInt:
    """Integers on [low, high], both inclusive, log-distributed; needs low >= 1."""
    return LogRandInt(as_int(LogRandInt.name, "low", low), as_int(LogRandInt.name, "high", high))


def choice(categories: Sequence[Any] | np.ndarray[Any, Any]) -> Choice:
    """One of ``categories``, uniformly; any sequence is accepted and stored as a tuple."""
    return Choice(as_values(Choice.name, categories))


def grid(values: Sequence[Any] | np.ndarray[Any, Any]) -> Grid:
    """Values the grid searcher enumerates exhaustively, in the given order."""
    return Grid(as_values(Grid.name, values))


#: Each domain class by the name its YAML form uses.
DOMAINS: dict[str, type[Domain]] = {
    cls.name: cls for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice, Grid)
}
