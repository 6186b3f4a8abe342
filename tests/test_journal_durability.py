"""A journal that cannot be written (full, read-only or failing disk) and journal_fsync.

The failures are injected at the journal's file layer (:class:`daskhpo.testing.FailingDisk`)
under a real Tuner on the stepped backend; ``test_disk_full.py`` fills a real filesystem.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.backend import AttemptSpec
from daskhpo.errors import JournalError, SettingsError
from daskhpo.experiment.journal import Journal, read_records
from daskhpo.settings import TuneSettings
from daskhpo.testing import FailingDisk, MemoryJournal, SteppedBackend
from daskhpo.tuner import Tuner

TRIALS = 12


def _step(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    return None, {"loss": config["a"] + 1.0 / epoch}


class WatchedBackend(SteppedBackend):
    """The stepped backend, noting each command and what the journal file held then."""

    def __init__(self, journal_path: Path, disk: FailingDisk | None = None) -> None:
        super().__init__(_step, workers=3, max_epochs=4)
        self.journal_path = journal_path
        self.disk = disk
        self.calls: list[tuple[str, int, int, bool]] = []  # (what, trial, attempt, disk failed)
        self.unjournaled: list[tuple[int, int]] = []

    def _failed(self) -> bool:
        return self.disk is not None and self.disk.attempts > 0

    def submit(self, spec: AttemptSpec) -> None:
        on_disk = {
            (r.trial_id, r.attempt)
            for r in read_records(self.journal_path)
            if isinstance(r, rec.Submitted)
        }
        if (spec.trial_id, spec.attempt) not in on_disk:
            self.unjournaled.append((spec.trial_id, spec.attempt))
        self.calls.append(("submit", spec.trial_id, spec.attempt, self._failed()))
        super().submit(spec)

    def cancel(self, trial_id: int, attempt: int) -> None:
        self.calls.append(("cancel", trial_id, attempt, self._failed()))
        super().cancel(trial_id, attempt)


def _tuner(backend: SteppedBackend, journal: Journal) -> Tuner:
    return Tuner(
        settings=TuneSettings(metric="loss", num_trials=TRIALS, seed=3),
        backend=backend,
        space=dh.SearchSpace({"a": dh.uniform(0, 1)}),
        scheduler=dh.FIFOScheduler(),
        searcher=dh.RandomSearcher(),
        journal=journal,
    )


def _whole_journal() -> bytes:
    journal = MemoryJournal()
    _tuner(SteppedBackend(_step, workers=3, max_epochs=4), journal).run()
    return journal.buffer.getvalue()


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "free space on the filesystem holding"),
        (errno.EROFS, "writable"),
        (errno.EIO, "check the disk holding"),
    ],
)
def test_a_failing_disk_stops_the_search_cleanly_and_resume_finishes_it(
    tmp_path: Path, code: int, fix: str
) -> None:
    whole = _whole_journal()
    space = len(whole) // 2  # the disk fails halfway through the search
    path = tmp_path / "journal.jsonl"
    disk = FailingDisk(space, error=code)
    backend = WatchedBackend(path, disk)
    journal = Journal(path, opener=disk)
    tuner = _tuner(backend, journal)
    with pytest.raises(JournalError) as caught:
        tuner.run()
    journal.close()  # writes nothing and does not raise
    message = str(caught.value)
    assert str(path) in message
    assert os.strerror(code) in message
    assert fix in message
    assert f"daskhpo resume {tmp_path}" in message
    assert caught.value.errno == code
    assert isinstance(caught.value, OSError)
    # The disk was tried once after it failed: no loop on a failing disk.
    assert disk.attempts == 1
    # Exactly what fitted is on disk, byte for byte: the same records as a search whose
    # disk never fails, up to the torn line the full disk left.
    assert path.read_bytes() == whole[:space]
    # Journal before act: every submission was on disk first, none after the failure.
    assert backend.unjournaled == []
    assert not [c for c in backend.calls if c[0] == "submit" and c[3]]
    cancelled = {(t, a) for what, t, a, failed in backend.calls if what == "cancel" and failed}
    in_flight = {(t, r.spec.attempt) for (t, _), r in backend._running.items()}
    assert cancelled
    assert not in_flight
    assert not backend._queue
    assert tuner.count(dh.TrialStatus.CANCELLED) == len(cancelled)
    # The journal reads back; resuming on a healthy disk finishes the search.
    before = list(read_records(path))
    assert before
    assert any(isinstance(r, rec.Completed) for r in before)
    assert len(before) == whole[:space].count(b"\n")
    resumed_journal = Journal(path)
    resumed = _tuner(WatchedBackend(path), resumed_journal)
    resumed.replay(before)
    resumed.run()
    resumed_journal.close()
    lines = path.read_bytes().splitlines(keepends=True)
    after = list(read_records(path))
    assert len(after) == len(lines)  # the torn line was cut: no record lost after it
    completed = Counter(r.trial_id for r in after if isinstance(r, rec.Completed))
    assert completed == Counter(range(TRIALS))  # every trial completed, each exactly once
    assert resumed.count(dh.TrialStatus.COMPLETED) == TRIALS


def test_a_journal_opened_after_a_torn_write_starts_on_a_line_of_its_own(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append(rec.Created(time=0.1, trial_id=0, config={"x": 1.0}))
    with path.open("ab") as f:
        f.write(b'{"event":"submitted","tri')  # the disk filled mid-line
    with Journal(path) as journal:
        journal.append(rec.Submitted(time=0.2, trial_id=0, attempt=0))
    assert list(read_records(path)) == [
        rec.Created(time=0.1, trial_id=0, config={"x": 1.0}),
        rec.Submitted(time=0.2, trial_id=0, attempt=0),
    ]


def test_a_journal_that_cannot_be_opened_is_a_journal_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.mkdir()  # not a file: opening it for appending fails as a read-only disk would
    with pytest.raises(JournalError, match=f"cannot write the journal {path}"):
        Journal(path)


# ---------------------------------------------------------------------- journal_fsync


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of the file each ``os.fsync`` made durable, -1 for a directory (the real
    fsync still runs)."""
    sizes: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        info = os.fstat(fd)
        sizes.append(-1 if stat.S_ISDIR(info.st_mode) else info.st_size)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return sizes


