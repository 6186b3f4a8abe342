"""One driver per experiment directory: a second one refuses at once, naming the first; the lock
of a driver that died is taken over; nothing is appended twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daskhpo.errors import DaskhpoError, ExperimentLockedError
from daskhpo.experiment.lock import DriverLock

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "daskhpo.cli"]

HOLD = """
import sys, time
from pathlib import Path
from daskhpo.experiment.lock import DriverLock
lock = DriverLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder_process(lock_path: Path) -> subprocess.Popen[str]:
    """A real other process that takes the lock and keeps it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_by_a_running_process_is_refused_with_its_host_and_pid(tmp_path):
    path = tmp_path / "driver.lock"
    proc = _holder_process(path)
    try:
        with pytest.raises(ExperimentLockedError) as info:
            DriverLock(path).acquire()
        message = str(info.value)
        assert f"pid {proc.pid}" in message
        assert socket.gethostname() in message
        assert f"kill {proc.pid}" in message
        assert isinstance(info.value, DaskhpoError)
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_sigkilled_process_is_taken_over(tmp_path):
    path = tmp_path / "driver.lock"
    proc = _holder_process(path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = DriverLock(path)
    lock.acquire()
    try:
        assert lock.took_over is not None
        assert lock.took_over.pid == proc.pid
        holder = lock.holder()
        assert holder is not None
        assert holder.pid == os.getpid()
    finally:
        lock.release()
    assert not path.exists()


def _write_lock(path: Path, *, host: str, pid: int, started: float, age_s: float) -> None:
    record = {"host": host, "pid": pid, "process_started": started, "token": "t0"}
    path.write_text(json.dumps(record))
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_a_live_pid_that_is_another_process_does_not_hold_the_lock(tmp_path):
    # The pid was reused: it runs, but it started at another time than the lock's holder.
    path = tmp_path / "driver.lock"
    _write_lock(path, host=socket.gethostname(), pid=os.getpid(), started=1.0, age_s=0)
    with DriverLock(path) as lock:
        assert lock.took_over is not None
        assert lock.took_over.token == "t0"


def test_a_lock_from_another_host_holds_until_it_is_no_longer_refreshed(tmp_path):
    path = tmp_path / "driver.lock"
    _write_lock(path, host="node-elsewhere", pid=1234, started=5.0, age_s=5)
    with pytest.raises(ExperimentLockedError, match=r"node-elsewhere.*expires"):
        DriverLock(path, stale_after_s=60).acquire()
    _write_lock(path, host="node-elsewhere", pid=1234, started=5.0, age_s=61)
    with DriverLock(path, stale_after_s=60) as lock:
        assert lock.took_over is not None
        assert lock.took_over.host == "node-elsewhere"


def test_a_held_lock_is_refreshed_so_other_hosts_see_it_alive(tmp_path):
    path = tmp_path / "driver.lock"
    with DriverLock(path, refresh_s=0.05, stale_after_s=1.0):
        old = time.time() - 30
        os.utime(path, (old, old))
        deadline = time.monotonic() + 10
        while time.time() - path.stat().st_mtime > 5:
            assert time.monotonic() < deadline, "the lock was not refreshed within 10 s"
            time.sleep(0.02)


def _contend(path: str, start: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    while time.time() < start:
        time.sleep(0.001)
    try:
        with DriverLock(Path(path)):
            queue.put("won")
            time.sleep(1.0)  # held while the others try
    except ExperimentLockedError:
        queue.put("refused")


def test_of_several_drivers_that_find_one_stale_lock_exactly_one_wins(tmp_path):
    path = tmp_path / "driver.lock"
    _write_lock(path, host="node-gone", pid=99, started=1.0, age_s=3600)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 2.0
    procs = [ctx.Process(target=_contend, args=(str(path), start, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    outcomes = sorted(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    assert outcomes == ["refused", "refused", "refused", "won"]


EXPERIMENT_YAML = """
objective: tests.ft_objectives:checkpointed
space:
  x: {uniform: [-1, 1]}
  steps: 20
  step_time: 0.1
metric: loss
num_trials: 8
seed: 3
cluster: {local: {n_workers: 1}}
"""


@pytest.mark.slow
def test_a_second_daskhpo_resume_while_the_first_runs_refuses_and_appends_nothing(tmp_path):
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT_YAML)
    exp = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        [*CLI, "run", str(tmp_path / "experiment.yaml"), "--dir", str(exp), "--quiet"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not (exp / "journal.jsonl").exists() or not (exp / "driver.lock").exists():
            assert time.monotonic() < deadline, "the first driver did not start within 90 s"
            assert first.poll() is None, "the first driver ended early"
            time.sleep(0.05)
        second = subprocess.run(
            [*CLI, "resume", str(exp), "--quiet"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        journal_now = (exp / "journal.jsonl").read_bytes()
        assert first.poll() is None, "the first driver must still be running"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"pid {first.pid}" in lines[0]
    assert "in use by another daskhpo driver" in lines[0]
    # The refused driver wrote nothing: every line of the journal is the first driver's.
    records = [json.loads(line) for line in journal_now.decode().splitlines() if line.strip()]
    assert [r["event"] for r in records].count("resume") == 0
    # The first driver was SIGKILLed: its lock is stale and a resume takes it over and finishes.
    resumed = subprocess.run(
        [*CLI, "resume", str(exp), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (exp / "journal.jsonl").read_text().splitlines()]
    completed = sorted(r["trial_id"] for r in records if r["event"] == "completed")
    assert completed == list(range(8))  # each exactly once
    assert not (exp / "driver.lock").exists()
