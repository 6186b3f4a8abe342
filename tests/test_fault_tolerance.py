"""Worker loss, retries, journal and resume, on real worker processes killed with SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import daskhpo as dh
from daskhpo.experiment.journal import Journal, read_journal
from tests import ft_objectives, objectives

ROOT = Path(__file__).resolve().parents[1]


def _journal(path: Path) -> list[dict]:
    return list(read_journal(path / "journal.jsonl"))


class WorkerKiller(threading.Thread):
    """SIGKILLs the process of a worker that is running a trial, every ``interval`` s."""

    def __init__(self, client, kills: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.client, self.kills, self.interval = client, kills, interval
        self.killed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while len(self.killed) < self.kills and not self.stop.wait(self.interval):
            try:
                busy = {
                    addr
                    for addr, tasks in self.client.processing().items()
                    if any(str(k).startswith("daskhpo-trial-") for k in tasks)
                }
                pids = self.client.run(os.getpid, workers=sorted(busy)) if busy else {}
            except Exception:  # a worker restarting right now
                continue
            if pids:
                pid = sorted(pids.values())[len(self.killed) % len(pids)]
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)


@pytest.mark.slow
def test_chaos_sigkilled_workers_resubmit_from_checkpoint(own_cluster, tmp_path):
    killer = WorkerKiller(own_cluster, kills=4, interval=0.9)
    killer.start()
    try:
        result = dh.tune(
            ft_objectives.checkpointed,
            {"x": dh.uniform(-1, 1), "steps": 8, "step_time": 0.1},
            metric="loss",
            num_trials=14,
            seed=0,
            client=own_cluster,
            experiment_dir=tmp_path,
            max_retries=0,
            max_worker_losses=10,
        )
    finally:
        killer.stop.set()
        killer.join()
    df = result.trials
    assert len(killer.killed) >= 2
    # Every trial completed exactly once, none charged to the user's retry budget.
    not_completed = df.loc[df["status"] != "COMPLETED", ["trial_id", "status", "error"]]
    assert not_completed.empty, not_completed.to_dict("records")
    assert (df["user_failures"] == 0).all()
    completed = [r for r in _journal(tmp_path) if r["event"] == "completed"]
    assert sorted(r["trial_id"] for r in completed) == list(range(14))
    for trial_id in range(14):
        trial_dir = tmp_path / "trials" / f"trial_{trial_id:05d}"
        assert (trial_dir / "done.log").read_text().count("done") == 1
    # Lost attempts came back as new attempts and resumed from their checkpoints.
    lost = df[df["infra_failures"] > 0]
    assert len(lost) >= 1
    assert (lost["attempt"] >= 1).all()
    assert (lost["resumed_from"] > 0).any()
    assert (lost["ran"] < 8).any()  # they did less work than a fresh start


def test_user_failures_are_retried_up_to_max_retries(dask_client, tmp_path):
    result = dh.tune(
        objectives.raises_if_negative,
        {"x": -1},
        metric="x",
        num_trials=2,
        max_retries=2,
        client=dask_client,
        experiment_dir=tmp_path,
    )
    df = result.trials
    assert list(df["status"]) == ["FAILED", "FAILED"]
    assert list(df["user_failures"]) == [3, 3]
    assert list(df["infra_failures"]) == [0, 0]
    failed = [r for r in _journal(tmp_path) if r["event"] == "failed"]
    assert [r["retry"] for r in failed if r["trial_id"] == 0] == [True, True, False]
    assert "RuntimeError: negative x" in failed[-1]["error"]


def test_time_budget_cancels_and_resume_finishes_the_count(dask_client, tmp_path):
    space = {"x": dh.uniform(-1, 1), "steps": 10, "step_time": 0.1}
    first = dh.tune(
        ft_objectives.checkpointed,
        space,
        metric="loss",
        num_trials=6,
        seed=3,
        client=dask_client,
        experiment_dir=tmp_path,
        time_budget=1.5,
    )
    assert "time budget" in str(first.stop_reason)
    assert first.count("COMPLETED") < 6
    assert first.count("CANCELLED") >= 1
    second = dh.tune(
        ft_objectives.checkpointed,
        space,
        metric="loss",
        num_trials=6,
        client=dask_client,
        experiment_dir=tmp_path,
        resume=True,
    )
    assert second.count("COMPLETED") == 6
    assert len(second.trials) == 6
    # Same seed from the journal: the configurations of the first run are kept.
    before = {t.trial_id: t.config for t in first.trials_list}
    after = {t.trial_id: t.config for t in second.trials_list}
    assert all(after[i] == cfg for i, cfg in before.items())
    # Trials completed in the first run did not run again.
    for t in first.trials_list:
        if t.status is dh.TrialStatus.COMPLETED:
            done = tmp_path / "trials" / f"trial_{t.trial_id:05d}" / "done.log"
            assert done.read_text().count("done") == 1


def test_resume_refuses_a_changed_space_or_a_non_experiment(dask_client, tmp_path):
    dh.tune(
        objectives.quadratic,
        {"lr": dh.uniform(0, 1), "layers": 1},
        metric="loss",
        num_trials=2,
        seed=0,
        client=dask_client,
        experiment_dir=tmp_path / "a",
    )
    with pytest.raises(ValueError, match="search space changed"):
        dh.tune(
            objectives.quadratic,
            {"lr": dh.uniform(0, 2), "layers": 1},
            metric="loss",
            num_trials=2,
            client=dask_client,
            experiment_dir=tmp_path / "a",
            resume=True,
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a daskhpo experiment directory"):
        dh.tune(
            objectives.quadratic,
            {"lr": dh.uniform(0, 1)},
            metric="loss",
            num_trials=2,
            client=dask_client,
            experiment_dir=tmp_path / "empty",
            resume=True,
        )
    with pytest.raises(ValueError, match="already holds an experiment"):
        dh.tune(
            objectives.quadratic,
            {"lr": dh.uniform(0, 1), "layers": 1},
            metric="loss",
            num_trials=2,
            client=dask_client,
            experiment_dir=tmp_path / "a",
        )


EXPERIMENT_YAML = """
objective: tests.ft_objectives:checkpointed
space:
  x: {uniform: [-1, 1]}
  steps: 6
  step_time: 0.1
