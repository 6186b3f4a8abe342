"""Shared bookkeeping of the multi-fidelity schedulers: parameters, rungs and trial verdicts.

Successive halving, Hyperband, ASHA, median stopping and PBT all read a *resource* (epochs,
steps...) from each report, validate the same few parameters, rank trials at resource levels
(*rungs*) and remember what they decided about each trial. That common part lives here.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from daskhpo.schedulers.base import Scheduler
from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus

#: Relative tolerance when comparing resource levels computed by repeated multiplication.
_TOL = 1e-9

#: ``resource`` values that mean "the report's step".
STEP_NAMES = (None, "step")


# --------------------------------------------------------------------------- validation


def check_number(name: str, value: Any, *, positive: bool = True) -> float:
    """A finite real number (not a bool); positive unless ``positive`` is False."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_resource_name(resource: Any) -> str | None:
    """None or ``"step"`` (the report's step), else the name of a reported metric."""
    if resource is None:
        return None
    if not isinstance(resource, str) or not resource:
        raise ValueError(
            f"resource must be None (the report's step) or the name of a reported metric "
            f"such as 'epoch', got {resource!r}"
        )
    return None if resource == "step" else resource


def check_min_resource(min_resource: Any, grace_period: Any, default: float = 1.0) -> float:
    """``min_resource`` or its alias ``grace_period`` (not both)."""
    if min_resource is not None and grace_period is not None:
        raise ValueError(
            f"give min_resource or its alias grace_period, not both "
            f"(got min_resource={min_resource!r}, grace_period={grace_period!r})"
        )
    if grace_period is not None:
        return check_number("grace_period", grace_period)
    if min_resource is not None:
        return check_number("min_resource", min_resource)
    return default


def check_rung_params(
    *, min_resource: float, max_resource: Any, reduction_factor: Any
) -> tuple[float, float]:
    """Validate ``max_resource`` and ``reduction_factor`` against ``min_resource``."""
    if max_resource is None:
        raise ValueError(
            "max_resource is required: the resource level (epochs, steps...) a trial trains "
            "to at most, e.g. max_resource=81"
        )
    top = check_number("max_resource", max_resource)
    eta = check_number("reduction_factor", reduction_factor, positive=False)
    if eta <= 1:
        raise ValueError(
            f"reduction_factor must be greater than 1 (each rung keeps the top "
            f"1/reduction_factor of its trials; 3 is usual), got {reduction_factor!r}"
        )
    if min_resource > top:
        raise ValueError(
            f"min_resource (grace_period) = {min_resource:g} is larger than max_resource = "
            f"{top:g}; lower min_resource or raise max_resource"
        )
    return top, eta


# --------------------------------------------------------------------------- rung arithmetic


def rung_levels(min_resource: float, max_resource: float, eta: float) -> list[float]:
    """The rung levels ``min_resource * eta**k`` that lie below ``max_resource``.

    A trial that passes the last level trains on to ``max_resource``; with
    ``min_resource == max_resource`` there are no rungs (nothing is stopped early).
    """
    levels: list[float] = []
    level = min_resource
    while level < max_resource * (1 - _TOL):
        levels.append(level)
        level *= eta
    return levels


def max_bracket_index(max_resource: float, eta: float, min_resource: float = 1.0) -> int:
    """``s_max = floor(log_eta(max_resource / min_resource))``, computed without log error."""
    s = 0
    while min_resource * eta ** (s + 1) <= max_resource * (1 + _TOL):
        s += 1
    return s


@dataclass(frozen=True)
class Bracket:
    """One bracket of synchronous Hyperband: ``rungs[i] = (n_i, r_i)``."""

    s: int
    rungs: tuple[tuple[int, float], ...]


def hyperband_table(max_resource: float, eta: float, min_resource: float = 1.0) -> list[Bracket]:
    """The brackets of Hyperband (Li et al., 2018), most aggressive first.

    With ``R = max_resource / min_resource`` and ``s_max = floor(log_eta R)``, bracket ``s``
    starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at resource
    ``r = max_resource * eta**-s`` and keeps ``n_i = floor(n * eta**-i)`` of them at
    ``r_i = r * eta**i``.
    """
    s_max = max_bracket_index(max_resource, eta, min_resource)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - _TOL)
        rungs = tuple(
            (math.floor(n * eta**-i + _TOL), max_resource * eta ** (i - s)) for i in range(s + 1)
        )
        brackets.append(Bracket(s, rungs))
    return brackets


class Rung:
    """Values recorded at one resource level; lower ``key`` is better (see ``sort_key``).

    The ``(key, trial id)`` pairs are kept in a sorted list, so a rank or the top of the
    rung costs O(log n) per decision instead of a pass over every recorded trial.
    """

    def __init__(self, level: float) -> None:
        self.level = level
        self.values: dict[int, float] = {}
        self.promoted: set[int] = set()
        self._ranked: Any = SortedList()  # of (key, trial_id), best first

    def __repr__(self) -> str:
        return f"Rung(level={self.level!r}, recorded={len(self.values)})"

    def record(self, trial_id: int, key: float) -> None:
        old = self.values.get(trial_id)
        if old is not None:
            self._ranked.remove((old, trial_id))
        self.values[trial_id] = key
        self._ranked.add((key, trial_id))

    def better_count(self, key: float) -> int:
        """How many recorded trials are strictly better than ``key``."""
        return int(self._ranked.bisect_left((key,)))  # (key,) sorts before every (key, id)

    def continues(self, trial_id: int, eta: float) -> bool:
        """The stopping rule: fewer than ``n / eta`` recorded trials are better than this one.

        That is the top ``ceil(n / eta)``, so the first trials to reach a rung go on.
        """
        return self.better_count(self.values[trial_id]) * eta < len(self.values)

    def ranked(self) -> list[int]:
        """Recorded trials, best first (ties by trial id)."""
        return [tid for _, tid in self._ranked]

    def iter_promotable(self, eta: float) -> Iterator[int]:
        """Trials in the top ``floor(n / eta)`` not yet promoted, best first, lazily (a caller
        that takes the first suitable one pays for what it looks at, not for the rung)."""
        k = math.floor(len(self.values) / eta + _TOL)
        for _, tid in self._ranked.islice(0, k):
            if tid not in self.promoted:
                yield tid

    def promotable(self, eta: float) -> list[int]:
        """Trials in the top ``floor(n / eta)`` not yet promoted, best first."""
        return list(self.iter_promotable(eta))


def sort_key(value: float, mode: str) -> float:
    """A metric value turned into a key where lower is better."""
    return value if mode == "min" else -value


# --------------------------------------------------------------------------- base class


class MultiFidelityScheduler(Scheduler):
    """A scheduler that reads a resource from reports and stops or pauses trials.

    It remembers every STOP or PAUSE it gave: a trial resubmitted after a lost worker gets
    the same answer at its first report instead of running on. Paused trials become
    resumable once the Tuner has seen them pause (``on_trial_stopped``).
    """

    def __init__(self, resource: Any = None) -> None:
        self.resource = check_resource_name(resource)
        self._verdicts: dict[int, Decision] = {}
        self._paused: dict[int, dict[str, Any]] = {}  # resumable trial -> its config
        self._done: set[int] = set()

    @property
    def uses_step(self) -> bool:
        """Whether the resource is the report's step (so budgets can pause trials)."""
        return self.resource is None

    def resource_of(self, step: float, metrics: dict[str, Any]) -> float:
        """The resource level of a report."""
        if self.resource is None:
            return step if type(step) is float else float(step)
        value = metrics.get(self.resource)
        if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f"the scheduler reads the resource from the reported metric "
                f"{self.resource!r}, but a report at step {step:g} has "
                f"{self.resource}={value!r} (metrics: {sorted(metrics)}); report it, e.g. "
                f"report(step, {self.resource}=..., ...), or use resource='step'"
            )
        return float(value)

    def key_of(self, metrics: dict[str, Any]) -> float | None:
        """The metric as a lower-is-better key, or None when the report lacks it."""
        value = metrics.get(self.metric)
        if type(value) is float:  # the common case, without the slower checks below
            number = value
        elif value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
            return None
        else:
            number = float(value)
        if number != number:  # NaN
            return None
        return number if self.mode == "min" else -number

    def budget_for(self, level: float | None) -> float | None:
        """The attempt budget that pauses a trial at ``level`` on its worker.

        Only a step resource can be checked there; a metric resource pauses by decision.
        """
        return level if self.uses_step else None

    def on_trial_report(
        self, trial: Trial, step: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        super().on_trial_report(trial, step, metrics, now)
        if trial.trial_id in self._paused:  # resumed without our suggestion (journal replay)
            self.resumed_elsewhere(trial.trial_id)
        verdict = self._verdicts.get(trial.trial_id)
        if verdict is not None:
            return verdict
        decision = self.decide(trial, self.resource_of(step, metrics), metrics, now)
        if decision is not Decision.CONTINUE:
            self._verdicts[trial.trial_id] = decision
        return decision

    @abc.abstractmethod
    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        """The decision for one report of a trial that has no standing verdict."""

    def resume(
        self,
        trial_id: int,
        *,
        budget: float | None,
        config: dict[str, Any] | None = None,
        checkpoint_trial_id: int | None = None,
    ) -> Suggestion:
        """Resume a paused trial (with its own config unless ``config`` is given)."""
        own = self._paused.pop(trial_id)
        self._verdicts.pop(trial_id, None)
        return Suggestion(
            dict(own if config is None else config),
            resume_trial_id=trial_id,
            checkpoint_trial_id=checkpoint_trial_id,
            budget=budget,
        )

    def resumed_elsewhere(self, trial_id: int) -> None:
        """A paused trial runs again although this scheduler did not resume it."""
        self._paused.pop(trial_id, None)
        self._verdicts.pop(trial_id, None)

    def on_trial_complete(self, trial: Trial, metrics: dict[str, Any], now: float) -> None:
        super().on_trial_complete(trial, metrics, now)
        self._finish(trial.trial_id)

    def on_trial_stopped(self, trial: Trial, now: float) -> None:
        super().on_trial_stopped(trial, now)
        if trial.status is TrialStatus.PAUSED:
            self._paused[trial.trial_id] = dict(trial.config)
        else:
            self._finish(trial.trial_id)

    def on_trial_error(self, trial: Trial, now: float) -> None:
        super().on_trial_error(trial, now)
        self._finish(trial.trial_id)

    def _finish(self, trial_id: int) -> None:
        self._done.add(trial_id)
        self._paused.pop(trial_id, None)
