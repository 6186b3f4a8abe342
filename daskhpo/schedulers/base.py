"""The scheduler interface: when to start, stop, pause and resume trials.

Schedulers are pure: seeded, synchronous, no ``distributed``, no wall clock. They receive trial
events with a timestamp ``now`` from the Tuner and answer with decisions, so the same object
runs on a real cluster and inside the simulator.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from daskhpo.milestones import NO_MILESTONES, Milestones
from daskhpo.searchers.base import Searcher
from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus


class Scheduler(abc.ABC):
    """Decides what runs. Owns the searcher, which decides which configurations to try."""

    searcher: Searcher
    metric: str
    mode: str
    rng: np.random.Generator
    #: How many attempts the cluster can run at once; kept current by the Tuner.
    capacity: int = 1

    def setup(
        self, *, searcher: Searcher, metric: str, mode: str, rng: np.random.Generator
    ) -> None:
        """Bind the scheduler to an experiment; called once by the Tuner."""
        self.searcher = searcher
        self.metric = metric
        self.mode = mode
        self.rng = rng

    @abc.abstractmethod
    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        """What to run next, or None for nothing now.

        ``trial_id`` is the id a new trial would get. ``allow_new`` is False once the tuner may
        start no more new trials; a scheduler may still resume paused ones.
        """

    @property
    def prefers_queue(self) -> bool:
        """Whether suggestions may be made well before a slot is free.

        True when a suggestion does not depend on results still to come (random or grid search
        without early stopping), so the Tuner can keep trials queued on the cluster and hide its
        round trips.
        """
        return False

    def milestones(self, trial_id: int) -> Milestones:
        """The report steps at which this scheduler may stop or pause the trial's next attempt.

        Asked as each attempt is submitted; a report at a milestone waits (bounded) for the
        decision, so it takes effect there and not one step later. None by default: a
        scheduler that never stops trials never makes a report wait.
        """
        return NO_MILESTONES

    def on_trial_start(self, trial: Trial, now: float) -> None:  # noqa: B027
        """A trial's first attempt was seen running."""

    def on_trial_report(
        self, trial: Trial, step: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        """An intermediate report; the answer decides whether the trial goes on."""
        value = metrics.get(self.metric)
        if value is not None:
            self.searcher.on_trial_report(trial.trial_id, step, float(value))
        return Decision.CONTINUE

    def on_trial_complete(self, trial: Trial, metrics: dict[str, Any], now: float) -> None:
        """The objective returned its final result."""
        self.searcher.on_trial_end(
            trial.trial_id, TrialStatus.COMPLETED, _value(metrics, self.metric)
        )

    def on_trial_stopped(self, trial: Trial, now: float) -> None:
        """The trial ended after a STOP or PAUSE decision (``trial.status`` says which)."""
        if trial.status is TrialStatus.STOPPED:
            self.searcher.on_trial_end(
                trial.trial_id, TrialStatus.STOPPED, trial.metric_value(self.metric)
            )

    def on_trial_error(self, trial: Trial, now: float) -> None:
        """The trial failed for good (its retry budget is spent)."""
        self.searcher.on_trial_end(trial.trial_id, TrialStatus.FAILED, None)


def _value(metrics: dict[str, Any], metric: str) -> float | None:
    value = metrics.get(metric)
    return None if value is None else float(value)
