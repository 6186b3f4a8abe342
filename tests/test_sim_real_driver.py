"""The simulator predicts the real driver: same decisions on one worker, similar makespan on two.

The same seed and duration draws (a fifth of a second) run through ``daskhpo.tune`` on a real
LocalCluster and through the SimBackend.
"""

from __future__ import annotations

import importlib

import pytest

import daskhpo as dh
from simulate.runner import run_search
from simulate.workloads import DurationModel, DurationWorkload
from tests import sim_objectives

SPEC = "uniform:low=0.15,high=0.25"
DURATION_SEED = 3
SPACE = {"x": dh.uniform(0.0, 1.0), "duration": SPEC, "duration_seed": DURATION_SEED}


def _simulate(workers: int, trials: int, seed: int):
    workload = DurationWorkload(
        DurationModel(SPEC, seed=DURATION_SEED), value=lambda config: config["x"]
    )
    return run_search(
        workload, cluster=workers, space=SPACE, num_trials=trials, seed=seed
    ).tuner.trials


def _order(trials, key: str) -> list[int]:
    return [t.trial_id for t in sorted(trials, key=lambda t: (getattr(t, key), t.trial_id))]


def _makespan(trials) -> float:
    return max(t.ended_at for t in trials) - min(t.started_at for t in trials)


@pytest.mark.slow
def test_one_worker_same_decisions(dask_client):
    trials, seed = 6, 11
    real = dh.tune(
        sim_objectives.sleep_like_sim,
        SPACE,
        metric="loss",
        num_trials=trials,
        seed=seed,
        client=dask_client,
        max_concurrent=1,
    )
    sim = list(_simulate(1, trials, seed).values())
    assert [t.config for t in sorted(real.trials_list, key=lambda t: t.trial_id)] == [
        t.config for t in sim
    ]
    assert _order(real.trials_list, "started_at") == _order(sim, "started_at")
    assert _order(real.trials_list, "ended_at") == _order(sim, "ended_at")
    assert real.best_trial is not None
    assert real.best_trial.trial_id == min(sim, key=lambda t: t.last_metrics["loss"]).trial_id


@pytest.mark.slow
def test_two_workers_makespan_close_to_simulated(dask_client):
    trials, seed = 24, 5
    dask_client.run(importlib.import_module, "tests.sim_objectives")  # no first-import delay
    real = dh.tune(
        sim_objectives.sleep_like_sim,
        SPACE,
        metric="loss",
        num_trials=trials,
        seed=seed,
        client=dask_client,
    )
    assert real.count("COMPLETED") == trials
    sim = list(_simulate(2, trials, seed).values())
    slept = sum(t.last_metrics["slept"] for t in real.trials_list)
    assert slept == pytest.approx(
        sum(DurationModel(SPEC, seed=DURATION_SEED)(i, {}) for i in range(trials))
    )
    real_makespan, sim_makespan = _makespan(real.trials_list), _makespan(sim)
    assert real_makespan == pytest.approx(sim_makespan, rel=0.10)
