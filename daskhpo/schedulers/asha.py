"""Asynchronous successive halving (ASHA, Li et al. 2020), stopping and promotion variants.

Rungs sit at ``min_resource * reduction_factor**k`` below ``max_resource``. Nothing waits
for a rung to fill, so every worker stays busy:

* ``variant="stopping"`` (the default, as in Ray Tune): a trial runs on; when it reaches a
  rung it is stopped unless fewer than ``n / reduction_factor`` of the ``n`` trials recorded
  there so far are better (the top ``1/reduction_factor``, rounded up, at decision time).
* ``variant="promotion"``: a trial pauses at each rung, leaving its checkpoint. Whenever a
  slot is free, a paused trial in the top ``floor(n / reduction_factor)`` of its rung is
  promoted (resumed with the next rung as its budget), highest rung first; only when none is
  promotable does a new trial start, with the first rung as its budget.

A trial is stopped at ``max_resource`` if its objective goes on reporting beyond it.
"""

from __future__ import annotations

from typing import Any

from daskhpo.milestones import NO_MILESTONES, Milestones
from daskhpo.schedulers._rungs import (
    MultiFidelityScheduler,
    Rung,
    check_min_resource,
    check_rung_params,
    rung_levels,
)
from daskhpo.trial import Decision, Suggestion, Trial

VARIANTS = ("stopping", "promotion")


class ASHAScheduler(MultiFidelityScheduler):
    """Asynchronous successive halving with one bracket.

    ``resource`` names the reported metric that measures progress (default: the report's
    step); ``min_resource`` (alias ``grace_period``) is the first rung, ``max_resource`` the
    most a trial trains, ``reduction_factor`` the eta of the papers.
    """

    def __init__(
        self,
        *,
        max_resource: float,
        resource: str | None = None,
        min_resource: float | None = None,
        grace_period: float | None = None,
        reduction_factor: float = 3,
        variant: str = "stopping",
    ) -> None:
        super().__init__(resource)
        self.min_resource = check_min_resource(min_resource, grace_period)
        self.max_resource, self.reduction_factor = check_rung_params(
            min_resource=self.min_resource,
            max_resource=max_resource,
            reduction_factor=reduction_factor,
        )
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        self.variant = variant
        self.brackets: list[list[Rung]] = [
            [Rung(level) for level in levels] for levels in self._bracket_levels()
        ]
        self._bracket_of: dict[int, int] = {}
        self._next_rung: dict[int, int] = {}  # trial -> first rung it has not reached yet
        self._milestones: dict[tuple[int, int], Milestones] = {}  # (bracket, rung) -> them

    def _bracket_levels(self) -> list[list[float]]:
        """The rung levels of each bracket."""
        return [rung_levels(self.min_resource, self.max_resource, self.reduction_factor)]

    def _choose_bracket(self) -> int:
        """The bracket of a new trial."""
        return 0

    @property
    def promotes(self) -> bool:
        return self.variant == "promotion"

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        if self.promotes:
            promotion = self._promotion()
            if promotion is not None:
                return promotion
        if not allow_new:
            return None
        config = self.searcher.suggest(trial_id)
        if config is None:
            return None
        bracket = self._choose_bracket()
        self._bracket_of[trial_id] = bracket
        self._next_rung[trial_id] = 0
        rungs = self.brackets[bracket]
        budget = self.budget_for(rungs[0].level) if self.promotes and rungs else None
        return Suggestion(config, budget=budget)

    def milestones(self, trial_id: int) -> Milestones:
        """The rungs of the trial's bracket it has not reached yet (a step resource only)."""
        if not self.uses_step:
            return NO_MILESTONES
        where = (self._bracket_of.get(trial_id, 0), self._next_rung.get(trial_id, 0))
        milestones = self._milestones.get(where)
        if milestones is None:  # a few bracket/rung pairs: each built once, then shared
            rungs = self.brackets[where[0]]
            milestones = self._milestones[where] = Milestones(
                tuple(r.level for r in rungs[where[1] :])
            )
        return milestones

    def _promotion(self) -> Suggestion | None:
        """Resume the best paused trial in the top of a rung, highest rung first."""
        for rungs in self.brackets:
            for index in range(len(rungs) - 1, -1, -1):
                for trial_id in rungs[index].iter_promotable(self.reduction_factor):
                    if trial_id not in self._paused:
                        continue  # still on its way to pausing, or finished
                    rungs[index].promoted.add(trial_id)
                    nxt = rungs[index + 1].level if index + 1 < len(rungs) else None
                    return self.resume(trial_id, budget=self.budget_for(nxt))
        return None

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        if resource > self.max_resource:
            return Decision.STOP  # beyond the budget; at max_resource the objective returns
        key = self.key_of(metrics)
        if key is None:
            return Decision.CONTINUE
        tid = trial.trial_id
        bracket = self._bracket_of.setdefault(tid, 0)
        rungs = self.brackets[bracket]
        first = self._next_rung.setdefault(tid, 0)
        last = len(rungs) - 1
        if first > last or rungs[first].level > resource:
            return Decision.CONTINUE  # short of its next rung (most reports)
        index = first  # a report that jumps several rungs counts at the highest
        while index < last and rungs[index + 1].level <= resource:
            index += 1
        rungs[index].record(tid, key)
        self._next_rung[tid] = index + 1
        if self.promotes:
            return Decision.PAUSE
        if rungs[index].continues(tid, self.reduction_factor):
            return Decision.CONTINUE
        return Decision.STOP
