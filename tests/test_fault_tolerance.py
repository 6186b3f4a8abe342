"""Worker loss, retries, journal and resume, on real worker processes killed with SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import daskhpo as dh
from daskhpo.experiment.journal import Journal
from daskhpo.records import Reported
from simulate.runner import run_search
from simulate.workloads import DurationWorkload
from tests import ft_objectives, objectives
from tests.ft_objectives import read_steps, read_stops
from tests.journal_lines import journal_lines

ROOT = Path(__file__).resolve().parents[1]


def _journal(path: Path) -> list[dict]:
    return journal_lines(path / "journal.jsonl")


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
    for row in df.itertuples():
        trial_dir = tmp_path / "trials" / f"trial_{row.trial_id:05d}"
        ft_objectives.check_ran_to_the_end_once(trial_dir, int(row.attempt), steps=8)
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


# --------------------------------------------------------------------------- interrupted searches

#: 2 s trials of 20 steps that report and checkpoint after each step.
STEPPED = {"x": dh.uniform(-1, 1), "steps": 20, "step_time": 0.1}
#: How long a test waits for each stage before it fails (a wait limit, not a measurement).
PATIENCE_S = 90.0


def _step_log(exp: Path, trial_id: int) -> Path:
    return exp / "trials" / f"trial_{trial_id:05d}" / ft_objectives.STEP_LOG


def _wait_for(what: str, condition: Callable[[], bool], proc: Any = None) -> None:
    """Poll ``condition`` until it holds; fail the test after PATIENCE_S or if ``proc`` ends."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the driver ended (exit {proc.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"not within {PATIENCE_S:g} s: {what}")


def _mid_search(exp: Path) -> bool:
    """The driver has journaled a report of a trial still in flight (so it checkpointed)."""
    if not (exp / "journal.jsonl").exists():
        return False
    records = _journal(exp)
    ended = {r["trial_id"] for r in records if r["event"] in ("completed", "failed", "stopped")}
    reported = {r["trial_id"] for r in records if r["event"] == "reported"}
    return bool(reported - ended)


def _reference_configs(space: dict[str, Any], trials: int, seed: int) -> dict[int, dict]:
    """The configurations an uninterrupted search with this seed tries (on the simulator)."""
    run = run_search(
        DurationWorkload("constant:1"), cluster=2, space=space, num_trials=trials, seed=seed
    )
    return {t.trial_id: t.config for t in run.tuner.trials.values()}


def check_resumed(
    exp: Path, space: dict[str, Any], trials: int, seed: int, *, cancelled: bool
) -> None:
    """What an interrupted, then resumed, search must show in its journal and step logs.

    ``cancelled``: the interruption cancelled the attempts in flight (time budget, Ctrl-C),
    so each of them must have been told to stop at a report; else they were killed.
    """
    records = _journal(exp)
    resume_at = [i for i, r in enumerate(records) if r["event"] == "resume"]
    assert len(resume_at) == 1, "one resume, journaled"
    first = records[: resume_at[0]]
    steps = int(space["steps"])
    # Every trial completed exactly once; every step of it ran exactly once, in order.
    completed = {r["trial_id"]: r for r in records if r["event"] == "completed"}
    assert sorted(r["trial_id"] for r in records if r["event"] == "completed") == list(
        range(trials)
    )
    for trial_id in range(trials):
        logged = read_steps(_step_log(exp, trial_id))
        assert [s for _, s in logged] == list(range(steps)), f"trial {trial_id}: {logged}"
    # The attempts in flight at the interruption stopped early; the next attempt of each went
    # on from the checkpoint (at least as far as the driver had heard).
    ended = {
        (r["trial_id"], r["attempt"])
        for r in first
        if r["event"] in ("completed", "failed", "stopped", "paused", "lost")
    }
    in_flight = {(r["trial_id"], r["attempt"]) for r in first if r["event"] == "started"} - ended
    assert in_flight, "the interruption found trials running"
    heard: dict[tuple[int, int], float] = {}
    for r in first:
        if r["event"] == "reported":
            key = (r["trial_id"], r["attempt"])
            heard[key] = max(heard.get(key, 0.0), float(r["step"]))
    assert any(heard.get(key, 0) > 0 for key in in_flight), "a running trial had reported"
    stopped_at = {(r["trial_id"], r["attempt"]) for r in first if r["event"] == "cancelled"}
    for trial_id, attempt in in_flight:
        log = _step_log(exp, trial_id)
        ran = [s for a, s in read_steps(log) if a == attempt]
        assert len(ran) < steps, f"trial {trial_id} attempt {attempt} ran to the end"
        final = completed[trial_id]
        assert final["attempt"] > attempt
        assert final["metrics"]["resumed_from"] >= heard.get((trial_id, attempt), 0)
        before = sum(1 for a, _ in read_steps(log) if a < final["attempt"])
        assert final["metrics"]["resumed_from"] == before  # where its checkpoint left off
        if cancelled:
            assert (trial_id, attempt) in stopped_at
            assert attempt in read_stops(log), f"the cancel never reached trial {trial_id}"
    assert any(completed[t]["metrics"]["resumed_from"] > 0 for t, _ in in_flight)
    # Trials created after the resume are those an uninterrupted search would have created.
    created = {r["trial_id"]: r["config"] for r in records if r["event"] == "created"}
    created_first = {r["trial_id"] for r in first if r["event"] == "created"}
    assert len(created_first) < trials, "trials were left to create after the resume"
    assert created == _reference_configs(space, trials, seed)


