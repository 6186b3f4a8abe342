"""What the state keeps for displays and results: reports and counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, init=False)
class ReportRecord:
    """One intermediate report, as kept for ``Result.reports``."""

    trial_id: int
    attempt: int
    time: float
    step: float
    metrics: dict[str, Any]

    def __init__(
        self, trial_id: int, attempt: int, time: float, step: float, metrics: dict[str, Any]
    ) -> None:
        # Filled directly: one per report, and the frozen dataclass's generated __init__ is slow.
        d = self.__dict__
        d["trial_id"] = trial_id
        d["attempt"] = attempt
        d["time"] = time
        d["step"] = step
        d["metrics"] = metrics


@dataclass
class TunerStats:
    """Counters for progress displays and notes."""

    created: int = 0
    started: int = 0
    completed: int = 0
    stopped: int = 0
    paused: int = 0
    failed: int = 0
    user_retries: int = 0
    resubmitted: int = 0  # attempts resubmitted after a lost worker (not charged)
    reports: int = 0
    verdict_waits: int = 0  # milestone reports that waited for the driver's verdict
    verdict_timeouts: int = 0  # of those, waits that ended without a verdict (went on)


def seeded_generators(seed: int | None, n: int) -> list[np.random.Generator]:
    """Independent generators for the searcher, scheduler, ... from one user seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
