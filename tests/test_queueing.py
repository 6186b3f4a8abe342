"""Where queued trials wait: on the scheduler of a cluster daskhpo starts, never behind a long
trial on a busy worker; Dask's prefetching comes back for millisecond trials only; a cluster
someone else owns keeps its settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import pytest

import daskhpo as dh
from daskhpo.clusters import connect, owns_scheduler
from tests import objectives


def _saturation(client: Any) -> float:
    return float(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION))


@pytest.fixture
def daskhpo_cluster() -> Iterator[Any]:
    """The LocalCluster ``tune()`` starts by default, kept open across calls."""
    with connect({"local": {"n_workers": 2, "threads_per_worker": 1}}) as (client, _):
        client.wait_for_workers(2)
        yield client


def _loaded_modules(dask_worker: Any = None) -> set[str]:
    import sys

    return {name for name in sys.modules if name.startswith("daskhpo")}


def test_the_workers_of_daskhpos_cluster_load_the_trial_modules_as_they_start(daskhpo_cluster):
    # Before any task: the first trial does not pay for importing them.
    for loaded in daskhpo_cluster.run(_loaded_modules).values():
        assert {"daskhpo.reporting", "daskhpo.worker_plugin"} <= loaded


def test_a_straggler_does_not_hold_back_the_trials_queued_after_it(daskhpo_cluster, tmp_path):
    assert owns_scheduler(daskhpo_cluster)
    assert _saturation(daskhpo_cluster) == 1.0
    # Trial 0 runs 3 s; the five after it take 0.2 s each. All are queued at once (FIFO keeps
    # a queue), so with Dask's prefetching trial 2 would wait on trial 0's worker.
    sleeps = [3.0, 0.2, 0.21, 0.22, 0.23, 0.24]
    result = dh.tune(
        objectives.sleepy,
        {"x": 0.0, "sleep": dh.grid(sleeps)},
        metric="loss",
        client=daskhpo_cluster,
        experiment_dir=tmp_path,
        progress=False,
    )
    df = result.trials.sort_values("start_time")
    assert df["trial_id"].tolist() == list(range(len(sleeps)))  # first in, first out
    long_worker = df.loc[df["trial_id"] == 0, "worker"].item()
    assert (df.loc[df["trial_id"] > 0, "worker"] != long_worker).all()
    assert _saturation(daskhpo_cluster) == 1.0  # trials of 0.2 s: no prefetching


def test_prefetching_returns_for_millisecond_trials(daskhpo_cluster, tmp_path):
    result = dh.tune(
        objectives.quadratic,
        {"lr": dh.uniform(0.0, 0.1), "layers": 2},
        metric="loss",
        num_trials=40,
        client=daskhpo_cluster,
        experiment_dir=tmp_path,
        progress=False,
    )
    assert result.count("COMPLETED") == 40
    dask_default = dask.config.get("distributed.scheduler.worker-saturation")
    assert _saturation(daskhpo_cluster) == dask_default


def test_a_cluster_daskhpo_did_not_start_keeps_its_settings(dask_client, tmp_path):
    assert not owns_scheduler(dask_client)
    before = _saturation(dask_client)
    dh.tune(
        objectives.quadratic,
        {"lr": dh.uniform(0.0, 0.1), "layers": 2},
        metric="loss",
        num_trials=20,
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    assert _saturation(dask_client) == before
