"""The median stopping rule (Golovin et al. 2017, Google Vizier).

At a report at resource ``t`` (past the grace period), a trial is stopped when its best
value so far is worse than the median of the *running averages up to t* of the other
trials that have reached ``t`` (any status), provided there are at least ``min_samples``
of them. This is the rule of Vizier and of Ray Tune's ``MedianStoppingRule``; Optuna's
``MedianPruner`` compares the value at the step instead of the best so far.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from daskhpo.milestones import NO_MILESTONES, Milestones
from daskhpo.schedulers._rungs import (
    MultiFidelityScheduler,
    check_int,
    check_min_resource,
    check_number,
)
from daskhpo.schedulers._running_median import RunningMedian
from daskhpo.trial import Decision, Suggestion, Trial


@dataclass
class _History:
    """One trial's reports as (resource, running sum) pairs, in resource order."""

    resources: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)
    best: float = float("inf")

    def add(self, resource: float, key: float) -> tuple[float, float]:
        """Record a report; returns the span ``[low, high]`` of resources whose running mean
        may have changed (so the peer index updates only those levels)."""
        resources, sums = self.resources, self.sums
        if key < self.best:
            self.best = key
        if not resources:
            resources.append(resource)
            sums.append(0.0 + key)  # as a running sum from zero: -0.0 becomes 0.0
            return resource, resource
        old_last = resources[-1]
        if old_last < resource:  # the usual report: further than the last one
            resources.append(resource)
            sums.append(sums[-1] + key)
            return math.nextafter(old_last, math.inf), resource
        # The trial went back (restarted without a checkpoint): its later reports go.
        cut = bisect.bisect_left(resources, resource)
        del resources[cut:], sums[cut:]
        resources.append(resource)
        sums.append((sums[-1] if sums else 0.0) + key)
        return resource, old_last

    def running_mean(self, resource: float) -> float | None:
        """The mean of the values reported up to ``resource``, if the trial got that far."""
        if not self.resources or self.resources[-1] < resource:
            return None
        count = bisect.bisect_right(self.resources, resource)
        return self.sums[count - 1] / count if count else None


class _PeerMeans:
    """For each resource level judged so far, the running means of every trial that reached
    it, in a :class:`RunningMedian`, so a median of peers costs O(1) and a new mean O(log n)
    (NaN means are counted apart: a NaN peer makes the median NaN, as numpy's would be).

    A level is indexed the first time a report is judged at it (one pass over the trials);
    after that each report updates only the levels its trial's history changed at, usually
    one. Resources on a fixed grid (epochs, steps) keep the levels few.
    """

    def __init__(self) -> None:
        self._levels: list[float] = []  # sorted; few (one per resource level judged)
        # level -> the running means there: a multiset of floats is all a median needs
        # (which of two equal means is a trial's own does not change it).
        self._means: dict[float, RunningMedian] = {}
        self._nan: dict[float, set[int]] = {}  # level -> trials whose mean there is NaN
        self._entry: dict[int, dict[float, float]] = {}  # trial -> level -> mean put there

    def _put(self, level: float, trial_id: int, mean: float | None) -> None:
        entries = self._entry.get(trial_id)
        if entries is None:
            entries = self._entry[trial_id] = {}
        old = entries.pop(level, None)
        if old is not None:
            if math.isnan(old):
                self._nan[level].discard(trial_id)
            else:
                self._means[level].remove(old)
        if mean is None:
            return
        entries[level] = mean
        if math.isnan(mean):
            self._nan[level].add(trial_id)
        else:
            self._means[level].add(mean)

    def changed(self, trial_id: int, history: _History, low: float, high: float) -> None:
        """The trial's running means at levels in ``[low, high]`` may have changed."""
        levels = self._levels
        first, last = bisect.bisect_left(levels, low), bisect.bisect_right(levels, high)
        for level in levels[first:last]:
            self._put(level, trial_id, history.running_mean(level))

    def index(self, level: float, histories: dict[int, _History]) -> None:
        """Start keeping ``level`` (if new): every trial's running mean there."""
        if level in self._means:
            return
        bisect.insort(self._levels, level)
        self._means[level] = RunningMedian()
        self._nan[level] = set()
        for trial_id, history in histories.items():
            self._put(level, trial_id, history.running_mean(level))

    def median_without(self, level: float, trial_id: int) -> tuple[int, float]:
        """How many other trials reached ``level``, and the median of their running means
        (the mean of the two middle ones for an even count, as ``numpy.median``)."""
        means, nan = self._means[level], self._nan[level]
        entries = self._entry.get(trial_id)
        own = entries.get(level) if entries is not None else None
        other_nan = len(nan) - (trial_id in nan) if nan else 0
        if own is not None and math.isnan(own):
            own = None  # counted in ``nan``, not one of ``means``
        count = len(means) - (own is not None) + other_nan
        if count == 0 or other_nan:
            return count, math.nan
        return count, means.median_without(own)


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
        self._peers = _PeerMeans()
        #: Every report from the grace period on (the same for every trial: built once).
        self._milestones = (
            Milestones((self.grace_period,), every=0.0) if self.uses_step else NO_MILESTONES
        )

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        if not allow_new:
            return None
        config = self.searcher.suggest(trial_id)
        return None if config is None else Suggestion(config)

    def milestones(self, trial_id: int) -> Milestones:
        """Every report from the grace period on: the rule may stop a trial at any of them."""
        return self._milestones

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        if self.max_resource is not None and resource > self.max_resource:
            return Decision.STOP
        key = self.key_of(metrics)
        if key is None:
            return Decision.CONTINUE
        history = self._history.get(trial.trial_id)
        if history is None:
            history = self._history[trial.trial_id] = _History()
        low, high = history.add(resource, key)
        self._peers.changed(trial.trial_id, history, low, high)
        if resource < self.grace_period:
            return Decision.CONTINUE
        self._peers.index(resource, self._history)
        peers, median = self._peers.median_without(resource, trial.trial_id)
        if peers < self.min_samples:
            return Decision.CONTINUE
        return Decision.STOP if history.best > median else Decision.CONTINUE
