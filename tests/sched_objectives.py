"""Objectives and a virtual-clock backend for the multi-fidelity scheduler tests.

* :class:`VirtualBackend` implements the Backend protocol deterministically on a virtual
  clock: attempts run epoch by epoch on ``workers`` virtual workers, checkpoints are kept in
  memory, STOP/PAUSE take effect at once, a budget pauses an attempt as ``report()`` does on
  a real worker. It is a second backend (not a stand-in for Dask), so scheduler tests run
  the real Tuner without a cluster.
* ``trainer`` is a real objective for LocalCluster tests: it sleeps per epoch, keeps its
  progress in ``checkpoint.json`` in ``daskhpo.checkpoint_dir()`` and records every epoch
  it actually ran, so tests can tell a resumed attempt from one that started over.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import daskhpo as dh
from daskhpo.backend import AttemptSpec, Event, Finished, Outcome, Reported, Started
from daskhpo.experiment.journal import Journal
from daskhpo.searchers.random import RandomSearcher
from daskhpo.space import as_space
from daskhpo.tuner import Tuner

#: One epoch of a virtual objective: (config, state, epoch) -> (new state, metrics).
StepFn = Callable[[dict[str, Any], Any, int], tuple[Any, dict[str, Any]]]


# --------------------------------------------------------------------------- learning curves


def ranked_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """``loss = a + 1 / epoch``: every epoch ranks the configurations by ``a``."""
    return None, {"loss": config["a"] + 1.0 / epoch, "epoch": epoch}


def crossing_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """``loss = a + b / epoch``: curves cross, so early ranks can mislead."""
    loss = config["a"] + config["b"] / epoch
    return None, {"loss": loss, "epoch": epoch}


def gain(lr: float) -> float:
    """Progress per epoch: best at lr = 0.01, falling off by decades."""
    return math.exp(-((math.log10(lr) + 2.0) ** 2))


def lr_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """A trainable state ``w`` grows by ``gain(lr)`` per epoch; ``loss = exp(-w)``."""
    w = (state or 0.0) + gain(config["lr"])
    return w, {"loss": math.exp(-w), "epoch": epoch}


# --------------------------------------------------------------------------- virtual backend


@dataclass
class _Running:
    spec: AttemptSpec
    worker: str
    epoch: int
    state: Any
    next_time: float
    seq: int


class VirtualBackend:
    """A deterministic Backend on a virtual clock (see the module docstring)."""

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
    """Keeps the Tuner's journal records in a list, to compare decision sequences."""

    def __init__(self) -> None:
        self.path = Path("<memory>")
        self._fsync = False
        self._file = None
        self.records: list[dict[str, Any]] = []

    def write(self, event: str, /, **fields: Any) -> None:
        self.records.append({"event": event, **copy.deepcopy(fields)})

    def close(self) -> None:
        pass


def run_virtual(
    scheduler: dh.Scheduler,
    space: dict[str, Any],
    step: StepFn,
    *,
    num_trials: int | None = 20,
    seed: int = 0,
    searcher: dh.Searcher | None = None,
    tuner_options: dict[str, Any] | None = None,
    on_tuner: Callable[[Tuner], None] | None = None,
    **backend_options: Any,
) -> tuple[Tuner, VirtualBackend, MemoryJournal]:
    """Run a whole search on a :class:`VirtualBackend`; returns the tuner, backend, journal.

    ``on_tuner`` sees the Tuner before it runs (a probe that needs the reports, say).
    """
    backend = VirtualBackend(step, **backend_options)
    journal = MemoryJournal()
    tuner = Tuner(
        backend=backend,
        space=as_space(space),
        scheduler=scheduler,
        searcher=searcher or RandomSearcher(),
        metric="loss",
        num_trials=num_trials,
        seed=seed,
        journal=journal,
        **(tuner_options or {}),
    )
    if on_tuner is not None:
        on_tuner(tuner)
    tuner.run()
    return tuner, backend, journal


# --------------------------------------------------------------------------- real objectives

CHECKPOINT = "checkpoint.json"


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a PBT donor's directory may be copied while it trains."""
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load_checkpoint(directory: Path) -> dict[str, Any]:
    """A trial's checkpoint as ``trainer`` wrote it (empty progress if there is none)."""
    path = directory / CHECKPOINT
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"epoch": 0, "w": 0.0, "executed": [], "lineage": []}


def trainer(config: dict[str, Any]) -> dict[str, Any]:
    """Train ``epochs`` epochs of ``epoch_time`` seconds, resuming from the checkpoint.

    ``w`` grows by ``gain(lr)`` per epoch and ``loss = floor + exp(-w)``. The checkpoint
    records each epoch run as ``[trial_id, attempt, epoch]`` and the trials whose progress
    it carries (``lineage``: a PBT exploit copies the donor's).
    """
    ctx = dh.current_trial()
    me, attempt = (ctx.trial_id, ctx.attempt) if ctx is not None else (-1, 0)
    directory = dh.checkpoint_dir()
    ck = load_checkpoint(directory)
    if not ck["lineage"] or ck["lineage"][-1] != me:
        ck["lineage"].append(me)
    floor = float(config.get("floor", 0.0))
    loss = floor + math.exp(-ck["w"])
    for epoch in range(ck["epoch"] + 1, int(config["epochs"]) + 1):
        time.sleep(float(config["epoch_time"]))
        ck["w"] += gain(float(config["lr"]))
        ck["epoch"] = epoch
        ck["executed"].append([me, attempt, epoch])
        loss = floor + math.exp(-ck["w"])
        _save(directory / CHECKPOINT, ck)
        dh.report(epoch, loss=loss, epoch=epoch)
    return {"loss": loss, "epochs": ck["epoch"]}
