"""The simulator predicts the real driver: the same decisions, with ASHA on two workers.

The same configurations, epoch times and losses run through ``daskhpo.tune`` on a real
LocalCluster and through the SimBackend. ASHA's decisions depend on the order in which trials
reach a rung, so they depend on timing; here the order is robust by construction: one trial's
epochs are 40 times longer than the others', so the fast trials have all reached their rungs
long (over a second) before the slow one reaches its first. How close the real makespan comes
to the simulated one is measured, not tested: ``benchmarks/bench_sim_vs_real.py``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from typing import Any

import pytest

import daskhpo as dh
from daskhpo.trial import TrialStatus
from simulate.runner import run_search
from simulate.workloads import DurationModel, DurationWorkload
from tests import sim_objectives

#: The grid's first point is the slow, worst trial; the others are fast, in this order.
XS = [0.9, 0.5, 0.3, 0.6, 0.1, 0.4]
STEPS = 3
RUNG_SPACE = {"x": dh.grid(XS)}
ASHA = {"asha": {"max_resource": STEPS, "grace_period": 1, "reduction_factor": 3}}


def epoch_seconds(config: Mapping[str, Any]) -> float:
    return 2.0 if config["x"] > 0.8 else 0.05


def rung_loss(config: Mapping[str, Any], epoch: int) -> float:
    return float(config["x"]) + 0.1 / epoch


def rung_objective(config: dict[str, Any]) -> dict[str, Any]:
    """``STEPS`` epochs of :func:`epoch_seconds`, a report of :func:`rung_loss` after each."""
    for epoch in range(1, STEPS + 1):
        time.sleep(epoch_seconds(config))
        dh.report(epoch, loss=rung_loss(config, epoch))
    return {"loss": rung_loss(config, STEPS)}


class RungWorkload:
    """:func:`rung_objective` for the simulator."""

    metric = "loss"
    steps = STEPS

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        return STEPS * epoch_seconds(config)

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        return [rung_loss(config, epoch) for epoch in range(1, STEPS + 1)]


def _outcomes(trials: Any) -> dict[int, tuple[Any, str]]:
    return {t.trial_id: (t.config["x"], t.status.value) for t in trials}


@pytest.mark.slow
def test_asha_on_two_workers_makes_the_simulated_decisions(dask_client):
    dask_client.run(importlib.import_module, "tests.test_sim_real_driver")
    real = dh.tune(
        rung_objective,
        RUNG_SPACE,
        metric="loss",
        num_trials=len(XS),
        scheduler=ASHA,
        seed=0,
        client=dask_client,
        progress=False,
    )
    sim = run_search(
        RungWorkload(), cluster=2, space=RUNG_SPACE, scheduler=ASHA, num_trials=len(XS), seed=0
    )
    assert _outcomes(real.trials_list) == _outcomes(sim.tuner.trials.values())
    # The decisions depend on timing: on one worker the slow trial reaches its rung first
    # and is not stopped there.
    alone = run_search(
        RungWorkload(), cluster=1, space=RUNG_SPACE, scheduler=ASHA, num_trials=len(XS), seed=0
    )
    assert sim.tuner.trials[0].status is TrialStatus.STOPPED
    assert alone.tuner.trials[0].status is TrialStatus.COMPLETED
    stopped = {t.trial_id for t in real.trials_list if t.status is TrialStatus.STOPPED}
    assert stopped
    assert stopped != {t.trial_id for t in real.trials_list}


SPEC = "uniform:low=0.15,high=0.25"
DURATION_SEED = 3
SPACE = {"x": dh.uniform(0.0, 1.0), "duration": SPEC, "duration_seed": DURATION_SEED}
#: More than a driver's latency per trial, on any machine that runs the tests at all.
OVERHEAD_BOUND_S = 0.5


def _makespan(trials: Any) -> float:
    return max(t.ended_at for t in trials) - min(t.started_at for t in trials)


@pytest.mark.slow
def test_two_workers_sleep_what_the_simulator_says_and_lose_little_to_overheads(dask_client):
    trials, seed = 24, 5
    dask_client.run(importlib.import_module, "tests.sim_objectives")  # no first-import delay
    real = dh.tune(
        sim_objectives.sleep_like_sim,
        SPACE,
        metric="loss",
        num_trials=trials,
        seed=seed,
        client=dask_client,
        progress=False,
    )
    assert real.count("COMPLETED") == trials
    workload = DurationWorkload(
        DurationModel(SPEC, seed=DURATION_SEED), value=lambda config: config["x"]
    )
    sim = run_search(workload, cluster=2, space=SPACE, num_trials=trials, seed=seed)
    assert [t.config for t in sorted(real.trials_list, key=lambda t: t.trial_id)] == [
        t.config for t in sim.tuner.trials.values()
    ]
    durations = [DurationModel(SPEC, seed=DURATION_SEED)(i, {}) for i in range(trials)]
    slept = sum(t.last_metrics["slept"] for t in real.trials_list)
    assert slept == pytest.approx(sum(durations))
    real_makespan = _makespan(real.trials_list)
    assert real_makespan >= max(sum(durations) / 2, max(durations))  # no schedule does better
    assert sim.makespan >= max(sum(durations) / 2, max(durations)) * (1 - 1e-12)
    assert real_makespan <= sim.makespan + OVERHEAD_BOUND_S * trials / 2
