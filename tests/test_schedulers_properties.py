"""Hypothesis properties of the multi-fidelity schedulers under random workloads.

Each example runs a whole search on the virtual-clock backend (crossing learning curves,
configuration-dependent epoch times, 1-4 workers). Rung membership is recomputed from the
reports the Tuner received, independently of the scheduler's own bookkeeping.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

import daskhpo as dh
from daskhpo.schedulers.hyperband import AsyncHyperbandScheduler
from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus
from tests.sched_objectives import crossing_curve, lr_curve, run_virtual

SPACE = {"a": dh.uniform(0.0, 1.0), "b": dh.uniform(0.0, 2.0), "speed": dh.uniform(0.2, 2.0)}
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def epoch_time(config: dict[str, Any], epoch: int) -> float:
    return float(config["speed"])


def rung_values(tuner, level: float) -> dict[int, float]:
    """Each trial's loss at its report at ``level``, from the reports received so far."""
    return {r.trial_id: r.metrics["loss"] for r in tuner.reports if r.step == level}


class PromotionProbe(dh.ASHAScheduler):
    """ASHA (promotion) that checks every promotion against the reports received so far."""

    tuner: Any = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(variant="promotion", **kwargs)
        self.promotions = 0
        self.violations: list[str] = []

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        suggestion = super().suggest(trial_id, now, allow_new=allow_new)
        if suggestion is not None and suggestion.resume_trial_id is not None:
            self.promotions += 1
            tid = suggestion.resume_trial_id
            level = max(r.step for r in self.tuner.reports if r.trial_id == tid)
            values = rung_values(self.tuner, level)
            better = sum(1 for v in values.values() if v < values[tid])
            if not better < math.floor(len(values) / self.reduction_factor):
                self.violations.append(f"{tid} at {level}: {better} better of {len(values)}")
        return suggestion


