"""A public test kit for scheduler and searcher authors: a stepped backend and a memory journal.

:class:`SteppedBackend` runs the real :class:`~daskhpo.tuner.Tuner` on a virtual clock, epoch
by epoch, with checkpoints kept in memory: a scheduler's whole search runs in milliseconds,
deterministically, without a cluster. :class:`MemoryJournal` is a real
:class:`~daskhpo.experiment.journal.Journal` writing into memory, whose records can be read
back decoded, to compare the decisions of two runs or to replay them::

    import daskhpo as dh
    from daskhpo.settings import TuneSettings
    from daskhpo.testing import MemoryJournal, SteppedBackend
    from daskhpo.tuner import Tuner

    def curve(config, state, epoch):
        return None, {"loss": config["a"] + 1 / epoch}

    journal = MemoryJournal()
    tuner = Tuner(
        settings=TuneSettings(metric="loss", num_trials=20, seed=0),
        backend=SteppedBackend(curve, workers=2, max_epochs=9),
        space=dh.SearchSpace({"a": dh.uniform(0, 1)}),
        scheduler=dh.ASHAScheduler(max_resource=9),
        searcher=dh.RandomSearcher(),
        journal=journal,
    ).run()
    decisions = [r for r in journal.records if r.event == "decided"]
"""

from __future__ import annotations

import copy
import errno
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from daskhpo.backend import AttemptSpec, Event, Finished, Outcome, Reported, Started
from daskhpo.experiment.journal import Journal
from daskhpo.records import Record, decode_line

__all__ = ["FailingDisk", "MemoryJournal", "StepFn", "SteppedBackend"]

#: One epoch of a stepped objective: (config, state, epoch) -> (new state, metrics).
StepFn = Callable[[dict[str, Any], Any, int], tuple[Any, dict[str, Any]]]


@dataclass
class _Running:
    spec: AttemptSpec
    worker: str
    epoch: int
    state: Any
    next_time: float
    seq: int


