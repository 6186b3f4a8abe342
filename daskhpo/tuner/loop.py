"""The loop that runs a search: the state decides, the loop executes.

:class:`Tuner` owns the backend, the journal and the callbacks. Each step: fill free slots →
execute the commands → ``backend.wait`` → hand each event to the state → execute. Executing a
batch of commands appends every :class:`~daskhpo.tuner.commands.Record` to the journal (and
passes it to the callbacks' ``on_record``), flushes the journal, and only then sends
``Submit``/``Stop``/``Continue``/``Cancel`` to the backend: what the backend is told was
journaled first. When the journal cannot be written (a full or read-only disk), the loop
stops: the batch's submissions are dropped, everything in flight is cancelled on the
backend without touching the journal again, and the
:class:`~daskhpo.errors.JournalError` propagates.
The loop knows nothing of Dask or of wall time: it reads time from its backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from daskhpo import records as rec
from daskhpo.backend import (
    Backend,
    KillingBackend,
    LifetimeAwareBackend,
    NoCapacityError,
    QueueingBackend,
    VerdictBackend,
)
from daskhpo.errors import JournalError
from daskhpo.schedulers.base import Scheduler
from daskhpo.searchers.base import Searcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace
from daskhpo.trial import Trial, TrialStatus
from daskhpo.tuner.commands import Cancel, Command, Continue, Kill, Record, Stop, Submit
from daskhpo.tuner.state import TunerState
from daskhpo.tuner.stats import ReportRecord, TunerStats

if TYPE_CHECKING:
    from daskhpo.experiment.journal import Journal


class TunerCallback(Protocol):
    """Something that watches the search (a progress display, a test probe)."""

    def on_step(self, tuner: Tuner) -> None: ...

    def on_end(self, tuner: Tuner) -> None: ...


@runtime_checkable
class RecordCallback(Protocol):
    """A callback that also sees every journal record, as it is journaled.

    The one hook for experiment trackers: every fact of the search passes through
    ``on_record`` (in journal order, before the backend acts on it), whether or not the
    search keeps a journal.
    """

    def on_record(self, record: rec.Record) -> None: ...


class Tuner:
    """Runs one search to its end on a backend (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: TuneSettings,
        backend: Backend,
        space: SearchSpace,
        scheduler: Scheduler,
        searcher: Searcher,
        journal: Journal | None = None,
        callbacks: Sequence[TunerCallback] = (),
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.journal = journal
        self.callbacks = list(callbacks)
        self._record_hooks = [
            cb.on_record for cb in self.callbacks if isinstance(cb, RecordCallback)
        ]
        self._lifetimes = backend if isinstance(backend, LifetimeAwareBackend) else None
        self._queueing = backend if isinstance(backend, QueueingBackend) else None
        self._killing = backend if isinstance(backend, KillingBackend) else None
        self._verdicts = backend if isinstance(backend, VerdictBackend) else None
        self.state = TunerState(
            settings=settings,
            space=space,
            scheduler=scheduler,
            searcher=searcher,
            journaling=journal is not None or bool(self._record_hooks),
            verdicts=self._verdicts is not None,
            track_durations=self._lifetimes is not None,
            rngs=rngs,
        )

    # ------------------------------------------------------------------ the loop

    def run(self) -> Tuner:
        """Run until a stop criterion holds or nothing is left to run; returns self."""
        state, backend = self.state, self.backend
        execute = self.execute
        fill, wait, now, handle_all = self._fill, backend.wait, backend.now, state.handle_all
        callbacks = self.callbacks
        settings = self.settings
        # Without a time budget or a target no stop criterion can hold between events.
        stops = settings.time_budget is not None or settings.target is not None
        timeouts = settings.trial_timeout is not None  # attempts have deadlines (``timeouts``)
        state.begin(now())
        try:
            while True:
                waiting_for_workers = fill()
                if not waiting_for_workers and state.idle:
                    state.stop_reason = state.stop_reason or "nothing left to run"
                    break
                events = wait(state.wait_timeout(now()) if stops or timeouts else None)
                if events:
                    commands = handle_all(events, now())
                    if commands:
                        execute(commands)
                if timeouts:
                    execute(state.check_timeouts(now()))
                if stops:
                    execute(state.check_stop(now()))
                for cb in callbacks:
                    cb.on_step(self)
        except KeyboardInterrupt:
            execute(state.interrupt(backend.now()))
        finally:
            try:
                execute(state.end(backend.now()))
                if self.journal is not None and self.journal.failed is None:
                    self.journal.flush()
            finally:
                for cb in self.callbacks:
                    cb.on_end(self)
        return self

    def _fill(self) -> bool:
        """Fill free slots; returns True while the cluster has no capacity at all yet."""
        state, backend = self.state, self.backend
        if state.closing:
            return False
        capacity = backend.capacity()
        if state.slots_taken(capacity):
            return False
        if capacity > 0:
            state.pacing.capacity_seen()
        else:
            self._check_no_capacity(capacity)
            return True
        lifetimes = self._lifetimes
        if lifetimes is not None and lifetimes.worker_deadlines():
            lifetimes.expected_duration = state.expected_duration()
        queueing = self._queueing
        depth = queueing.min_queue_depth(capacity) if queueing is not None else 0
        commands = state.fill(backend.now(), capacity, min_queue_depth=depth)
        if commands:
            self.execute(commands)
        return False

    def _check_no_capacity(self, capacity: int) -> None:
        """Raise :class:`NoCapacityError` once the wait for any capacity is too long."""
        state, backend = self.state, self.backend
        waited = state.pacing.no_capacity_wait(
            backend.now(),
            capacity=capacity,
            busy=state.in_flight > 0,
            pending=not state.in_flight and backend.pending_capacity(),
            startup_timeout=self.settings.startup_timeout,
        )
        if waited is not None:
            wanted = state.resources or {"threads": 1}
            raise NoCapacityError(
                f"no worker can run a trial that needs {wanted} (waited {waited:.0f} s). "
                f"{backend.describe_capacity()}"
            )

    def execute(self, commands: list[Command]) -> None:
        """Journal every record of ``commands``, flush, then send the rest to the backend."""
        if not commands:
            return
        journal = self.journal
        if journal is not None and journal.failed is not None:
            self._act(commands, submit=False)  # the journal is gone: only wind down
            return
        hooks = self._record_hooks
        if journal is not None or hooks:
            wrote = False
            try:
                for command in commands:
                    if type(command) is Record:
                        wrote = True
                        if journal is not None:
                            journal.append(command.record)
                        for hook in hooks:
                            hook(command.record)
                if wrote and journal is not None:
                    journal.flush()
            except JournalError:
                if journal is None or journal.failed is None:
                    raise
                self._act(commands, submit=False)  # nothing starts that is not journaled
                raise
        self._act(commands)

    def _act(self, commands: list[Command], *, submit: bool = True) -> None:
        """Send the backend its commands, in order (``submit=False``: stops and cancels only)."""
        backend = self.backend
        for command in commands:
            kind = type(command)
            if kind is Submit:
                if not submit:
                    continue
                backend.submit(command.spec)  # type: ignore[union-attr]
            elif kind is Stop:
                backend.stop(command.trial_id, command.attempt, pause=command.pause)  # type: ignore[union-attr]
            elif kind is Continue:
                if self._verdicts is not None:
                    self._verdicts.release(command.trial_id, command.attempt, command.step)  # type: ignore[union-attr]
            elif kind is Cancel:
                backend.cancel(command.trial_id, command.attempt)  # type: ignore[union-attr]
            elif kind is Kill:
                if self._killing is not None:
                    self._killing.kill(command.trial_id, command.attempt)  # type: ignore[union-attr]
                else:
                    backend.cancel(command.trial_id, command.attempt)  # type: ignore[union-attr]

    def replay(self, records: Sequence[rec.Record]) -> int:
        """Rebuild the search from an earlier run's records (see :meth:`TunerState.replay`)
        and journal that it resumed; returns the records used."""
        used = self.state.replay(records)
        if self.state.journaling:
            self.execute([Record(rec.Resume(time=self.backend.now(), replayed=len(records)))])
        return used

    # ------------------------------------------------------------------ views

    @property
    def trials(self) -> dict[int, Trial]:
        return self.state.trials

    @property
    def reports(self) -> list[ReportRecord]:
        return self.state.reports

    @property
    def stats(self) -> TunerStats:
        return self.state.stats

    @property
    def best_value(self) -> float | None:
        return self.state.best_value

    @property
    def best_trial_id(self) -> int | None:
        return self.state.best_trial_id

    @property
    def stop_reason(self) -> str | None:
        return self.state.stop_reason

    @property
    def interrupted(self) -> bool:
        return self.state.interrupted

    @property
    def metric(self) -> str:
        return self.state.metric

    @property
    def mode(self) -> str:
        return self.state.mode

    @property
    def num_trials(self) -> int | None:
        return self.state.num_trials

    @property
    def space(self) -> SearchSpace:
        return self.state.space

    @property
    def scheduler(self) -> Scheduler:
        return self.state.scheduler

    @property
    def searcher(self) -> Searcher:
        return self.state.searcher

    @property
    def in_flight(self) -> int:
        return self.state.in_flight

    def count(self, status: TrialStatus) -> int:
        return self.state.count(status)

    def expected_duration(self) -> float | None:
        return self.state.expected_duration()