class DurableCheck(SteppedBackend):
    """Notes, at each submission, whether its record had reached the disk (fsync)."""

    def __init__(self, path: Path, fsyncs: list[int]) -> None:
        super().__init__(_step, workers=3, max_epochs=4)
        self.path, self.fsyncs, self.durable = path, fsyncs, []

    def submit(self, spec: AttemptSpec) -> None:
        size = self.path.stat().st_size
        self.durable.append(bool(self.fsyncs) and self.fsyncs[-1] == size)
        super().submit(spec)


class FlushPoints(MemoryJournal):
    """Where each flush that wrote something left the journal (its size then)."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[int] = []

    def flush(self) -> None:
        super().flush()
        size = len(self.buffer.getvalue())
        if size and (not self.points or self.points[-1] != size):
            self.points.append(size)


@pytest.mark.parametrize("mode", ["off", "step", "record"])
def test_journal_fsync_syncs_as_documented(tmp_path: Path, fsyncs: list[int], mode: str) -> None:
    path = tmp_path / "journal.jsonl"
    backend = DurableCheck(path, fsyncs)
    with Journal(path, fsync=mode) as journal:
        _tuner(backend, journal).run()
    data = path.read_bytes()
    line_ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    file_syncs = [s for s in fsyncs if s >= 0]
    directory_syncs = len(fsyncs) - len(file_syncs)
    if mode == "off":
        assert fsyncs == []
        assert not any(backend.durable)
        return
    assert directory_syncs == 1  # the new file's name, once
    assert file_syncs == sorted(set(file_syncs))
    assert file_syncs[-1] == len(data)
    assert set(file_syncs) <= set(line_ends)  # only ever whole records
    assert all(backend.durable)  # what the backend was told was on the disk first
    if mode == "record":
        assert file_syncs == line_ends  # one per record
    else:
        # One per flush the loop made with records to write (before it acted on them).
        flushes = FlushPoints()
        _tuner(SteppedBackend(_step, workers=3, max_epochs=4), flushes).run()
        assert file_syncs == flushes.points
        assert len(file_syncs) < len(line_ends)


def test_a_bad_journal_fsync_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="journal_fsync must be one of 'off', 'step'"):
        TuneSettings(metric="loss", journal_fsync="always")
    where = tmp_path / "never"
    with pytest.raises(SettingsError, match="got 'always'"):
        dh.tune(
            lambda c: c["a"],
            {"a": dh.uniform(0, 1)},
            metric="loss",
            num_trials=2,
            experiment_dir=where,
            journal_fsync="always",
        )
    assert not where.exists()


def test_an_experiment_file_checks_journal_fsync_like_tune(tmp_path: Path) -> None:
    from daskhpo.errors import ExperimentError
    from daskhpo.experiment.spec import ExperimentSpec

    data = {
        "objective": "tests.objectives:quadratic",
        "space": {"x": {"uniform": [0.0, 1.0]}},
        "metric": "loss",
        "num_trials": 2,
    }
    spec = ExperimentSpec.from_mapping({**data, "journal_fsync": "step"}, source="e.yaml")
    assert spec.settings.journal_fsync == "step"
    with pytest.raises(ExperimentError, match=r"e\.yaml: journal_fsync must be one of .* got 'on'"):
        ExperimentSpec.from_mapping({**data, "journal_fsync": "on"}, source="e.yaml")
