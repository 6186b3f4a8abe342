"""Trials, their statuses, and the decisions schedulers make about them.

A *trial* is one configuration being evaluated. It may run several times: each run is an
*attempt*. An attempt ends because the objective finished, because a scheduler stopped or
paused it, because the objective raised (a user failure, which spends the trial's retry
budget) or because the worker running it was lost (an infrastructure failure, which does not).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class TrialStatus(str, enum.Enum):
    """Where a trial is in its life."""

    PENDING = "PENDING"  # submitted, not yet seen running
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # left a checkpoint at a rung; may be resumed with a larger budget
    COMPLETED = "COMPLETED"  # the objective returned
    STOPPED = "STOPPED"  # a scheduler stopped it early (pruned)
    FAILED = "FAILED"  # the objective raised (retry budget spent) or kept killing workers
    CANCELLED = "CANCELLED"  # the search ended (budget, target, Ctrl-C) first; resumable

    @property
    def is_finished(self) -> bool:
        """True for statuses a trial never leaves."""
        return self in (TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.FAILED)


class Decision(str, enum.Enum):
    """A scheduler's answer to an intermediate report."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"  # end the trial for good; it is recorded as STOPPED
    PAUSE = "PAUSE"  # end this attempt; the scheduler may resume the trial later


@dataclass(frozen=True, init=False)
class Suggestion:
    """What a scheduler wants run next.

    Either a new trial with ``config`` or, with ``resume_trial_id``, a paused trial continued
    (promotion in ASHA, a PBT step). ``checkpoint_trial_id`` asks for the new attempt to start
    from another trial's checkpoint (PBT exploit). ``budget`` is the resource level (epochs,
    steps...) the attempt may reach before the scheduler decides again; None means unbounded.
    """

    config: dict[str, Any]
    resume_trial_id: int | None = None
    checkpoint_trial_id: int | None = None
    budget: float | None = None

    def __init__(
        self,
        config: dict[str, Any],
        resume_trial_id: int | None = None,
        checkpoint_trial_id: int | None = None,
        budget: float | None = None,
    ) -> None:
        # Filled directly: the frozen dataclass's generated __init__ is slow (one per trial).
        d = self.__dict__
        d["config"] = config
        d["resume_trial_id"] = resume_trial_id
        d["checkpoint_trial_id"] = checkpoint_trial_id
        d["budget"] = budget


@dataclass(slots=True)
class Trial:
    """Everything the driver knows about one trial. Mutated only by the Tuner."""

    trial_id: int
    config: dict[str, Any]
    status: TrialStatus = TrialStatus.PENDING
    attempt: int = 0  # number of the current (or last) attempt, from 0
    user_failures: int = 0  # attempts ended by the objective raising
    infra_failures: int = 0  # attempts ended by a lost worker (not charged)
    verdict_timeouts: int = 0  # milestone reports that went on without the driver's verdict
    resources: dict[str, float] = field(default_factory=dict)
    budget: float | None = None
    checkpoint_trial_id: int | None = None
    created_at: float = 0.0
    started_at: float | None = None  # first time any attempt was seen running
    ended_at: float | None = None
    worker: str | None = None
    last_metrics: dict[str, Any] = field(default_factory=dict)  # latest report or final result
    last_step: float | None = None
    error: str | None = None  # traceback text of the last user failure, or why it gave up

    def metric_value(self, metric: str) -> float | None:
        """The trial's latest value of ``metric``, or None if it never reported one."""
        value = self.last_metrics.get(metric)
        if value is None:
            return None
        value = float(value)
        return None if math.isnan(value) else value


def better(a: float, b: float, mode: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` under ``mode`` ("min" or "max")."""
    return a < b if mode == "min" else a > b


def check_mode(mode: str) -> str:
    """Validate an optimisation direction."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode
