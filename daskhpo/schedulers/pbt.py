"""Population based training (Jaderberg et al. 2017).

A population of ``population_size`` trials trains side by side. Each time a member has
progressed ``perturbation_interval`` since its last perturbation, it is ranked among the
live members by its latest value:

* in the bottom ``quantile_fraction``: *exploit* then *explore*. The member is paused and
  resumed from the checkpoint of a member drawn from the top ``quantile_fraction``, with
  that member's configuration explored: each mutable parameter is resampled from its domain
  with probability ``resample_probability``, else perturbed (numbers multiplied by a factor
  drawn from ``perturbation_factors``, categories moved to a neighbouring value).
* otherwise it continues, unless members are waiting for a slot behind it (a population
  larger than the cluster), in which case it pauses so the population stays level.

The trial keeps its id across exploits; the Tuner copies the donor's checkpoint directory
over the trial's own before the new attempt starts. A member that ends (completes, fails)
is replaced by a new trial while new trials are allowed, so the population keeps its size;
``population_size=None`` makes every trial the search allows a member (then give the
search a ``num_trials``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daskhpo.milestones import NO_MILESTONES, Milestones
from daskhpo.schedulers._rungs import MultiFidelityScheduler, check_int, check_number
from daskhpo.searchers.base import Searcher
from daskhpo.space import (
    Choice,
    Domain,
    Grid,
    LogRandInt,
    LogUniform,
    RandInt,
    SearchSpace,
    Uniform,
)
from daskhpo.trial import Decision, Suggestion, Trial


@dataclass
class Member:
    """What PBT tracks about one live member of the population."""

    config: dict[str, Any]
    resource: float = 0.0  # latest reported resource
    key: float | None = None  # latest value, lower is better
    last_perturbation: float = 0.0


def _mutation_domains(value: Any) -> dict[str, Domain] | list[str] | None:
    """Validate ``hyperparam_mutations``: None, parameter names, or name -> domain."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        domains: dict[str, Domain] = {}
        for name, spec in value.items():
            if isinstance(spec, Domain):
                domains[str(name)] = spec
            elif isinstance(spec, (list, tuple)):
                domains[str(name)] = Choice(tuple(spec))
            else:
                parsed = SearchSpace.from_dict({name: spec})[str(name)]
                if not isinstance(parsed, Domain):
                    raise ValueError(
                        f"hyperparam_mutations[{name!r}] must be a domain such as "
                        f"{{loguniform: [1e-4, 1e-1]}} or a list of values, got {spec!r}"
                    )
                domains[str(name)] = parsed
        return domains
    if isinstance(value, Sequence) and not isinstance(value, str):
        names = [str(v) for v in value]
        if not names:
            raise ValueError("hyperparam_mutations names no parameter; give at least one")
        return names
    raise ValueError(
        f"hyperparam_mutations must be None (every sampled parameter), a list of parameter "
        f"names, or a mapping of names to domains; got {value!r}"
    )


class PBTScheduler(MultiFidelityScheduler):
    """Population based training; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        perturbation_interval: float,
        resource: str | None = None,
        population_size: int | None = None,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        perturbation_factors: Sequence[float] = (0.8, 1.2),
        hyperparam_mutations: Mapping[str, Any] | Sequence[str] | None = None,
        max_resource: float | None = None,
    ) -> None:
        super().__init__(resource)
        self.perturbation_interval = check_number("perturbation_interval", perturbation_interval)
        self.population_size = (
            None if population_size is None else check_int("population_size", population_size)
        )
        q = check_number("quantile_fraction", quantile_fraction)
        if q > 0.5:
            raise ValueError(
                f"quantile_fraction must be in (0, 0.5] (the share of the population that "
                f"is exploited, and that serves as donors), got {quantile_fraction!r}"
            )
        self.quantile_fraction = q
        p = check_number("resample_probability", resample_probability, positive=False)
        if not 0 <= p <= 1:
            raise ValueError(f"resample_probability must be in [0, 1], got {p!r}")
        self.resample_probability = p
        factors = [check_number("perturbation_factors", f) for f in perturbation_factors]
        if not factors:
            raise ValueError("perturbation_factors needs at least one factor, e.g. [0.8, 1.2]")
        self.perturbation_factors = factors
        self._mutation_spec = _mutation_domains(hyperparam_mutations)
        self.mutations: dict[str, Domain] = {}
        self.max_resource = (
            None if max_resource is None else check_number("max_resource", max_resource)
        )
        self.members: dict[int, Member] = {}  # live members: created, not finished
        self._pending: dict[int, tuple[dict[str, Any], int | None]] = {}  # paused -> resume
        self._may_grow = True  # the Tuner still allows new trials
        self.exploits: list[tuple[int, int]] = []  # (trial, donor), in decision order

    def setup(
        self, *, searcher: Searcher, metric: str, mode: str, rng: np.random.Generator
    ) -> None:
        super().setup(searcher=searcher, metric=metric, mode=mode, rng=rng)
        space = searcher.space
        spec = self._mutation_spec
        if spec is None:
            self.mutations = dict(space.domains)
        elif isinstance(spec, dict):
            self.mutations = spec
        else:
            unknown = [n for n in spec if n not in space.domains]
            if unknown:
                raise ValueError(
                    f"hyperparam_mutations names {unknown} which are not sampled parameters "
                    f"of the space; sampled parameters are {sorted(space.domains)}"
                )
            self.mutations = {n: space.domains[n] for n in spec}

    # ------------------------------------------------------------------ running

    def _has_room(self) -> bool:
        return self.population_size is None or len(self.members) < self.population_size

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        self._may_grow = allow_new
        if allow_new and self._has_room():
            config = self.searcher.suggest(trial_id)
            if config is not None:
                self.members[trial_id] = Member(dict(config))
                return Suggestion(config)
            self._may_grow = False
        ready = [t for t in self._pending if t in self._paused]
        if not ready:
            return None
        tid = min(ready, key=lambda t: (self.members[t].resource, t))  # the one furthest behind
        config, donor = self._pending.pop(tid)
        self.members[tid].config = dict(config)
        return self.resume(tid, budget=None, config=config, checkpoint_trial_id=donor)

    def milestones(self, trial_id: int) -> Milestones:
        """Each ``perturbation_interval`` from the member's last perturbation: where it may be
        paused to exploit a better member or to let the population catch up."""
        if not self.uses_step:
            return NO_MILESTONES
        member = self.members.get(trial_id)
        last = member.last_perturbation if member is not None else 0.0
        interval = self.perturbation_interval
        return Milestones((last + interval,), every=interval)

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        if self.max_resource is not None and resource > self.max_resource:
            return Decision.STOP
        if self.max_resource is not None and resource >= self.max_resource:
            return Decision.CONTINUE  # its last step: it completes, nothing is left to exploit
        tid = trial.trial_id
        member = self.members.setdefault(tid, Member(dict(trial.config)))
        member.resource = resource
        key = self.key_of(metrics)
        if key is not None:
            member.key = key
        if key is None or resource - member.last_perturbation < self.perturbation_interval:
            return Decision.CONTINUE
        member.last_perturbation = resource
        donor = self._donor_for(tid)
        if donor is not None:
            self.exploits.append((tid, donor))
            self._pending[tid] = (self.explore(self.members[donor].config), donor)
            member.last_perturbation = self.members[donor].resource
            return Decision.PAUSE
        if self._others_waiting(resource):
            self._pending[tid] = (dict(member.config), None)
            return Decision.PAUSE
        return Decision.CONTINUE

    def _donor_for(self, trial_id: int) -> int | None:
        """A top-quantile member to copy if ``trial_id`` is in the bottom quantile."""
        ranked = sorted(
            (m.key, t)
            for t, m in self.members.items()
            if m.key is not None and self._pending.get(t, (None, None))[1] is None
        )
        k = math.ceil(len(ranked) * self.quantile_fraction)
        k = min(k, len(ranked) // 2)
        if k == 0:
            return None
        bottom = [t for _, t in ranked[-k:]]
        if trial_id not in bottom:
            return None
        top = [t for _, t in ranked[:k]]
        return top[int(self.rng.integers(len(top)))]

    def _others_waiting(self, resource: float) -> bool:
        """Whether a member behind this one waits for a slot (or one is yet to start)."""
        if self._may_grow and self._has_room():
            return True
        return any(self.members[t].resource < resource for t in self._pending)

    def explore(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``config`` with each mutable parameter resampled or perturbed."""
        new = dict(config)
        for name, domain in self.mutations.items():
            old = new.get(name)
            if float(self.rng.random()) < self.resample_probability or not domain.contains(old):
                new[name] = domain.sample(self.rng)
            else:
                factor = self.perturbation_factors[
                    int(self.rng.integers(len(self.perturbation_factors)))
                ]
                new[name] = _perturb(domain, old, factor)
        return new

    # ------------------------------------------------------------------ endings

    def resumed_elsewhere(self, trial_id: int) -> None:
        super().resumed_elsewhere(trial_id)
        self._pending.pop(trial_id, None)

    def _finish(self, trial_id: int) -> None:
        super()._finish(trial_id)
        self.members.pop(trial_id, None)
        self._pending.pop(trial_id, None)


def _perturb(domain: Domain, value: Any, factor: float) -> Any:
    """Move ``value`` within ``domain``: scale numbers, step categories (down if factor < 1)."""
    if isinstance(domain, (Choice, Grid)):
        values = domain.categories if isinstance(domain, Choice) else domain.values
        index = next(i for i, v in enumerate(values) if Choice((v,)).contains(value))
        index += -1 if factor < 1 else 1
        return values[min(max(index, 0), len(values) - 1)]
    if isinstance(domain, (RandInt, LogRandInt)):
        return min(max(round(value * factor), domain.low), domain.high)
    if isinstance(domain, (Uniform, LogUniform)):
        scaled = float(value) * factor
        return min(max(scaled, domain.low), math.nextafter(domain.high, -math.inf))
    return value * factor