def test_time_budget_cancels_and_resume_finishes_the_count(dask_client, tmp_path):
    trials = 8
    first = dh.tune(
        ft_objectives.stepped,
        STEPPED,
        metric="loss",
        num_trials=trials,
        seed=3,
        client=dask_client,
        experiment_dir=tmp_path,
        time_budget=1.5,
        queue_depth=0,  # no trial created ahead of a free slot: some are left to create
        progress=False,
    )
    assert "time budget" in str(first.stop_reason)
    assert first.count("CANCELLED") >= 1
    second = dh.tune(
        ft_objectives.stepped,
        STEPPED,
        metric="loss",
        num_trials=trials,
        client=dask_client,
        experiment_dir=tmp_path,
        resume=True,
        queue_depth=0,
        progress=False,
    )
    assert second.count("COMPLETED") == trials
    check_resumed(tmp_path, STEPPED, trials, seed=3, cancelled=True)


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


def _experiment_yaml(trials: int, cluster: str) -> str:
    """An experiment file for :func:`ft_objectives.stepped` without a seed: the search draws
    one and saves it, and a resume must use the saved one."""
    return (
        "objective: tests.ft_objectives:stepped\n"
        "space:\n"
        "  x: {uniform: [-1, 1]}\n"
        f"  steps: {STEPPED['steps']}\n"
        f"  step_time: {STEPPED['step_time']}\n"
        "metric: loss\n"
        f"num_trials: {trials}\n"
        "queue_depth: 0\n"
        f"cluster: {cluster}\n"
    )


CLI = [sys.executable, "-m", "daskhpo.cli.main"]
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _saved_seed(exp: Path) -> int:
    return int(json.loads((exp / "experiment.json").read_text())["seed"])


@pytest.mark.slow
def test_daskhpo_run_killed_midway_then_daskhpo_resume_finishes_without_reruns(tmp_path):
    trials = 10
    (tmp_path / "experiment.yaml").write_text(_experiment_yaml(trials, "{local: {n_workers: 2}}"))
    exp = tmp_path / "exp"
    proc = subprocess.Popen(
        [*CLI, "run", str(tmp_path / "experiment.yaml"), "--dir", str(exp), "--quiet"],
        cwd=tmp_path,
        env=CLI_ENV,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for("a report of a running trial", lambda: _mid_search(exp), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers die together
        proc.wait()
    resumed = subprocess.run(
        [*CLI, "resume", str(exp), "--quiet"],
        cwd=tmp_path,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    check_resumed(exp, STEPPED, trials, _saved_seed(exp), cancelled=False)
    status = subprocess.run(
        [*CLI, "status", str(exp)],
        cwd=tmp_path,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0
    assert str(trials) in status.stdout


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_journal_leaves_a_readable_prefix(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    journal = Journal(path)
    for i in range(20):
        loss = {"loss": 1.0 / (i + 1)}
        journal.append(Reported(time=i * 0.5, trial_id=i, attempt=0, step=1, metrics=loss))
    journal.close()
    whole = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(whole) - 1), label="cut")
    event("cut at a line end" if cut == 0 or whole[cut - 1 : cut] == b"\n" else "cut in a line")
    path.write_bytes(whole[:cut])  # a driver killed in the middle of a write
    lines = journal_lines(path)
    complete_lines = whole[:cut].count(b"\n")
    assert len(lines) == complete_lines  # the torn line is left out, nothing else
    assert [r["trial_id"] for r in lines] == list(range(complete_lines))
    assert all(r["event"] == "reported" for r in lines)
    # A journal appended to after the tear still reads every whole record before it.
    with path.open("ab") as f:
        f.write(b"\n" + whole.splitlines(keepends=True)[-1])
    assert [r["trial_id"] for r in journal_lines(path)][:complete_lines] == list(
        range(complete_lines)
    )


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


@pytest.mark.slow
def test_ctrl_c_cancels_running_trials_and_the_search_resumes(dask_client, tmp_path):
    """SIGINT to ``daskhpo run`` on a cluster that outlives it: the running trials must be
    told to stop (closing the driver's own cluster would hide a cancel that never arrives)."""
    trials = 10
    address = dask_client.scheduler.address
    (tmp_path / "experiment.yaml").write_text(_experiment_yaml(trials, f"'{address}'"))
    exp = tmp_path / "exp"
    proc = subprocess.Popen(
        [*CLI, "run", str(tmp_path / "experiment.yaml"), "--dir", str(exp), "--quiet"],
        cwd=tmp_path,
        env=CLI_ENV,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for("a report of a running trial", lambda: _mid_search(exp), proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            pytest.fail(f"daskhpo run did not end within {PATIENCE_S:g} s of SIGINT")
    assert proc.returncode == 130, err
    events = [r["event"] for r in _journal(exp)]
    assert "interrupted" in events
    assert events[-1] == "end"
    assert (exp / "trials.csv").exists()
    result = dh.tune(
        ft_objectives.stepped,
        STEPPED,
        metric="loss",
        num_trials=trials,
        client=dask_client,
        experiment_dir=exp,
        resume=True,
        queue_depth=0,
        progress=False,
    )
    assert result.count("COMPLETED") == trials
    check_resumed(exp, STEPPED, trials, _saved_seed(exp), cancelled=True)


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
    metrics = {"loss": np.float32(0.5), "curve": np.array([1.0, 2.0]), 7: math.inf}
    metrics |= {"where": tmp_path, "pair": (1, "a")}
    journal.append(Reported(trial_id=np.int64(3), attempt=0, step=1, metrics=metrics))
    journal.close()
    (record,) = journal_lines(tmp_path / "journal.jsonl")
    assert record == {
        "event": "reported",
        "time": 0.0,
        "trial_id": 3,
        "attempt": 0,
        "step": 1,
        "metrics": {
            "loss": 0.5,
            "curve": [1.0, 2.0],
            "7": None,
            "where": str(tmp_path),
            "pair": [1, "a"],
        },
    }
