"""Synthetic workloads: how long trials take and what they return.

:class:`DurationModel` gives each trial its seconds of work from a SPEC: a distribution of
:mod:`simulate.distributions`, or one that depends on the configuration:
``proportional:param=layers,scale=60,noise=0.1`` (scale × value) and
``inverse:param=batch_size,scale=6400,noise=0.1`` (scale / value), both times lognormal noise
with mean 1. :class:`DurationWorkload` runs trials of such durations that return one metric;
learning curves for multi-fidelity searches are in :mod:`simulate.curves`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from simulate.distributions import (
    DISTRIBUTIONS,
    ConstantDuration,
    DurationDistribution,
    LognormalDuration,
)
from simulate.draws import STREAM_DURATION, STREAM_METRIC, STREAM_STRAGGLER, KeyedDraws
from simulate.specs import parse_spec, positive, take_args, unknown_name

__all__ = [
    "CONFIG_DEPENDENT",
    "KNOWN_DURATIONS",
    "DurationModel",
    "DurationWorkload",
    "Workload",
    "config_score",
]

CONFIG_DEPENDENT = ("proportional", "inverse")
KNOWN_DURATIONS = (*DISTRIBUTIONS, *CONFIG_DEPENDENT)


class DurationModel:
    """Seconds of work (at speed 1) for each trial, from a SPEC string.

    ``straggler_prob`` makes that fraction of trials (chosen per trial id, independently of
    the duration draw) take ``straggler_factor`` times longer.
    """

    def __init__(
        self,
        spec: str | DurationDistribution,
        *,
        seed: int = 0,
        straggler_prob: float = 0.0,
        straggler_factor: float = 1.0,
        stream: int = STREAM_DURATION,
    ) -> None:
        if not (math.isfinite(straggler_prob) and 0.0 <= straggler_prob <= 1.0):
            raise ValueError(f"straggler_prob must be in [0, 1], got {straggler_prob!r}")
        if not (math.isfinite(straggler_factor) and straggler_factor > 0):
            raise ValueError(f"straggler_factor must be > 0, got {straggler_factor!r}")
        self.straggler_prob = straggler_prob
        self.straggler_factor = straggler_factor
        self._param: str | None = None
        self._inverse = False
        self._scale = 1.0
        if isinstance(spec, DurationDistribution):
            self.spec = spec.spec or repr(spec)
            dist = spec
        else:
            self.spec = spec
            name, args = parse_spec(spec)
            if name in CONFIG_DEPENDENT:
                a = take_args(spec, name, args, ("param", "scale"), {"noise": 0.0})
                self._param = str(a["param"])
                self._inverse = name == "inverse"
                self._scale = positive(spec, "scale", a["scale"])
                sigma = positive(spec, "noise", a["noise"], allow_zero=True)
                dist = (
                    LognormalDuration(1.0, sigma, spec)
                    if sigma > 0
                    else ConstantDuration(1.0, spec)
                )
            elif name in DISTRIBUTIONS:
                dist = DISTRIBUTIONS[name](spec, args)
            else:
                raise unknown_name(name, spec, KNOWN_DURATIONS, "duration distribution")
        self.distribution = dist
        self._draws = KeyedDraws(seed, stream, dist.sample)
        self._stragglers = (
            KeyedDraws(seed, STREAM_STRAGGLER, lambda rng, n: rng.random(n))
            if straggler_prob > 0 and straggler_factor != 1.0
            else None
        )

    @property
    def config_dependent(self) -> bool:
        return self._param is not None

    def plain_draws(self) -> KeyedDraws | None:
        """The raw per-trial draws when nothing modifies them (a fast path), else None."""
        return self._draws if self._param is None and self._stragglers is None else None

    def __call__(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """The duration of trial ``trial_id`` with ``config``."""
        value: float = self._draws[trial_id]
        if self._param is not None:
            value *= self._config_factor(config)
        if self._stragglers is not None and self._stragglers[trial_id] < self.straggler_prob:
            value *= self.straggler_factor
        return value

    def _config_factor(self, config: Mapping[str, Any]) -> float:
        assert self._param is not None
        if self._param not in config:
            raise ValueError(
                f"duration {self.spec!r} depends on parameter {self._param!r}, which the "
                f"configuration does not have (it has {sorted(config)}); add it to the space"
            )
        x = float(config[self._param])
        if self._inverse:
            if x <= 0:
                raise ValueError(
                    f"duration {self.spec!r} divides by {self._param}={x!r}; it must be > 0"
                )
            return self._scale / x
        return self._scale * x

    def __repr__(self) -> str:
        return f"DurationModel({self.spec!r})"


# --------------------------------------------------------------------------- workloads


class Workload(Protocol):
    """What a trial does in simulation: total work, reports and metric values."""

    metric: str
    steps: int  # intermediate reports in a full run; 0 means only a final result

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """Seconds of work at speed 1 for the full run."""
        ...

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> Sequence[float]:
        """The metric after each step (``max(steps, 1)`` values; the last is the final one)."""
        ...


def config_score(config: Mapping[str, Any]) -> float:
    """A stable pseudo-random number in [0, 1) that depends only on the configuration."""
    text = repr(sorted((str(k), repr(v)) for k, v in config.items()))
    return zlib.crc32(text.encode()) / 2**32


class DurationWorkload:
    """Trials that run for a drawn duration and return one metric value, without reports.

    The metric is ``value(config)`` when given, else a uniform draw per trial id.
    """

    steps = 0

    def __init__(
        self,
        durations: DurationModel | str,
        *,
        metric: str = "loss",
        seed: int = 0,
        value: Callable[[Mapping[str, Any]], float] | None = None,
    ) -> None:
        self.durations = (
            durations
            if isinstance(durations, DurationModel)
            else DurationModel(durations, seed=seed)
        )
        self.metric = metric
        self._value = value
        self._metric_draws = KeyedDraws(seed, STREAM_METRIC, lambda rng, n: rng.random(n))
        self._plain = self.durations.plain_draws()

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        if self._plain is not None:
            value: float = self._plain[trial_id]
            return value
        return self.durations(trial_id, config)

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        if self._value is not None:
            return [float(self._value(config))]
        return [self._metric_draws[trial_id]]
