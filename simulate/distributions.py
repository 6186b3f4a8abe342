"""Random durations (seconds) from SPEC strings: ``constant:60``, ``exponential:mean=60``,
``lognormal:mean=60,sigma=1``, ``uniform:low=30,high=90``, ``gamma:mean=60,cv=0.5``.

Each is a :class:`DurationDistribution` that draws ``n`` values from a numpy Generator it is
given; which Generator (and so which trial gets which draw) is :mod:`simulate.draws`' job.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulate.specs import parse_spec, positive, take_args, unknown_name

__all__ = [
    "DISTRIBUTIONS",
    "ConstantDuration",
    "DurationDistribution",
    "ExponentialDuration",
    "GammaDuration",
    "LognormalDuration",
    "UniformDuration",
    "parse_distribution",
]


class DurationDistribution(abc.ABC):
    """Positive random durations (seconds)."""

    spec: str

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """``n`` draws using only ``rng``."""

    @property
    @abc.abstractmethod
    def mean(self) -> float:
        """The expected value."""


@dataclass(frozen=True)
class ConstantDuration(DurationDistribution):
    value: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.full(n, self.value)

    @property
    def mean(self) -> float:
        return self.value


@dataclass(frozen=True)
class ExponentialDuration(DurationDistribution):
    mean_: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_


@dataclass(frozen=True)
class LognormalDuration(DurationDistribution):
    mean_: float
    sigma: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        mu = math.log(self.mean_) - self.sigma**2 / 2
        return rng.lognormal(mu, self.sigma, n)

    @property
    def mean(self) -> float:
        return self.mean_


@dataclass(frozen=True)
class UniformDuration(DurationDistribution):
    low: float
    high: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return rng.uniform(self.low, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class GammaDuration(DurationDistribution):
    mean_: float
    cv: float  # coefficient of variation: sd / mean
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_ / shape, n)

    @property
    def mean(self) -> float:
        return self.mean_


def _parse_constant(spec: str, args: dict[str, Any]) -> DurationDistribution:
    a = take_args(
        spec, "constant", {("value" if k == "" else k): v for k, v in args.items()}, ("value",), {}
    )
    return ConstantDuration(positive(spec, "value", a["value"], allow_zero=True), spec)


def _parse_exponential(spec: str, args: dict[str, Any]) -> DurationDistribution:
    a = take_args(
        spec,
        "exponential",
        {("mean" if k == "" else k): v for k, v in args.items()},
        (),
        {"mean": None, "rate": None},
    )
    if (a["mean"] is None) == (a["rate"] is None):
        raise ValueError(f"exponential needs mean=... or rate=... (one of them) in {spec!r}")
    mean = a["mean"] if a["mean"] is not None else 1.0 / positive(spec, "rate", a["rate"])
    return ExponentialDuration(positive(spec, "mean", mean), spec)


def _parse_lognormal(spec: str, args: dict[str, Any]) -> DurationDistribution:
    a = take_args(spec, "lognormal", args, ("mean",), {"sigma": 1.0})
    return LognormalDuration(
        positive(spec, "mean", a["mean"]),
        positive(spec, "sigma", a["sigma"], allow_zero=True),
        spec,
    )


def _parse_uniform(spec: str, args: dict[str, Any]) -> DurationDistribution:
    a = take_args(spec, "uniform", args, ("low", "high"), {})
    low = positive(spec, "low", a["low"], allow_zero=True)
    high = positive(spec, "high", a["high"])
    if not low < high:
        raise ValueError(f"uniform needs low < high, got low={low!r}, high={high!r} in {spec!r}")
    return UniformDuration(low, high, spec)


def _parse_gamma(spec: str, args: dict[str, Any]) -> DurationDistribution:
    a = take_args(spec, "gamma", args, ("mean",), {"cv": 1.0})
    return GammaDuration(positive(spec, "mean", a["mean"]), positive(spec, "cv", a["cv"]), spec)


DISTRIBUTIONS: dict[str, Callable[[str, dict[str, Any]], DurationDistribution]] = {
    "constant": _parse_constant,
    "exponential": _parse_exponential,
    "lognormal": _parse_lognormal,
    "uniform": _parse_uniform,
    "gamma": _parse_gamma,
}


def parse_distribution(spec: str) -> DurationDistribution:
    """A duration distribution from a SPEC string such as ``lognormal:mean=60,sigma=1``."""
    name, args = parse_spec(spec)
    if name not in DISTRIBUTIONS:
        raise unknown_name(name, spec, tuple(DISTRIBUTIONS), "duration distribution")
    return DISTRIBUTIONS[name](spec, args)
