"""The median stopping rule (Golovin et al. 2017, Google Vizier).

At a report at resource ``t`` (past the grace period), a trial is stopped when its best
value so far is worse than the median of the *running averages up to t* of the other
trials that have reached ``t`` (any status), provided there are at least ``min_samples``
of them. This is the rule of Vizier and of Ray Tune's ``MedianStoppingRule``; Optuna's
``MedianPruner`` compares the value at the step instead of the best so far.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daskhpo.schedulers._rungs import (
    MultiFidelityScheduler,
    check_int,
    check_min_resource,
    check_number,
)
from daskhpo.trial import Decision, Suggestion, Trial


@dataclass
class _History:
    """One trial's reports as (resource, running sum) pairs, in resource order."""

    resources: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)
    best: float = float("inf")

    def add(self, resource: float, key: float) -> None:
        cut = bisect.bisect_left(self.resources, resource)
        if cut < len(self.resources):  # the trial went back (restarted without checkpoint)
            del self.resources[cut:], self.sums[cut:]
        self.resources.append(resource)
        self.sums.append((self.sums[-1] if self.sums else 0.0) + key)
        self.best = min(self.best, key)

    def running_mean(self, resource: float) -> float | None:
        """The mean of the values reported up to ``resource``, if the trial got that far."""
        if not self.resources or self.resources[-1] < resource:
            return None
        count = bisect.bisect_right(self.resources, resource)
        return self.sums[count - 1] / count if count else None


class MedianStoppingScheduler(MultiFidelityScheduler):
    """Stops trials that fall below the median of their peers.

    ``grace_period`` (alias ``min_resource``) is the resource before which no trial is
    stopped; ``min_samples`` the number of peers needed before judging; ``max_resource``,
    if given, stops trials that report beyond it.
    """

    def __init__(
        self,
        *,
        resource: str | None = None,
        grace_period: float | None = None,
        min_resource: float | None = None,
        min_samples: int = 3,
        max_resource: float | None = None,
    ) -> None:
        super().__init__(resource)
        self.grace_period = check_min_resource(min_resource, grace_period)
        self.min_samples = check_int("min_samples", min_samples)
        self.max_resource = (
            None if max_resource is None else check_number("max_resource", max_resource)
        )
        if self.max_resource is not None and self.grace_period > self.max_resource:
            raise ValueError(
                f"grace_period = {self.grace_period:g} is larger than max_resource = "
                f"{self.max_resource:g}; lower grace_period or raise max_resource"
            )
        self._history: dict[int, _History] = {}

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        if not allow_new:
            return None
        config = self.searcher.suggest(trial_id)
        return None if config is None else Suggestion(config)

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        if self.max_resource is not None and resource > self.max_resource:
            return Decision.STOP
        key = self.key_of(metrics)
        if key is None:
            return Decision.CONTINUE
        history = self._history.setdefault(trial.trial_id, _History())
        history.add(resource, key)
        if resource < self.grace_period:
            return Decision.CONTINUE
        means = (h.running_mean(resource) for t, h in self._history.items() if t != trial.trial_id)
        peers = [m for m in means if m is not None]
        if len(peers) < self.min_samples:
            return Decision.CONTINUE
        return Decision.STOP if history.best > float(np.median(peers)) else Decision.CONTINUE
