"""Ctrl-C in a terminal: a real SIGINT to the process group of ``daskhpo run`` in a pty.

A terminal's Ctrl-C reaches every process of the foreground group, the workers of daskhpo's
own LocalCluster included; the search must end with one line while it cancels, the summary and
the resume hint, no worker traceback, and a journal that says it was interrupted.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from daskhpo import records
from daskhpo.experiment.journal import read_records

pytestmark = pytest.mark.slow

#: How long the test waits for each stage before it fails (a wait limit, not a measurement).
PATIENCE_S = 60.0


def _experiment(tmp_path: Path) -> Path:
    (tmp_path / "slow_objective.py").write_text(
        textwrap.dedent(
            """
            import time
            import daskhpo as dh

            def objective(config):
                for step in range(100):
                    time.sleep(0.1)
                    dh.report(step, loss=config["x"] + step)
                return config["x"]
            """
        )
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(
        "objective: slow_objective:objective\n"
        "space: {x: {uniform: [0, 1]}}\n"
        "metric: loss\n"
        "num_trials: 20\n"
        "cluster: {local: {n_workers: 2}}\n"
    )
    return path


class _Terminal:
    """A process in a pseudo-terminal, in a process group of its own, its output collected."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "120"},
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=PATIENCE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(
                f"daskhpo run did not end within {PATIENCE_S} s of Ctrl-C:\n{self.output}"
            ) from None
        finally:
            self._reader.join(timeout=5)


def _wait_for_running_trials(journal: Path, terminal: _Terminal) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if journal.exists() and any(isinstance(r, records.Reported) for r in read_records(journal)):
            return
        if terminal.process.poll() is not None:
            raise AssertionError(f"daskhpo run ended before any report:\n{terminal.output}")
        time.sleep(0.1)
    os.killpg(terminal.process.pid, signal.SIGKILL)
    raise AssertionError(f"no trial reported within {PATIENCE_S} s:\n{terminal.output}")


def _start(tmp_path: Path) -> tuple[_Terminal, Path]:
    run_dir = tmp_path / "run"
    daskhpo = [sys.executable, "-m", "daskhpo.cli"]
    terminal = _Terminal(
        [*daskhpo, "run", str(_experiment(tmp_path)), "--dir", str(run_dir)], tmp_path
    )
    _wait_for_running_trials(run_dir / "journal.jsonl", terminal)
    return terminal, run_dir


def test_ctrl_c_ends_the_search_quietly_with_the_summary_and_the_resume_hint(tmp_path):
    terminal, run_dir = _start(tmp_path)
    terminal.interrupt()
    assert terminal.wait() == 130
    out = terminal.output
    assert "Traceback" not in out
    assert "KeyboardInterrupt" not in out
    assert "Worker process died" not in out
    assert out.count("interrupted: cancelling the running trials") == 1
    assert "Search ended: interrupted" in out
    assert f"daskhpo resume {run_dir}" in out.replace("\r\n", "").replace("\n", "")
    journal = list(read_records(run_dir / "journal.jsonl"))
    assert any(isinstance(r, records.Interrupted) for r in journal)
    assert isinstance(journal[-1], records.End)
    assert journal[-1].reason == "interrupted"
    cancelled = [r for r in journal if isinstance(r, records.Cancelled)]
    assert cancelled, "the running trials were recorded as cancelled"


def test_a_second_ctrl_c_ends_at_once_and_leaves_a_readable_journal(tmp_path):
    terminal, run_dir = _start(tmp_path)
    workers = psutil.Process(terminal.process.pid).children(recursive=True)
    assert workers, "the LocalCluster's worker processes run as children of the driver"
    terminal.interrupt()
    time.sleep(0.05)
    terminal.interrupt()
    assert terminal.wait() == 130
    out = terminal.output
    assert "Traceback" not in out
    assert "quitting now" in out
    _, alive = psutil.wait_procs(workers, timeout=PATIENCE_S)
    assert not alive, f"worker processes left running: {alive}"
    journal = list(read_records(run_dir / "journal.jsonl"))
    assert any(isinstance(r, records.Reported) for r in journal)
    finished = [r for r in journal if isinstance(r, records.Completed)]
    for record in finished:
        assert record.trial_id >= 0
