"""Milestones and verdicts without a cluster: the tracker, the schedulers' milestones, the
commands TunerState answers milestone reports with, and the simulator's model of the wait."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.backend import Finished, Outcome, Reported, Started
from daskhpo.errors import SettingsError
from daskhpo.milestones import Milestones
from daskhpo.searchers.random import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.tuner import Continue, Record, Stop, Submit, TunerState
from simulate.curves import CurveWorkload
from simulate.runner import run_search

SPACE = dh.SearchSpace({"a": dh.uniform(0.0, 1.0)})


def make_state(scheduler: Any, *, verdicts: bool = True, **settings: Any) -> TunerState:
    options: dict[str, Any] = {"metric": "loss", "num_trials": 3, "seed": 0, **settings}
    return TunerState(
        settings=TuneSettings(**options),
        space=SPACE,
        scheduler=scheduler,
        searcher=RandomSearcher(),
        verdicts=verdicts,
    )


def started(state: TunerState, capacity: int = 3) -> list[Submit]:
    submits = [c for c in state.fill(0.0, capacity=capacity) if isinstance(c, Submit)]
    for s in submits:
        state.handle(Started(s.spec.trial_id, s.spec.attempt, 0.0, "w"), 0.0)
    return submits


def verdicts_of(commands: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for c in commands:
        if isinstance(c, Continue):
            out.append(("continue", c.trial_id, c.attempt, c.step))
        elif isinstance(c, Stop):
            out.append(("stop", c.trial_id, c.attempt, c.pause))
    return out


# --------------------------------------------------------------------------- the tracker


def test_a_milestone_is_the_first_report_at_or_past_each_level_even_between_steps():
    tracker = Milestones((1.0, 3.0, 9.0)).tracker()
    seen = [s for s in (0.5, 1.0, 1.5, 2.9, 3.25, 4.0, 10.0, 11.0) if tracker.crossed(s)]
    assert seen == [1.0, 3.25, 10.0]  # 10 jumps over 9 and counts once


def test_periodic_milestones_count_from_the_last_crossing():
    tracker = Milestones((2.0,), every=2.0).tracker()
    assert [s for s in (1, 2, 3, 4, 5, 7, 8, 9) if tracker.crossed(s)] == [2, 4, 7, 9]
    every_report = Milestones((3.0,), every=0.0).tracker()
    assert [s for s in (1, 2, 3, 4, 5) if every_report.crossed(s)] == [3, 4, 5]
    assert not Milestones()
    assert not Milestones().tracker().crossed(1e9)


def test_milestone_levels_must_ascend():
    with pytest.raises(ValueError, match="ascending"):
        Milestones((3.0, 1.0))


# --------------------------------------------------------------------------- schedulers


def test_schedulers_name_the_steps_at_which_they_decide():
    assert not dh.FIFOScheduler().milestones(0)
    state = make_state(dh.ASHAScheduler(max_resource=27, grace_period=1))
    specs = [s.spec for s in started(state)]
    assert {s.milestones for s in specs} == {Milestones((1.0, 3.0, 9.0))}
    assert dh.MedianStoppingScheduler(grace_period=2).milestones(0) == Milestones((2.0,), 0.0)
    pbt = dh.PBTScheduler(perturbation_interval=4, population_size=2)
    assert pbt.milestones(0) == Milestones((4.0,), every=4.0)
    # a metric resource cannot be checked on the worker: nothing waits
    assert not dh.ASHAScheduler(max_resource=9, resource="epoch").milestones(0)


def test_a_promoted_attempt_carries_the_rungs_above_its_own():
    state = make_state(
        dh.ASHAScheduler(max_resource=27, grace_period=1, variant="promotion"), num_trials=4
    )
    started(state, capacity=4)
    for t, loss in enumerate((0.1, 0.2, 0.3, 0.4)):
        state.handle(Reported(t, 0, 1.0, 1.0, {"loss": loss}), 1.0)
        state.handle(Finished(t, 0, 1.0, Outcome.PAUSED), 1.0)
    resumed = [c.spec for c in state.fill(1.0, capacity=1) if isinstance(c, Submit)]
    assert [(s.trial_id, s.attempt, s.budget) for s in resumed] == [(0, 1, 3.0)]
    assert resumed[0].milestones == Milestones((3.0, 9.0))


# --------------------------------------------------------------------------- TunerState


def test_a_milestone_report_that_goes_on_gets_a_continue_and_others_get_none():
    state = make_state(dh.ASHAScheduler(max_resource=9, grace_period=1), num_trials=3)
    started(state)
    assert verdicts_of(state.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == [
        ("continue", 0, 0, 1.0)
    ]
    assert verdicts_of(state.handle(Reported(0, 0, 2.0, 2.0, {"loss": 0.09}), 2.0)) == []
    assert verdicts_of(state.handle(Reported(0, 0, 3.0, 3.0, {"loss": 0.08}), 3.0)) == [
        ("continue", 0, 0, 3.0)
    ]
    assert verdicts_of(state.handle(Reported(0, 0, 4.0, 4.0, {"loss": 0.07}), 4.0)) == []


def test_a_stop_at_a_milestone_is_its_verdict_with_no_continue_and_is_journaled_first():
    state = make_state(dh.ASHAScheduler(max_resource=9, grace_period=1), num_trials=3)
    started(state)
    state.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)
    state.handle(Reported(1, 0, 1.0, 1.0, {"loss": 0.2}), 1.0)
    commands = state.handle(Reported(2, 0, 1.0, 1.0, {"loss": 0.9}), 1.0)
    assert verdicts_of(commands) == [("stop", 2, 0, False)]
    assert isinstance(commands[1], Record)
    assert isinstance(commands[1].record, rec.Decided)


def test_fifo_and_a_zero_timeout_never_make_a_report_wait():
    fifo = make_state(dh.FIFOScheduler(), num_trials=2)
    assert all(not s.spec.milestones for s in started(fifo))
    assert verdicts_of(fifo.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == []
    off = make_state(dh.ASHAScheduler(max_resource=9), verdict_timeout=0)
    assert all(not s.spec.milestones for s in started(off))
    assert verdicts_of(off.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == []


def test_a_backend_without_verdicts_gets_the_milestones_but_no_continue():
    state = make_state(dh.ASHAScheduler(max_resource=9), verdicts=False)
    assert all(s.spec.milestones for s in started(state))
    assert verdicts_of(state.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == []


def test_an_attempt_that_pauses_at_its_budget_needs_no_verdict():
    state = make_state(dh.ASHAScheduler(max_resource=9, variant="promotion"), num_trials=1)
    started(state)
    assert verdicts_of(state.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == []


def test_verdict_waits_and_timeouts_reach_the_trial_the_stats_and_the_journal():
    state = make_state(dh.ASHAScheduler(max_resource=9), num_trials=1)
    started(state)
    event = Finished(
        0, 0, 2.0, Outcome.RETURNED, {"loss": 0.1}, verdict_waits=2, verdict_timeouts=1
    )
    commands = state.handle(event, 2.0)
    assert (state.stats.verdict_waits, state.stats.verdict_timeouts) == (2, 1)
    assert state.trials[0].verdict_timeouts == 1
    completed = [c.record for c in commands if isinstance(c, Record)]
    assert isinstance(completed[0], rec.Completed)
    assert completed[0].verdict_timeouts == 1
    assert rec.decode(orjson.loads(rec.encode(completed[0]))) == completed[0]


def test_verdict_timeout_is_validated():
    for bad in (-0.1, float("inf"), "1", True):
        with pytest.raises(SettingsError, match="verdict_timeout"):
            TuneSettings(metric="loss", verdict_timeout=bad)
    assert TuneSettings(metric="loss").verdict_timeout == 0.5


# --------------------------------------------------------------------------- the simulator


def last_steps(verdict_timeout: float) -> tuple[dict[int, float], dict[int, str]]:
    settings = TuneSettings(
        metric="loss",
        num_trials=12,
        seed=3,
        scheduler={"asha": {"max_resource": 9, "grace_period": 1}},
        verdict_timeout=verdict_timeout,
    )
    run = run_search(CurveWorkload("power:steps=9", "constant:9", seed=1), settings, cluster=2)
    last: dict[int, float] = {}
    for r in run.tuner.reports:
        last[r.trial_id] = max(last.get(r.trial_id, 0.0), r.step)
    return last, {t: tr.status.value for t, tr in run.tuner.trials.items()}


def test_the_simulator_ends_a_trial_stopped_at_a_rung_at_that_rung():
    last, status = last_steps(0.5)
    stopped = [t for t, s in status.items() if s == "STOPPED"]
    assert stopped
    assert all(last[t] in (1.0, 3.0) for t in stopped)
    # without waits the stop lands one step late, as it did before milestones
    late, late_status = last_steps(0.0)
    late_stopped = [t for t, s in late_status.items() if s == "STOPPED"]
    assert late_stopped
    assert all(late[t] in (2.0, 4.0) for t in late_stopped)
