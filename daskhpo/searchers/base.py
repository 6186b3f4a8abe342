"""The searcher interface: which configuration to try next."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from daskhpo.space import SearchSpace
from daskhpo.trial import TrialStatus


class Searcher(abc.ABC):
    """Proposes configurations. Pure: seeded, no wall clock, no cluster.

    The Tuner calls :meth:`setup` once before the first :meth:`suggest`; schedulers forward
    trial events so that model-based searchers can learn from them.
    """

    space: SearchSpace
    metric: str
    mode: str
    rng: np.random.Generator

    def setup(
        self, space: SearchSpace, *, metric: str, mode: str, rng: np.random.Generator
    ) -> None:
        """Bind the searcher to an experiment."""
        self.space = space
        self.metric = metric
        self.mode = mode
        self.rng = rng

    @abc.abstractmethod
    def suggest(self, trial_id: int) -> dict[str, Any] | None:
        """A configuration for trial ``trial_id``, or None when there is nothing left to try."""

    def on_trial_report(self, trial_id: int, step: float, value: float) -> None:  # noqa: B027
        """An intermediate value of the metric (model-based searchers may use it)."""

    def on_trial_end(  # noqa: B027
        self, trial_id: int, status: TrialStatus, value: float | None
    ) -> None:
        """A trial finished for good with ``status``; ``value`` is its last metric value."""