metric: loss
num_trials: 12
seed: 5
cluster: {local: {n_workers: 2}}
"""


@pytest.mark.slow
def test_daskhpo_run_killed_midway_then_daskhpo_resume_finishes_without_reruns(tmp_path):
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT_YAML)
    exp = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "daskhpo.cli.main"]
    proc = subprocess.Popen(
        [*command, "run", str(tmp_path / "experiment.yaml"), "--dir", str(exp), "--quiet"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = (
                [r for r in _journal(exp) if r["event"] == "completed"]
                if (exp / "journal.jsonl").exists()
                else []
            )
            if len(done) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the driver completed no trials within 90 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers die together
        proc.wait()
    completed_before = {r["trial_id"] for r in _journal(exp) if r["event"] == "completed"}
    assert 3 <= len(completed_before) < 12
    resumed = subprocess.run(
        [*command, "resume", str(exp), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    completed = [r["trial_id"] for r in _journal(exp) if r["event"] == "completed"]
    assert sorted(completed) == list(range(12))  # each exactly once, across both runs
    for trial_id in completed_before:
        done = exp / "trials" / f"trial_{trial_id:05d}" / "done.log"
        assert done.read_text().count("done") == 1, f"trial {trial_id} ran again"
    assert "resume" in [r["event"] for r in _journal(exp)]
    status = subprocess.run(
        [*command, "status", str(exp)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0
    assert "12" in status.stdout


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_truncated_journal_leaves_a_readable_prefix(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    journal = Journal(path)
    for i in range(20):
        journal.write("reported", trial_id=i, time=i * 0.5, metrics={"loss": 1.0 / (i + 1)})
    journal.close()
    data = path.read_bytes()
    cut = min(cut, len(data))
    path.write_bytes(data[:cut])
    records = list(read_journal(path))
    complete_lines = data[:cut].count(b"\n")
    assert len(records) == complete_lines
    assert [r["trial_id"] for r in records] == list(range(complete_lines))
    assert json.loads(data.splitlines()[0])["event"] == "reported"


def test_objective_the_workers_cannot_import_fails_before_any_trial(
    dask_client, tmp_path, monkeypatch
):
    module_dir = tmp_path / "private"
    module_dir.mkdir()
    (module_dir / "private_objective.py").write_text("def objective(config):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(module_dir))  # the driver sees it, the workers do not
    import private_objective  # type: ignore[import-not-found]

    with pytest.raises(RuntimeError, match="cannot load the objective 'objective'"):
        dh.tune(
            private_objective.objective,
            {"x": dh.uniform(0, 1)},
            metric="loss",
            num_trials=5,
            client=dask_client,
            experiment_dir=tmp_path / "exp",
        )
    records = _journal(tmp_path / "exp")
    assert not [r for r in records if r["event"] == "submitted"]
    # The failed load was an ordinary task error: no worker went down with it.
    assert len(dask_client.scheduler_info()["workers"]) == 2


INTERRUPTED_DRIVER = textwrap.dedent(
    """
    import sys
    import daskhpo as dh
    from tests import ft_objectives

    result = dh.tune(ft_objectives.checkpointed,
                     {"x": dh.uniform(-1, 1), "steps": 6, "step_time": 0.1},
                     metric="loss", num_trials=10, seed=2, experiment_dir=sys.argv[1],
                     cluster={"local": {"n_workers": 2}}, progress=False)
    print("INTERRUPTED" if result.interrupted else "FINISHED", result.count("COMPLETED"))
    """
)


@pytest.mark.slow
def test_ctrl_c_cancels_running_trials_and_the_search_resumes(dask_client, tmp_path):
    exp = tmp_path / "exp"
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_DRIVER, str(exp)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (exp / "journal.jsonl").exists() and sum(
                r["event"] == "completed" for r in _journal(exp)
            ) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert out.startswith("INTERRUPTED")
    events = [r["event"] for r in _journal(exp)]
    assert "interrupted" in events
    assert events[-1] == "end"
    assert "cancelled" in events
    assert (exp / "trials.csv").exists()
    result = dh.tune(
        ft_objectives.checkpointed,
        {"x": dh.uniform(-1, 1), "steps": 6, "step_time": 0.1},
        metric="loss",
        num_trials=10,
        client=dask_client,
        experiment_dir=exp,
        resume=True,
    )
    assert result.count("COMPLETED") == 10


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (objectives.returns_nan, "must be a finite number"),
        (objectives.returns_none, "returned None"),
        (objectives.returns_string, "returned 'oops'"),
        (objectives.returns_dict_without_metric, "without the metric 'loss'"),
    ],
)
def test_unusable_results_are_failed_trials_with_the_reason(
    dask_client, tmp_path, objective, message
):
    result = dh.tune(
        objective,
        {"x": dh.uniform(0, 1)},
        metric="loss",
        num_trials=2,
        seed=0,
        client=dask_client,
        experiment_dir=tmp_path,
    )
    assert list(result.trials["status"]) == ["FAILED", "FAILED"]
    assert result.trials["error"].str.contains(message, regex=False).all()
    failed = [r for r in _journal(tmp_path) if r["event"] == "failed"]
    assert len(failed) == 2  # journaled with the reason, nothing lost


def test_experiment_dir_that_cannot_be_written_fails_before_any_cluster(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="is not writable"):
        dh.tune(
            objectives.quadratic,
            {"lr": dh.uniform(0, 1), "layers": 1},
            metric="loss",
            num_trials=2,
            experiment_dir=blocker / "exp",
            cluster="tcp://127.0.0.1:1",
        )


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        dh.tune(
            objectives.quadratic,
            {"lr": dh.uniform(0, 1), "layers": 1},
            metric="loss",
            num_trials=2,
            cluster={"address": "tcp://127.0.0.1:1"},
        )


def test_target_value_stops_the_search(dask_client):
    result = dh.tune(
        objectives.quadratic,
        {"lr": dh.uniform(0, 0.02), "layers": 1},
        metric="loss",
        num_trials=400,
        seed=0,
        target=0.00101,
        client=dask_client,
        max_concurrent=2,
    )
    assert "target loss=0.00101 reached" in str(result.stop_reason)
    assert result.best_value is not None
    assert result.best_value <= 0.00101
    assert len(result.trials) < 400


def test_journal_writes_numpy_values_paths_and_non_finite_numbers(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.write(
        "reported",
        trial_id=np.int64(3),
        metrics={"loss": np.float32(0.5), "curve": np.array([1.0, 2.0]), 7: math.inf},
        where=tmp_path,
        pair=(1, "a"),
    )
    journal.close()
    (record,) = read_journal(tmp_path / "journal.jsonl")
    assert record == {
        "event": "reported",
        "trial_id": 3,
        "metrics": {"loss": 0.5, "curve": [1.0, 2.0], "7": None},
        "where": str(tmp_path),
        "pair": [1, "a"],
    }
