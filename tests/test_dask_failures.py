"""Failures users hit on clusters of their own: Dask's reruns, hung trials, memory limits.

Every test runs real worker processes (a plain ``distributed.LocalCluster``, or daskhpo's own)
and breaks them for real: SIGKILL, a thread that never returns, a trial that outgrows its
worker's memory limit.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster

import daskhpo as dh
from daskhpo.dask.clusters import start_local_cluster
from daskhpo.experiment.view import ExperimentView
from daskhpo.tuner.timeouts import timeout_grace
from tests import ft_objectives
from tests.journal_lines import journal_lines


def _local_cluster(**kwargs: object) -> tuple[LocalCluster, Client]:
    """A plain LocalCluster with Dask's own defaults (allowed-failures 3: Dask reruns a task
    whose worker died), as a user would start one and pass in."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, **kwargs
        )
    return cluster, Client(cluster)


@pytest.fixture
def user_cluster() -> Iterator[Client]:
    cluster, client = _local_cluster()
    try:
        yield client
    finally:
        client.close()
        cluster.close()


class BusyWorkerKiller(threading.Thread):
    """SIGKILLs the process of a worker running a trial, every ``interval`` s, ``kills`` times."""

    def __init__(self, client: Client, kills: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.client, self.kills, self.interval = client, kills, interval
        self.killed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while len(self.killed) < self.kills and not self.stop.wait(self.interval):
            try:
                busy = sorted(
                    addr
                    for addr, tasks in self.client.processing().items()
                    if any(str(k).startswith("daskhpo-trial-") for k in tasks)
                )
                pids = self.client.run(os.getpid, workers=busy) if busy else {}
            except Exception:  # a worker restarting right now
                continue
            if pids:
                os.kill(sorted(pids.values())[len(self.killed) % len(pids)], signal.SIGKILL)
                self.killed.append(len(self.killed))


@pytest.mark.slow
def test_dask_reruns_become_lost_attempts_with_default_allowed_failures(user_cluster, tmp_path):
    trials = 20
    killer = BusyWorkerKiller(user_cluster, kills=5, interval=1.0)
    killer.start()
    try:
        result = dh.tune(
            ft_objectives.checkpointed,
            {"x": dh.uniform(-1, 1), "steps": 8, "step_time": 0.1},
            metric="loss",
            num_trials=trials,
            seed=0,
            client=user_cluster,
            experiment_dir=tmp_path,
            max_worker_losses=10,
        )
    finally:
        killer.stop.set()
        killer.join()
    assert len(killer.killed) >= 3
    df = result.trials
    not_completed = df.loc[df["status"] != "COMPLETED", ["trial_id", "status", "error"]]
    assert not_completed.empty, not_completed.to_dict("records")
    assert (df["user_failures"] == 0).all()
    # No attempt ran to its end twice (no copy Dask started again finished), and no work was
    # redone beyond the tail of an attempt killed between its last step and its result.
    for row in df.itertuples():
        trial_dir = tmp_path / "trials" / f"trial_{row.trial_id:05d}"
        ft_objectives.check_ran_to_the_end_once(trial_dir, int(row.attempt), steps=8)
    # The lost attempts are in the lineage, and their successors resumed from checkpoints.
    lost = df[df["infra_failures"] > 0]
    assert len(lost) >= 1, df[["trial_id", "attempt", "infra_failures"]].to_dict("records")
    assert (lost["attempt"] >= 1).all()
    assert (lost["resumed_from"] > 0).any()
    view = ExperimentView.from_directory(tmp_path)
    assert sorted(t.trial_id for t in view.trials.values() if t.status.value == "COMPLETED") == (
        list(range(trials))
    )
    assert sum(t.infra_failures for t in view.trials.values()) == int(df["infra_failures"].sum())
    reasons = [a.error for t in range(trials) for a in view.history(t) if a.outcome == "LOST"]
    assert len(reasons) == int(df["infra_failures"].sum())
    assert (tmp_path / "trials" / ".started").is_dir()  # this scheduler reruns: attempts mark


def test_attempts_leave_no_start_marks_where_the_scheduler_never_reruns(own_cluster, tmp_path):
    # daskhpo's own clusters set allowed-failures 0: a file per attempt would only cost a
    # shared filesystem (and a full disk) for nothing.
    result = dh.tune(
        ft_objectives.checkpointed,
        {"x": dh.uniform(-1, 1), "steps": 2, "step_time": 0.01},
        metric="loss",
        num_trials=4,
        client=own_cluster,
        experiment_dir=tmp_path,
        progress=False,
    )
    assert result.count("COMPLETED") == 4
    assert not (tmp_path / "trials" / ".started").exists()


@pytest.mark.parametrize("whose", ["user", "own"])
def test_a_trial_over_its_workers_memory_limit_fails_with_the_reason(whose, tmp_path):
    # A user's cluster reruns the task (allowed-failures 3); daskhpo's own hands it back
    # (allowed-failures 0, KilledWorker): either way the loss names the memory limit.
    if whose == "user":
        cluster, client = _local_cluster(memory_limit="400MiB")
    else:
        cluster = start_local_cluster({"n_workers": 2, "memory_limit": "400MiB"})
        client = Client(cluster)
    try:
        result = dh.tune(
            ft_objectives.memory_hog,
            {"n": dh.grid(list(range(6))), "hog": 1, "x": 1.0, "mib": 800},
            metric="loss",
            client=client,
            experiment_dir=tmp_path,
            max_worker_losses=1,
        )
    finally:
        client.close()
        cluster.close()
    df = result.trials.set_index("trial_id")
    assert df.loc[1, "status"] == "FAILED"
    assert df.loc[1, "infra_failures"] == 2
    assert df.loc[1, "attempt"] == 1
    assert df.loc[1, "user_failures"] == 0
    error = df.loc[1, "error"]
    assert "exceeding its memory limit of 400 MiB (used " in error, error
    # The search went on: every other trial completed, once.
    assert list(df["status"].drop(1)) == ["COMPLETED"] * 5
    assert (df["attempt"].drop(1) == 0).all()
    assert (df["infra_failures"].drop(1) == 0).all()
    view = ExperimentView.from_directory(tmp_path)
    assert view.trials[1].status.value == "FAILED"
    assert "exceeding its memory limit of 400 MiB" in (view.trials[1].error or "")
    assert [a.outcome for a in view.history(1)] == ["LOST", "LOST"]


def _pids(client: Client) -> set[int]:
    return set(client.run(os.getpid).values())


def _records(exp: Path, event: str) -> list[dict]:
    return [r for r in journal_lines(exp / "journal.jsonl") if r["event"] == event]


def _records_of(exp: Path, trial_id: int) -> list[dict]:
    return [r for r in journal_lines(exp / "journal.jsonl") if r.get("trial_id") == trial_id]


def _timeout_failures(exp: Path, trial_id: int) -> list[dict]:
    return [r for r in _records(exp, "failed") if r["trial_id"] == trial_id]


def test_a_hung_trial_times_out_its_worker_restarts_and_the_others_complete(user_cluster, tmp_path):
    before = _pids(user_cluster)
    result = dh.tune(
        ft_objectives.hangs,
        {"n": dh.grid(list(range(8))), "hang": 1},
        metric="loss",
        client=user_cluster,
        experiment_dir=tmp_path,
        trial_timeout=2.0,
    )
    df = result.trials.set_index("trial_id")
    assert df.loc[1, "status"] == "FAILED"
    assert df.loc[1, "user_failures"] == 1
    assert df.loc[1, "attempt"] == 0
    assert str(df.loc[1, "error"]).startswith("timed out after 2 s"), df.loc[1, "error"]
    assert "its worker was restarted" in df.loc[1, "error"]
    others = df.drop(1)
    assert list(others["status"]) == ["COMPLETED"] * 7
    assert (others["user_failures"] == 0).all()
    # The hung thread's worker was restarted (a new process); the other one was not.
    after = _pids(user_cluster)
    assert len(before - after) == 1, (before, after)
    assert len(after) == 2
    (failed,) = _timeout_failures(tmp_path, 1)
    assert failed["kind"] == "timeout"
    view = ExperimentView.from_directory(tmp_path)
    (start,) = [a.started_at for a in view.history(1)]
    assert start is not None
    assert 2.0 <= failed["time"] - start <= 2.0 + timeout_grace(2.0) + 1.5
    completed = [r["trial_id"] for r in _records(tmp_path, "completed")]
    assert sorted(completed) == [0, 2, 3, 4, 5, 6, 7]


def test_a_trial_that_reports_is_stopped_at_its_timeout_without_a_restart_and_retried(
    user_cluster, tmp_path
):
    before = _pids(user_cluster)
    result = dh.tune(
        ft_objectives.reports_forever,
        {"n": dh.grid(list(range(4))), "hang": 2},
        metric="loss",
        client=user_cluster,
        experiment_dir=tmp_path,
        # Ten times what a short trial takes: its first run on a fresh worker also imports
        # the objective's module, which a loaded machine can stretch past a second.
        trial_timeout=3.0,
        max_retries=1,
    )
    df = result.trials.set_index("trial_id")
    assert df.loc[2, "status"] == "FAILED"
    lineage = [(r["event"], r.get("attempt"), r.get("reason")) for r in _records_of(tmp_path, 2)]
    assert df.loc[2, "attempt"] == 1, lineage  # two attempts: the retry timed out too
    assert df.loc[2, "user_failures"] == 2
    assert df.loc[2, "infra_failures"] == 0
    assert "it stopped at its next report" in df.loc[2, "error"]
    assert list(df.drop(2)["status"]) == ["COMPLETED"] * 3
    assert _pids(user_cluster) == before  # stopped cooperatively: no worker restarted
    failures = _timeout_failures(tmp_path, 2)
    assert [(f["attempt"], f["kind"], f["retry"]) for f in failures] == [
        (0, "timeout", True),
        (1, "timeout", False),
    ]
