"""What the simulator keeps per attempt: its plan, its checkpointed progress, where it runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daskhpo.milestones import MilestoneTracker
    from simulate.workers import SimWorker

__all__ = ["Saved", "Segment", "SimAttempt"]

#: One stretch of an attempt on a worker slot: (worker, trial_id, attempt, start, end, outcome).
Segment = tuple[int, int, int, float, float, str]


class SimAttempt:
    """One attempt of a trial: its plan, its checkpointed progress and where it runs."""

    __slots__ = (
        "attempt",
        "budget",
        "config",
        "curve",
        "done",
        "done0",
        "emitted",
        "held_at",
        "milestones",
        "seq",
        "speed",
        "start",
        "step",
        "stop",
        "trial_id",
        "work",
        "work_start",
        "worker",
    )

    def __init__(self, trial_id: int, attempt: int, budget: float | None) -> None:
        self.trial_id = trial_id
        self.attempt = attempt
        self.budget = budget
        self.config: dict[str, Any] = {}
        self.work = 0.0  # seconds of work at speed 1 for the full run
        self.curve: Sequence[float] = ()  # metric after each step; the last is the final result
        self.done = 0.0  # work saved in the trial's checkpoint
        self.step = 0  # reports made up to the checkpoint
        self.stop: bool | None = None  # None: run on; True: pause; False: stop
        self.seq = -1  # seq of its pending heap event; -1 when none is valid
        self.worker: SimWorker | None = None
        self.start = 0.0
        self.work_start = 0.0
        self.done0 = 0.0
        self.speed = 1.0
        self.emitted = 0
        self.milestones: MilestoneTracker | None = None  # reports that wait for a verdict
        self.held_at = -1.0  # when it last reported at a milestone (waiting for the verdict)

    def progress(self, t: float) -> float:
        """Work done on the trial (all attempts) by this attempt at time ``t``: the time it
        has run since ``work_start`` (which each report's cost moves on) at its speed."""
        ran = max(0.0, t - self.work_start) * self.speed
        return min(self.done0 + ran, self.work)

    def save(self, done: float, steps: int) -> None:
        """Checkpoint ``done`` seconds of work (never going back); with ``steps`` reports per
        run, the checkpoint's step is the last whole one reached and reported."""
        if done <= self.done:
            return
        self.done = done
        if steps:
            per_step = self.work / steps
            step = math.floor(done / per_step + 1e-9) if per_step > 0 else steps
            self.step = max(self.step, min(self.emitted, step))


#: What a trial keeps between attempts: (config, work, curve, checkpointed work, step).
Saved = tuple[dict[str, Any], float, Sequence[float], float, int]
