"""Where queued trials wait: on the scheduler of a cluster daskhpo starts, never behind a long
trial on a busy worker; Dask's prefetching comes back for millisecond trials only; a cluster
someone else owns keeps its settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin

import daskhpo as dh
from daskhpo.dask.clusters import connect, owns_scheduler
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
        assert {"daskhpo.dask.worker.reporting", "daskhpo.dask.worker.plugin"} <= loaded


def _profiler_running(dask_worker: Any = None) -> bool:
    return dask_worker.periodic_callbacks.get("profile") is not None


def test_the_workers_of_daskhpos_cluster_do_not_sample_their_threads_stacks(daskhpo_cluster):
    # Dask's profiler walks every busy thread's stack 100 times a second; on a worker with
    # many trial threads that is CPU taken from the trials.
    assert not any(daskhpo_cluster.run(_profiler_running).values())


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
    # First in, first out. Trials 0 and 1 start together on the two idle workers, in either
    # order; each later one waits for a 0.2 s trial to end.
    order = df["trial_id"].tolist()
    assert set(order[:2]) == {0, 1}
    assert order[2:] == list(range(2, len(sleeps)))
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


class _TrialPaths(SchedulerPlugin):
    """Records, per trial task, whether it waited in the scheduler's queue and whether it was
    sent with a worker restriction."""

    name = "daskhpo-test-trial-paths"

    def __init__(self) -> None:
        self.queued: set[str] = set()
        self.restricted: set[str] = set()
        self.oversubscribed: set[str] = set()  # sent to a worker whose threads were all busy
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if not (isinstance(key, str) and key.startswith("daskhpo-trial-")):
            return
        if finish == "queued":
            self.queued.add(key)
        ts = self.scheduler.tasks.get(key)
        if ts is not None and ts.worker_restrictions:
            self.restricted.add(key)
        if finish == "processing" and ts is not None and ts.processing_on is not None:
            ws = ts.processing_on
            if len(ws.processing) > ws.nthreads:
                self.oversubscribed.add(key)


def _trial_paths(dask_scheduler: Any = None) -> tuple[int, int, int]:
    plugin = dask_scheduler.plugins[_TrialPaths.name]
    return len(plugin.queued), len(plugin.restricted), len(plugin.oversubscribed)


def test_on_a_wide_cluster_every_waiting_trial_waits_in_the_schedulers_queue(tmp_path):
    # 20 threads: Dask queues a group of tasks on the scheduler only when it outnumbers twice
    # the threads, so the driver must keep more than that in flight, and send them without
    # free-slot hints (a hinted trial skips the queue and may wait behind a busy worker).
    with connect({"local": {"n_workers": 2, "threads_per_worker": 10}}) as (client, _):
        client.wait_for_workers(2)
        client.register_plugin(_TrialPaths())
        result = dh.tune(
            objectives.sleepy,
            {"x": dh.uniform(0, 1), "sleep": 0.1},
            metric="loss",
            num_trials=100,
            client=client,
            experiment_dir=tmp_path,
            progress=False,
        )
        queued, restricted, oversubscribed = client.run_on_scheduler(_trial_paths)
    assert result.count("COMPLETED") == 100
    assert restricted == 0
    # No trial waits behind another on a busy worker: each is sent when a thread is free.
    # (How many pass through the queue depends on how fast the driver submits compared with
    # the trials' end; under load a late submission may find a free thread at once.)
    assert oversubscribed == 0
    assert queued >= 20


def test_the_dask_backend_asks_for_a_queue_deep_enough_for_dasks_own_queueing(tmp_path):
    # The Tuner keeps capacity + min_queue_depth(capacity) trials in flight for a scheduler
    # that prefers a queue; with that many sent at once, Dask queues every trial beyond the
    # first wave on its scheduler (more in flight than twice the cluster's threads).
    from daskhpo.backend import AttemptSpec, Finished, QueueingBackend
    from daskhpo.dask.backend import DaskBackend

    with connect({"local": {"n_workers": 2, "threads_per_worker": 4}}) as (client, _):
        client.wait_for_workers(2)
        client.register_plugin(_TrialPaths())
        backend = DaskBackend(
            client, objectives.sleepy, metric="loss", experiment_dir=tmp_path, tune_saturation=True
        )
        try:
            assert isinstance(backend, QueueingBackend)
            capacity = backend.capacity()
            assert capacity == 8
            in_flight = capacity + backend.min_queue_depth(capacity)
            assert in_flight > 2 * 8
            for trial_id in range(in_flight):
                config = {"x": 0.5, "sleep": 0.2}
                backend.submit(AttemptSpec(trial_id=trial_id, attempt=0, config=config))
            finished = 0
            for _ in range(600):
                finished += sum(isinstance(e, Finished) for e in backend.wait(0.1))
                if finished == in_flight:
                    break
            assert finished == in_flight
        finally:
            backend.close()
        queued, restricted, oversubscribed = client.run_on_scheduler(_trial_paths)
    assert restricted == 0
    assert oversubscribed == 0
    assert queued >= in_flight - capacity


def test_the_dask_backend_says_what_workers_offer_and_how_to_start_the_right_ones(
    dask_client, tmp_path
):
    from daskhpo.dask.backend import DaskBackend

    backend = DaskBackend(
        dask_client,
        objectives.quadratic,
        metric="loss",
        experiment_dir=tmp_path,
        resources={"GPU": 1},
    )
    try:
        assert backend.capacity() == 0
        text = backend.describe_capacity()
    finally:
        backend.close()
    assert text.startswith("The cluster has 2 worker(s) offering: 1 threads, resources {}.")
    assert text.endswith(
        "Start workers that offer these resources (for example "
        "`dask worker ... --resources GPU=1`), or lower `resources`."
    )
