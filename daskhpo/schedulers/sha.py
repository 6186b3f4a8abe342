"""Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018).

A bracket starts ``n`` configurations at the first rung, waits until every one of them has
reached it (each pauses there, leaving a checkpoint), keeps the best ``1/reduction_factor``
and resumes them with the next rung as their budget, and so on up to ``max_resource``.
Slots stay idle while a rung waits for its slowest trial: this is the synchronous baseline
that ASHA improves on. When a bracket ends, the next one starts while new trials are allowed.

Trials that were not kept stay PAUSED: their checkpoints are intact, nothing more is spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from daskhpo.milestones import NO_MILESTONES, Milestones
from daskhpo.schedulers._rungs import (
    _TOL,
    MultiFidelityScheduler,
    check_int,
    check_min_resource,
    check_rung_params,
    rung_levels,
)
from daskhpo.trial import Decision, Suggestion, Trial


@dataclass
class SyncBracket:
    """The state of one running bracket: its plan and the rung it is on."""

    plan: tuple[tuple[int, float], ...]  # (n_k, r_k) per rung, the last one at max_resource
    rung: int = 0
    open: bool = True  # the first rung still takes new trials
    members: list[int] = field(default_factory=list)  # trials of the current rung
    arrived: dict[int, float | None] = field(default_factory=dict)  # member -> key at the rung
    to_resume: list[int] = field(default_factory=list)  # kept trials not yet resumed

    @property
    def level(self) -> float:
        return self.plan[self.rung][1]

    @property
    def at_top(self) -> bool:
        return self.rung == len(self.plan) - 1


def halving_plan(
    num_configs: int, min_resource: float, max_resource: float, eta: float
) -> tuple[tuple[int, float], ...]:
    """``(n_k, r_k)`` of one successive-halving bracket: ``n_k = floor(n / eta**k)`` (at
    least 1) at ``r_k = min_resource * eta**k``, the last rung at ``max_resource``."""
    levels = [*rung_levels(min_resource, max_resource, eta), max_resource]
    return tuple(
        (max(1, math.floor(num_configs / eta**k + _TOL)), level) for k, level in enumerate(levels)
    )


class SuccessiveHalvingScheduler(MultiFidelityScheduler):
    """Synchronous successive halving; ``num_configs`` defaults to ``eta**(rungs - 1)``, so
    exactly one configuration reaches ``max_resource``."""

    def __init__(
        self,
        *,
        max_resource: float,
        resource: str | None = None,
        min_resource: float | None = None,
        grace_period: float | None = None,
        reduction_factor: float = 3,
        num_configs: int | None = None,
    ) -> None:
        super().__init__(resource)
        self.min_resource = check_min_resource(min_resource, grace_period)
        self.max_resource, self.reduction_factor = check_rung_params(
            min_resource=self.min_resource,
            max_resource=max_resource,
            reduction_factor=reduction_factor,
        )
        rungs = len(rung_levels(self.min_resource, self.max_resource, self.reduction_factor))
        if num_configs is None:
            num_configs = math.ceil(self.reduction_factor**rungs - _TOL)
        self.num_configs = check_int("num_configs", num_configs)
        self.current: SyncBracket | None = None
        self.brackets_started = 0
        self._exhausted = False  # the searcher has nothing more to try

    def bracket_plan(self, index: int) -> tuple[tuple[int, float], ...]:
        """The plan of the ``index``-th bracket (every bracket is the same here)."""
        return halving_plan(
            self.num_configs, self.min_resource, self.max_resource, self.reduction_factor
        )

    def _budget(self, bracket: SyncBracket) -> float | None:
        return None if bracket.at_top else self.budget_for(bracket.level)

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        while True:
            bracket = self.current
            if bracket is None:
                if not allow_new or self._exhausted:
                    return None
                bracket = self.current = SyncBracket(self.bracket_plan(self.brackets_started))
                self.brackets_started += 1
            if bracket.open:
                if allow_new and len(bracket.members) < bracket.plan[0][0]:
                    config = self.searcher.suggest(trial_id)
                    if config is not None:
                        bracket.members.append(trial_id)
                        return Suggestion(config, budget=self._budget(bracket))
                    self._exhausted = True
                bracket.open = False
                if not bracket.members:
                    self.current = None
                    return None
            for tid in [t for t in bracket.to_resume if t in self._done]:
                bracket.to_resume.remove(tid)  # it finished instead of pausing: it cannot go on
                bracket.arrived[tid] = None
            for tid in bracket.to_resume:
                if tid in self._paused:
                    bracket.to_resume.remove(tid)
                    return self.resume(tid, budget=self._budget(bracket))
            if bracket.to_resume or len(bracket.arrived) < len(bracket.members):
                return None  # the rung is not complete: wait (the synchronous cost)
            kept = [] if bracket.at_top else self._select(bracket)
            if not kept:
                self.current = None  # bracket done; start the next one if allowed
                continue
            bracket.rung += 1
            bracket.members = kept
            bracket.arrived = {}
            bracket.to_resume = list(kept)

    def milestones(self, trial_id: int) -> Milestones:
        """The level of the rung the trial runs towards (its budget below the top rung)."""
        bracket = self._member(trial_id)
        if bracket is None or not self.uses_step:
            return NO_MILESTONES
        return Milestones((bracket.level,))

    def _select(self, bracket: SyncBracket) -> list[int]:
        """The best ``floor(n / eta)`` (at least 1, at most the plan's) that can go on."""
        planned = bracket.plan[bracket.rung + 1][0]
        count = min(planned, max(1, math.floor(len(bracket.members) / self.reduction_factor)))
        ranked = sorted(
            (key, tid)
            for tid, key in bracket.arrived.items()
            if key is not None and tid not in self._done
        )
        return [tid for _, tid in ranked[:count]]

    def _member(self, trial_id: int) -> SyncBracket | None:
        """The current bracket if the trial is running in its current rung, not yet arrived."""
        bracket = self.current
        if (
            bracket is None
            or trial_id not in bracket.members
            or trial_id in bracket.arrived
            or trial_id in bracket.to_resume
        ):
            return None
        return bracket

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        bracket = self._member(trial.trial_id)
        if bracket is not None and resource >= bracket.level:
            bracket.arrived[trial.trial_id] = self.key_of(metrics)
            return Decision.STOP if bracket.at_top else Decision.PAUSE
        if resource > self.max_resource:
            return Decision.STOP
        return Decision.CONTINUE

    def on_trial_complete(self, trial: Trial, metrics: dict[str, Any], now: float) -> None:
        bracket = self._member(trial.trial_id)
        if bracket is not None:  # finished before reaching its rung: it arrives as it is
            bracket.arrived[trial.trial_id] = self.key_of(trial.last_metrics)
        super().on_trial_complete(trial, metrics, now)

    def on_trial_error(self, trial: Trial, now: float) -> None:
        bracket = self._member(trial.trial_id)
        if bracket is not None:
            bracket.arrived[trial.trial_id] = None
        super().on_trial_error(trial, now)

    def on_trial_stopped(self, trial: Trial, now: float) -> None:
        bracket = self._member(trial.trial_id)
        if bracket is not None:  # paused or stopped before its rung (should not happen)
            bracket.arrived[trial.trial_id] = None
        super().on_trial_stopped(trial, now)
