"""A real filesystem that fills up during a search: a small tmpfs the test mounts.

The search stops with a :class:`~daskhpo.errors.JournalError` (and ``daskhpo run`` with one
line, exit 2), its journal reads back, and once space is freed ``resume`` finishes it with
every trial completed exactly once. Mounting needs root; without it the tests skip and
``test_journal_durability.py`` (the same failures injected at the journal's file layer) stands.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.errors import JournalError
from daskhpo.experiment.journal import read_records
from daskhpo.experiment.view import ExperimentView

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 16
SPACE = {"floor": dh.uniform(0.0, 0.5), "epochs": 10}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted for this test."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); "
            "test_journal_durability.py injects the same failures"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` with a ballast file, then give back ``leave`` bytes of it."""
    ballast = disk / "ballast"
    with ballast.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    size = ballast.stat().st_size
    os.truncate(ballast, max(0, size - leave))
    return ballast


class FillAfter:
    """Fills the disk once ``n`` trials completed (between two steps of the loop)."""

    def __init__(self, disk: Path, n: int) -> None:
        self.disk, self.n, self.ballast = disk, n, None

    def on_step(self, tuner: Any) -> None:
        if self.ballast is None and tuner.count(dh.TrialStatus.COMPLETED) >= self.n:
            self.ballast = fill(self.disk)

    def on_end(self, tuner: Any) -> None:
        pass


def completions(journal: Path) -> Counter[int]:
    return Counter(r.trial_id for r in read_records(journal) if isinstance(r, rec.Completed))


def test_a_disk_filling_during_tune_stops_it_and_resume_finishes(small_disk, dask_client):
    from tests import objectives

    exp = small_disk / "exp"
    filler = FillAfter(small_disk, 3)
    args: dict[str, Any] = {
        "metric": "loss",
        "num_trials": TRIALS,
        "seed": 5,
        "client": dask_client,
        "experiment_dir": exp,
        "progress": False,
    }
    with pytest.raises(JournalError) as caught:
        dh.tune(objectives.curve, SPACE, callbacks=[filler], **args)
    assert filler.ballast is not None
    message = str(caught.value)
    assert f"cannot write the journal {exp / 'journal.jsonl'}" in message
    assert "No space left on device (ENOSPC)" in message
    assert f"free space on the filesystem holding {exp}" in message
    assert f"daskhpo resume {exp}" in message
    view = ExperimentView.from_directory(exp)  # the journal reads back
    done_before = sum(completions(exp / "journal.jsonl").values())
    assert 3 <= done_before < TRIALS
    counts = view.counts()
    assert counts["COMPLETED"] == done_before
    # The cancellations could not be journaled: the trials in flight read as running and
    # run again on resume (a new attempt, from their checkpoints).
    assert counts.get("RUNNING", 0) + counts.get("PENDING", 0) == TRIALS - done_before

    filler.ballast.unlink()  # space again
    result = dh.tune(objectives.curve, SPACE, resume=True, **args)
    assert completions(exp / "journal.jsonl") == Counter(range(TRIALS))  # each exactly once
    assert (result.trials["status"] == dh.TrialStatus.COMPLETED.value).sum() == TRIALS
    assert ExperimentView.from_directory(exp).counts() == {"COMPLETED": TRIALS}


OBJECTIVE = """
import daskhpo as dh


def objective(config):
    for epoch in range(1, 11):
        dh.report(epoch, loss=config["x"] / epoch)
    return {"loss": config["x"] / 10}
"""


def daskhpo(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "daskhpo.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_daskhpo_run_on_a_full_disk_says_so_in_one_line_and_resumes(small_disk, tmp_path):
    (tmp_path / "model.py").write_text(OBJECTIVE)
    spec = {
        "objective": "model:objective",
        "space": {"x": {"uniform": [0.0, 1.0]}},
        "metric": "loss",
        "num_trials": 40,
        "seed": 2,
        "cluster": {"local": {"n_workers": 2}},
    }
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(spec))
    exp = small_disk / "exp"
    ballast = fill(small_disk, leave=6 * 4096)  # room for the small files and a little journal
    ran = daskhpo("run", "experiment.yaml", "--dir", exp, "--quiet", cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.startswith(f"error: cannot write the journal {exp / 'journal.jsonl'}: ")
    assert "Traceback" not in ran.stderr
    before = completions(exp / "journal.jsonl")
    assert all(n == 1 for n in before.values())
    ExperimentView.from_directory(exp)  # readable

    ballast.unlink()
    resumed = daskhpo("resume", exp, "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert completions(exp / "journal.jsonl") == Counter(range(40))