class SteppedBackend:
    """A deterministic :class:`~daskhpo.backend.Backend` on a virtual clock.

    ``step(config, state, epoch) -> (new state, metrics)`` is one epoch of the objective.
    Attempts run epoch by epoch on ``workers`` virtual workers, each epoch taking
    ``epoch_time`` (seconds, or a function of the configuration and the epoch); progress is
    checkpointed in memory after every epoch, so a resumed or resubmitted attempt continues
    where its trial left off, and a ``checkpoint_trial_id`` copies another trial's progress
    (PBT). STOP and PAUSE take effect at once; an attempt that reaches its ``budget`` pauses
    itself, as ``daskhpo.report`` does on a real worker. What ran is kept for assertions:
    ``executed`` (trial, attempt, epoch), ``started_from`` and ``submitted``.
    """

    def __init__(
        self,
        step: StepFn,
        *,
        workers: int = 2,
        max_epochs: int | Callable[[dict[str, Any]], int] = 9,
        epoch_time: float | Callable[[dict[str, Any], int], float] = 1.0,
        steps_per_epoch: int = 1,
    ) -> None:
        self.step = step
        self.steps_per_epoch = steps_per_epoch  # report step = epoch * steps_per_epoch
        self.workers = workers
        self._max_epochs = max_epochs
        self._epoch_time = epoch_time
        self.clock = 0.0
        self.checkpoints: dict[int, tuple[int, Any, dict[str, Any]]] = {}
        self.executed: list[tuple[int, int, int]] = []  # (trial, attempt, epoch) actually run
        self.started_from: dict[tuple[int, int], int] = {}  # (trial, attempt) -> epoch resumed
        self.submitted: list[AttemptSpec] = []
        self._queue: list[AttemptSpec] = []
        self._running: dict[tuple[int, int], _Running] = {}
        self._free = [f"virtual-{i}" for i in range(workers)]
        self._events: list[Event] = []
        self._seq = 0

    def max_epochs(self, config: dict[str, Any]) -> int:
        m = self._max_epochs
        return m(config) if callable(m) else m

    def epoch_time(self, config: dict[str, Any], epoch: int) -> float:
        t = self._epoch_time
        return t(config, epoch) if callable(t) else t

    # -- Backend protocol

    def now(self) -> float:
        return self.clock

    def capacity(self) -> int:
        return self.workers

    def pending_capacity(self) -> bool:
        return False

    def describe_capacity(self) -> str:
        return f"{self.workers} virtual workers"

    def submit(self, spec: AttemptSpec) -> None:
        self.submitted.append(spec)
        self._queue.append(spec)
        self._dispatch()

    def stop(self, trial_id: int, attempt: int, *, pause: bool) -> None:
        run = self._running.get((trial_id, attempt))
        if run is not None:
            self._finish(run, Outcome.PAUSED if pause else Outcome.STOPPED)

    def cancel(self, trial_id: int, attempt: int) -> None:
        self._queue = [s for s in self._queue if (s.trial_id, s.attempt) != (trial_id, attempt)]
        run = self._running.pop((trial_id, attempt), None)
        if run is not None:
            self._free.append(run.worker)
            self._free.sort()
            self._dispatch()

    def wait(self, timeout: float | None) -> list[Event]:
        if not self._events:
            self._advance(timeout)
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        self._queue.clear()
        self._running.clear()

    # -- the engine

    def _dispatch(self) -> None:
        while self._free and self._queue:
            spec = self._queue.pop(0)
            worker = self._free.pop(0)
            if spec.checkpoint_trial_id is not None:  # PBT exploit: copy the donor's checkpoint
                donor = self.checkpoints.get(spec.checkpoint_trial_id, (0, None, {}))
                self.checkpoints[spec.trial_id] = copy.deepcopy(donor)
            epoch, state, _ = self.checkpoints.get(spec.trial_id, (0, None, {}))
            self.started_from[(spec.trial_id, spec.attempt)] = epoch
            self._events.append(Started(spec.trial_id, spec.attempt, self.clock, worker))
            self._seq += 1
            run = _Running(spec, worker, epoch, copy.deepcopy(state), 0.0, self._seq)
            run.next_time = self.clock + self.epoch_time(spec.config, epoch + 1)
            self._running[(spec.trial_id, spec.attempt)] = run
            if epoch >= self.max_epochs(spec.config):  # resumed from a finished checkpoint
                self._finish(run, Outcome.RETURNED, self.checkpoints[spec.trial_id][2])

    def _advance(self, timeout: float | None) -> None:
        if not self._running:
            if timeout is not None:
                self.clock += timeout
            return
        run = min(self._running.values(), key=lambda r: (r.next_time, r.seq))
        if timeout is not None and run.next_time > self.clock + timeout:
            self.clock += timeout
            return
        self.clock = max(self.clock, run.next_time)
        spec = run.spec
        epoch = run.epoch + 1
        run.state, metrics = self.step(spec.config, run.state, epoch)
        run.epoch = epoch
        self.checkpoints[spec.trial_id] = (epoch, copy.deepcopy(run.state), dict(metrics))
        self.executed.append((spec.trial_id, spec.attempt, epoch))
        step = epoch * self.steps_per_epoch
        self._events.append(
            Reported(spec.trial_id, spec.attempt, self.clock, float(step), dict(metrics))
        )
        if epoch >= self.max_epochs(spec.config):
            self._finish(run, Outcome.RETURNED, metrics)
        elif spec.budget is not None and step >= spec.budget:
            self._finish(run, Outcome.PAUSED)
        else:
            run.next_time = self.clock + self.epoch_time(spec.config, epoch + 1)

    def _finish(
        self, run: _Running, outcome: Outcome, metrics: dict[str, Any] | None = None
    ) -> None:
        del self._running[(run.spec.trial_id, run.spec.attempt)]
        self._events.append(
            Finished(
                run.spec.trial_id,
                run.spec.attempt,
                self.clock,
                outcome,
                metrics=dict(metrics or {}),
                worker=run.worker,
            )
        )
        self._free.append(run.worker)
        self._free.sort()
        self._dispatch()


class MemoryJournal(Journal):
    """A :class:`~daskhpo.experiment.journal.Journal` that writes into memory.

    Records go through the journal's own encoding; :attr:`records` decodes them back, so a
    test sees exactly what a journal file would hold.
    """

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        super().__init__(Path("<memory>"), stream=self.buffer)

    @property
    def records(self) -> list[Record]:
        """Every record appended so far, decoded, in order."""
        lines = self.buffer.getvalue().splitlines(keepends=True)
        return [r for r in map(decode_line, lines) if r is not None]


class FailingDisk:
    """Opens a journal on a disk that fails after ``space`` bytes: ``Journal(path,
    opener=FailingDisk(4096))``.

    Writes reach the real file until ``space`` bytes are written; the write that crosses it
    writes what fits (the torn line a full disk leaves) and then every write raises
    ``OSError(error)`` (``ENOSPC`` unless told otherwise: ``EROFS``, ``EIO``). ``attempts``
    counts the writes tried after the disk failed, the one that failed included.
    """

    def __init__(self, space: int, error: int = errno.ENOSPC) -> None:
        self.space = space
        self.error = error
        self.written = 0
        self.attempts = 0

    def __call__(self, path: Path) -> BinaryIO:
        return cast(BinaryIO, _FailingFile(path.open("ab", buffering=0), self))


class _FailingFile(io.RawIOBase):
    def __init__(self, file: BinaryIO, disk: FailingDisk) -> None:
        self._file = file
        self._disk = disk

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        disk = self._disk
        room = disk.space - disk.written
        if room <= 0:
            disk.attempts += 1
            raise OSError(disk.error, os.strerror(disk.error))
        chunk = bytes(data)[:room]
        written = self._file.write(chunk) or 0
        disk.written += written
        return written

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()