class StoppingProbe(dh.ASHAScheduler):
    """ASHA (stopping) that checks each decision at a rung against the received reports."""

    tuner: Any = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(variant="stopping", **kwargs)
        self.judged = 0
        self.violations: list[str] = []

    def on_trial_report(
        self, trial: Trial, step: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        decision = super().on_trial_report(trial, step, metrics, now)
        levels = [r.level for r in self.brackets[0]]
        if step in levels:
            self.judged += 1
            values = rung_values(self.tuner, step)
            better = sum(1 for v in values.values() if v < values[trial.trial_id])
            in_top = better * self.reduction_factor < len(values)
            if in_top != (decision is Decision.CONTINUE):
                self.violations.append(f"{trial.trial_id} at {step}: {decision}")
        return decision


def _probe_run(probe, *, workers: int, num_trials: int, max_resource: int, seed: int):
    def attach(tuner: Any) -> None:
        probe.tuner = tuner

    return run_virtual(
        probe,
        SPACE,
        crossing_curve,
        num_trials=num_trials,
        workers=workers,
        max_epochs=max_resource,
        epoch_time=epoch_time,
        seed=seed,
        on_tuner=attach,
    )


rung_params = st.fixed_dictionaries(
    {
        "reduction_factor": st.sampled_from([2, 3, 4]),
        "min_resource": st.sampled_from([1, 2]),
        "max_resource": st.integers(4, 20),
    }
)
run_params = st.fixed_dictionaries(
    {
        "workers": st.integers(1, 4),
        "num_trials": st.integers(1, 40),
        "seed": st.integers(0, 2**16),
    }
)


@PROPERTY
@given(rungs=rung_params, run=run_params)
def test_asha_promotes_only_from_the_top_of_a_rung(rungs, run):
    probe = PromotionProbe(**rungs)
    tuner, backend, _ = _probe_run(probe, max_resource=rungs["max_resource"], **run)
    event("promoted" if probe.promotions else "no promotion")
    target(float(probe.promotions), label="promotions")
    assert probe.violations == []
    assert len(tuner.trials) <= run["num_trials"]
    for trial_id in {t for t, _, _ in backend.executed}:  # no epoch ever ran twice
        epochs = [e for t, _, e in backend.executed if t == trial_id]
        assert epochs == list(range(1, len(epochs) + 1))


@PROPERTY
@given(rungs=rung_params, run=run_params)
def test_asha_stopping_continues_exactly_the_top_of_a_rung(rungs, run):
    probe = StoppingProbe(**rungs)
    tuner, _, _ = _probe_run(probe, max_resource=rungs["max_resource"], **run)
    event("judged at a rung" if probe.judged else "never reached a rung")
    target(float(probe.judged), label="rung decisions")
    assert probe.violations == []
    assert len(tuner.trials) <= run["num_trials"]


def test_the_rung_probes_see_promotions_and_stops():
    """The properties above check decisions; on this search there are many of both kinds."""
    rungs = {"reduction_factor": 2, "min_resource": 1, "max_resource": 8}
    run = {"workers": 2, "num_trials": 24, "seed": 0}
    promoting = PromotionProbe(**rungs)
    _probe_run(promoting, max_resource=8, **run)
    assert promoting.promotions >= 5
    assert promoting.violations == []
    stopping = StoppingProbe(**rungs)
    tuner, _, _ = _probe_run(stopping, max_resource=8, **run)
    assert stopping.judged >= 24
    assert stopping.violations == []
    statuses = [t.status for t in tuner.trials.values()]
    assert TrialStatus.STOPPED in statuses
    assert TrialStatus.COMPLETED in statuses


SCHEDULERS = {
    "sha": lambda: dh.SuccessiveHalvingScheduler(max_resource=9, reduction_factor=3),
    "hyperband": lambda: dh.HyperbandScheduler(max_resource=9),
    "asha": lambda: dh.ASHAScheduler(max_resource=9),
    "asha-promotion": lambda: dh.ASHAScheduler(max_resource=9, variant="promotion"),
    "ahb": lambda: dh.AsyncHyperbandScheduler(max_resource=9),
    "ahb-promotion": lambda: dh.AsyncHyperbandScheduler(max_resource=9, variant="promotion"),
    "median": lambda: dh.MedianStoppingScheduler(grace_period=2),
    "pbt": lambda: dh.PBTScheduler(perturbation_interval=2, population_size=5),
}


@PROPERTY
@given(name=st.sampled_from(sorted(SCHEDULERS)), run=run_params)
def test_new_trials_never_exceed_num_trials_and_same_seed_same_decisions(name, run):
    first = run_virtual(
        SCHEDULERS[name](),
        SPACE,
        crossing_curve,
        max_epochs=9,
        epoch_time=epoch_time,
        **run,
    )
    second = run_virtual(
        SCHEDULERS[name](),
        SPACE,
        crossing_curve,
        max_epochs=9,
        epoch_time=epoch_time,
        **run,
    )
    tuner, _, journal = first
    assert len(tuner.trials) <= run["num_trials"]
    assert journal.records == second[2].records
    decided = [r for r in journal.records if r.event in ("decided", "resumed", "created")]
    assert decided  # the sequence compared above is not empty


class PopulationWatch:
    """Checks the PBT population after every step of the Tuner loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.largest = 0

    def on_step(self, tuner: Any) -> None:
        live = [
            t
            for t in tuner.trials.values()
            if t.status in (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.PAUSED)
        ]
        self.largest = max(self.largest, len(live))
        assert len(live) <= self.size
        assert len(tuner.scheduler.members) <= self.size

    def on_end(self, tuner: Any) -> None:
        pass


@PROPERTY
@given(
    size=st.integers(2, 8),
    workers=st.integers(1, 4),
    interval=st.integers(1, 4),
    extra=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_pbt_population_keeps_its_size(size, workers, interval, extra, seed):
    watch = PopulationWatch(size)
    pbt = dh.PBTScheduler(perturbation_interval=interval, population_size=size)
    tuner, _, _ = run_virtual(
        pbt,
        {"lr": dh.loguniform(1e-4, 1.0)},
        lr_curve,
        num_trials=size + extra,
        workers=workers,
        max_epochs=8,
        seed=seed,
        tuner_options={"callbacks": [watch]},
    )
    assert watch.largest == size  # it filled up, and never overflowed
    assert len(tuner.trials) == size + extra  # finished members were replaced
    assert all(t.status is TrialStatus.COMPLETED for t in tuner.trials.values())


@settings(max_examples=60, deadline=None)
@given(
    max_resource=st.sampled_from([9, 27, 81, 100]),
    eta=st.sampled_from([2, 3, 4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_async_hyperband_brackets_are_the_draws_of_generator_choice(max_resource, eta, seed):
    """The bracket draw is ``rng.choice(n, p=...)``'s, draw for draw and state for state."""
    scheduler = AsyncHyperbandScheduler(max_resource=max_resource, reduction_factor=eta)
    scheduler.rng = np.random.default_rng(seed)
    reference = np.random.default_rng(seed)
    n, p = scheduler.num_brackets, scheduler.bracket_probabilities
    drawn = [scheduler._choose_bracket() for _ in range(50)]
    assert drawn == [int(reference.choice(n, p=p)) for _ in range(50)]
    assert scheduler.rng.random() == reference.random()
