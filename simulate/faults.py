"""Things that take workers away: failures, spot preemption with a grace window, walltime.

Rates are per worker-hour (failures) and per spot instance-hour (preemptions); the time to the
next event is exponential (a Poisson process). Each instance draws its fault times from a
generator keyed by (seed, instance index), so two runs with the same seed lose the same
instances at the same times whatever runs on them (common random numbers).

What survives a loss is the trial's last checkpoint: every intermediate report is one (the
objective saves before it reports), ``checkpoint_interval_s`` adds periodic ones for trials
without reports, and with ``save_on_notice`` a preempted trial saves during its grace window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FaultModel", "FaultTimes"]

STREAM_FAULTS = 10


def _rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of events per hour, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 per hour, got {value!r}")
    return float(value)


def _seconds(name: str, value: Any, *, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (allow_none and value == 0):
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FaultTimes:
    """When one instance will fail, get a preemption notice and retire (seconds after ready)."""

    failure: float
    preemption: float
    walltime: float


@dataclass(frozen=True)
class FaultModel:
    """How often workers go away, and what a trial keeps when they do."""

    failure_rate: float = 0.0  # worker failures per worker-hour
    preemption_rate: float = 0.0  # preemptions per spot instance-hour (spot only)
    grace_s: float = 120.0  # notice before a preempted instance dies
    walltime_s: float | None = None  # workers retire this long after they became ready
    checkpoint_interval_s: float | None = None  # periodic checkpoints (work seconds)
    save_on_notice: bool = True  # a preempted trial checkpoints in its grace window

    def __post_init__(self) -> None:
        _rate("failure_rate", self.failure_rate)
        _rate("preemption_rate", self.preemption_rate)
        _seconds("grace_s", self.grace_s, allow_none=False)
        _seconds("walltime_s", self.walltime_s, allow_none=True)
        _seconds("checkpoint_interval_s", self.checkpoint_interval_s, allow_none=True)

    @property
    def active(self) -> bool:
        return bool(self.failure_rate or self.preemption_rate or self.walltime_s)

    def draw(self, seed: int, index: int, *, spot: bool) -> FaultTimes:
        """Fault times for instance ``index``; infinity for what never happens."""
        rng = np.random.default_rng([seed, STREAM_FAULTS, index])
        u_fail, u_preempt = rng.random(2)
        failure = _exponential(u_fail, self.failure_rate)
        preemption = _exponential(u_preempt, self.preemption_rate) if spot else math.inf
        walltime = math.inf if self.walltime_s is None else self.walltime_s
        return FaultTimes(failure, preemption, walltime)

    def checkpoint(self, done: float, saved: float) -> float:
        """Work kept after a loss: the last periodic checkpoint at or below ``done``."""
        interval = self.checkpoint_interval_s
        if interval is None:
            return saved
        return max(saved, math.floor(done / interval) * interval)


def _exponential(u: float, rate_per_hour: float) -> float:
    if rate_per_hour <= 0:
        return math.inf
    return -math.log1p(-float(u)) * 3600.0 / rate_per_hour
