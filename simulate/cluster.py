"""What the simulated cluster looks like: how many workers and when, how fast, how slow to start.

``workers`` is a count (K workers from the start) or a schedule of ``(time, count)`` pairs: at
each time the cluster scales to that many workers (new instances take ``startup_s`` to become
ready; scaling down retires idle workers first). Worker ``i`` runs at ``speeds[i % len(speeds)]``
times the nominal speed, so ``speeds=(1.0, 0.5)`` makes every other worker twice as slow.
Each attempt spends ``overhead_s`` before its first step, and each report of a multi-fidelity
workload ``report_overhead_s`` after its step's work (what sending the metrics and saving a
checkpoint cost: a table's seconds per step or a synthetic epoch count neither).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MARKETS", "ClusterSpec", "parse_int_list", "parse_schedule"]

MARKETS = ("on-demand", "spot")


def _nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


def _count(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


@dataclass(frozen=True)
class ClusterSpec:
    """Workers, their speeds and start-up time, what each attempt costs to launch and each
    report costs to make (on the worker's clock, whatever its speed)."""

    workers: int | Sequence[tuple[float, int]] = 1
    startup_s: float = 0.0  # instance start-up time (billed, not usable)
    speeds: Sequence[float] = (1.0,)
    overhead_s: float = 0.0  # per attempt: launch, imports, loading a checkpoint
    report_overhead_s: float = 0.0  # per report: sending it, saving the checkpoint (not scaled)
    slots: int = 1  # attempts a worker runs at once
    market: str = "on-demand"
    replace_lost: bool = True  # request a new instance when one fails, is preempted or retires

    def __post_init__(self) -> None:
        schedule = self.schedule  # validates
        if schedule[0][1] < 1 and all(n < 1 for _, n in schedule):
            raise ValueError(
                f"the cluster never has a worker (workers={self.workers!r}); give at least 1"
            )
        _nonneg("startup_s", self.startup_s)
        _nonneg("overhead_s", self.overhead_s)
        _nonneg("report_overhead_s", self.report_overhead_s)
        _count("slots", self.slots)
        speeds = tuple(self.speeds)
        if not speeds:
            raise ValueError("speeds must list at least one speed factor, e.g. (1.0,)")
        for s in speeds:
            if (
                isinstance(s, bool)
                or not isinstance(s, (int, float))
                or not (math.isfinite(s) and s > 0)
            ):
                raise ValueError(f"worker speeds must be numbers > 0, got {s!r} in {speeds!r}")
        object.__setattr__(self, "speeds", tuple(float(s) for s in speeds))
        if self.market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {self.market!r}")

    @property
    def schedule(self) -> list[tuple[float, int]]:
        """The worker count over time as sorted ``(time, count)`` pairs, starting at time 0."""
        if isinstance(self.workers, bool):
            raise ValueError(f"workers must be a count or a schedule, got {self.workers!r}")
        if isinstance(self.workers, int):
            return [(0.0, _count("workers", self.workers))]
        pairs: list[tuple[float, int]] = []
        try:
            items = list(self.workers)
        except TypeError:
            raise ValueError(
                f"workers must be a count or a list of (time, count) pairs, got {self.workers!r}"
            ) from None
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(
                    f"a worker schedule entry must be (time, count), got {item!r} in "
                    f"{self.workers!r}"
                )
            pairs.append(
                (
                    _nonneg("schedule time", item[0]),
                    _count("worker count", item[1], allow_zero=True),
                )
            )
        if not pairs:
            raise ValueError("the worker schedule is empty; give e.g. [(0, 4)]")
        pairs.sort(key=lambda p: p[0])
        if pairs[0][0] != 0.0:
            pairs.insert(0, (0.0, 0))
        return pairs

    def speed(self, index: int) -> float:
        return self.speeds[index % len(self.speeds)]


def parse_int_list(text: str, what: str = "workers") -> list[int]:
    """``"1,2,4,8"`` → ``[1, 2, 4, 8]``; every value a whole number >= 1."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a comma-separated list like 1,2,4,8, got {text!r}")
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise ValueError(
                f"{what} must be a comma-separated list of whole numbers like 1,2,4,8; "
                f"{part!r} in {text!r} is not one"
            ) from None
        if value < 1:
            raise ValueError(f"{what} must be >= 1, got {value} in {text!r}")
        values.append(value)
    return values


def parse_schedule(text: str) -> list[tuple[float, int]]:
    """``"0:4,3600:8"`` → ``[(0.0, 4), (3600.0, 8)]`` (seconds: worker count)."""
    pairs: list[tuple[float, int]] = []
    for part in text.split(","):
        time_text, sep, count_text = part.partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((float(time_text), int(count_text)))
        except ValueError:
            raise ValueError(
                f"a worker schedule is TIME:COUNT pairs like 0:4,3600:8; {part!r} in "
                f"{text!r} is not one"
            ) from None
    return ClusterSpec(workers=pairs).schedule
