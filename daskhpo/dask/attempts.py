"""The attempts in flight on Dask, and how their messages and futures become the Tuner's events.

Workers send ``start``, ``report`` and ``end`` messages on the backend's topic; a task whose end
message never came (its worker died, it failed outside the objective, its result could not
travel as a message) is read from its future's state instead. Either way each attempt ends in
exactly one :class:`~daskhpo.backend.Finished` or :class:`~daskhpo.backend.Lost`.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, Future
from distributed.client import FutureCancelledError

from daskhpo.backend import Event, Finished, Lost, Outcome, Reported, Started
from daskhpo.dask.restarts import WorkerRestarts
from daskhpo.dask.worker.verdicts import request_stop


@dataclass
class Attempt:
    """One attempt's task and what the driver knows of it."""

    trial_id: int
    attempt: int
    future: Future[Any]
    worker: str | None = None
    done: bool = False  # its outcome has been turned into an event
    workers: tuple[str, ...] | None = None  # placement restriction (workers that live long enough)
    assigned: str | None = None  # the worker with a free slot it was sent to, if any
    started_at: float | None = None  # when its start event arrived (backend clock)


def trial_dir(experiment_dir: Path, trial_id: int) -> Path:
    """Where trial ``trial_id`` keeps its checkpoints, the same for every attempt."""
    return Path(trial_dir_name(str(experiment_dir / "trials"), trial_id))


def trial_dir_name(trials_root: str, trial_id: int) -> str:
    """:func:`trial_dir` as text from its parent's, for the task of every attempt (building a
    ``Path`` per trial was a visible share of the driver's time with millisecond trials)."""
    return os.path.join(trials_root, f"trial_{trial_id:05d}")


class Attempts:
    """The attempts sent and not yet ended, by task key."""

    def __init__(
        self, client: Client, now: Callable[[], float], restarts: WorkerRestarts | None = None
    ) -> None:
        self.client = client
        self._now = now
        self.restarts = restarts  # why workers were restarted (memory, a hung trial), if known
        self.by_key: dict[str, Attempt] = {}
        self.durations: deque[float] = deque(maxlen=32)  # of recent attempts, seconds

    def __len__(self) -> int:
        return len(self.by_key)

    def __iter__(self) -> Iterator[Attempt]:
        return iter(list(self.by_key.values()))

    def add(self, key: str, record: Attempt) -> None:
        self.by_key[key] = record

    def get(self, key: str) -> Attempt | None:
        return self.by_key.get(key)

    def drop(self, key: str) -> Attempt | None:
        """Forget an attempt without an event (cancelled by the driver)."""
        record = self.by_key.pop(key, None)
        if record is not None:
            record.done = True
            record.future.cancel()
        return record

    def done_keys(self) -> list[str]:
        """Keys of the attempts whose task is done (a local look-up of future states)."""
        return [k for k, r in self.by_key.items() if r.future.done()]

    def close(self) -> None:
        """Forget every attempt and stop listening for workers' restarts."""
        self.by_key.clear()
        if self.restarts is not None:
            self.restarts.close()

    def any_errored(self, keys: list[str]) -> bool:
        return any(self.by_key[k].future.status == "error" for k in keys if k in self.by_key)

    def _end(self, key: str, record: Attempt) -> None:
        record.done = True
        self.by_key.pop(key, None)

    # ------------------------------------------------------------------ from worker messages

    def from_message(self, message: Any) -> list[Event]:
        """The event of a worker's ``start``/``report``/``end`` message, if it is still ours."""
        kind, key = message[0], message[1]
        record = self.by_key.get(key)
        if record is None or record.done:
            return []
        now = self._now()
        if kind == "start":
            if record.worker is not None:
                # Dask started the task again (its worker died or retired while it ran): the
                # attempt is lost, and the driver's next one resumes from the checkpoint.
                return [self.lose(key, record, self.rerun_reason(record.worker, message[2]))]
            record.worker = message[2]
            record.started_at = now
            return [Started(record.trial_id, record.attempt, now, message[2])]
        if kind == "report":
            return [Reported(record.trial_id, record.attempt, now, message[2], message[3])]
        if kind == "end":
            return [self.finished(key, record, message[2])]
        return []

    def finished(self, key: str, record: Attempt, outcome: dict[str, Any]) -> Finished | Lost:
        """The event of an attempt's outcome (its end message, or its task's result)."""
        now = self._now()
        if record.started_at is not None:
            self.durations.append(now - record.started_at)
        self._end(key, record)
        if outcome["outcome"] == "rerun":  # a start after one the driver did not hear of
            reason = self.rerun_reason(outcome.get("first") or "?", outcome.get("worker") or "?")
            return Lost(record.trial_id, record.attempt, now, reason, started=True)
        if outcome["outcome"] == "lost":  # it ended because its worker is retiring
            return Lost(
                record.trial_id,
                record.attempt,
                now,
                f"its worker {outcome.get('worker')} retired while it ran",
                started=True,
            )
        reports = tuple((now, float(step), dict(m)) for _, step, m in outcome["reports"])
        return Finished(
            trial_id=record.trial_id,
            attempt=record.attempt,
            time=now,
            outcome=Outcome(outcome["outcome"]),
            metrics=dict(outcome.get("metrics") or {}),
            error=outcome.get("error"),
            worker=outcome.get("worker"),
            reports=reports,
            verdict_waits=int(outcome.get("verdict_waits", 0)),
            verdict_timeouts=int(outcome.get("verdict_timeouts", 0)),
        )

    def rerun_reason(self, first: str, again: str) -> str:
        """Why an attempt that Dask started a second time is lost."""
        restarted = None if self.restarts is None else self.restarts.reason(first)
        if restarted is not None:
            return restarted
        return (
            f"its worker {first} was lost while it ran (Dask started it again on {again}; "
            "daskhpo resubmits it instead, from its checkpoint)"
        )

    def lose(self, key: str, record: Attempt, reason: str) -> Lost:
        """End an attempt as lost: cancel its task and stop any copy Dask restarted."""
        self._end(key, record)
        record.future.cancel()
        if record.worker is not None:
            with contextlib.suppress(Exception):
                self.client.run(request_stop, key, False, wait=False)
        return self._lost(record, reason)

    def lost_with_workers(self, workers: dict[str, Any], known: set[str]) -> list[Event]:
        """Attempts whose worker left while they ran, or whose allowed workers all left.

        A worker that retires (Dask ``--lifetime``, adaptive scale-down) leaves *gracefully*:
        Dask moves its running task elsewhere and starts it again from scratch, behind the
        driver's back, no error ever raised. The driver instead counts the attempt as lost
        with its worker and resubmits it as a new attempt, which resumes from its checkpoint.
        """
        events: list[Event] = []
        for key, record in list(self.by_key.items()):
            if record.done:
                continue
            if record.worker is not None:
                if record.worker in workers or record.worker not in known:
                    continue
                reason = f"its worker {record.worker} left while it ran (retired or lost)"
            elif record.workers is not None and not set(record.workers) & set(workers):
                reason = "every worker that could finish it in time has left"
            else:
                continue
            events.append(self.lose(key, record, reason))
        return events

    # ------------------------------------------------------------------ from futures

    def from_futures(self, keys: list[str]) -> list[Event]:
        """Events of done tasks whose end message did not arrive."""
        events: list[Event] = []
        to_gather: list[tuple[str, Attempt]] = []
        for key in keys:
            record = self.by_key.get(key)
            if record is None or record.done:
                continue
            status = record.future.status
            if status == "finished":
                to_gather.append((key, record))
            elif status == "cancelled":
                self._end(key, record)
                events.append(self._lost(record, "task cancelled by the cluster"))
            else:
                events.append(self._from_error(key, record))
        if to_gather:
            try:
                results = self.client.gather([r.future for _, r in to_gather], errors="raise")
            except FutureCancelledError:
                results = [None] * len(to_gather)
            for (key, record), outcome in zip(to_gather, results, strict=True):
                if record.done:
                    continue
                if outcome is None:
                    self._end(key, record)
                    events.append(self._lost(record, "result lost"))
                else:
                    events.append(self.finished(key, record, outcome))
        return events

    def _lost(self, record: Attempt, reason: str) -> Lost:
        """The loss of ``record``, with why its worker was restarted, when that is known."""
        if self.restarts is not None:
            reason = self.restarts.reason(record.worker) or reason
        return Lost(
            record.trial_id, record.attempt, self._now(), reason, started=record.worker is not None
        )

    def _from_error(self, key: str, record: Attempt) -> Event:
        self._end(key, record)
        exc = record.future.exception(timeout=10)
        name = type(exc).__name__
        if name == "KilledWorker" or "CommClosed" in name or isinstance(exc, OSError):
            return self._lost(record, f"{name}: {exc}")
        # The task failed outside the objective: typically the objective could not be
        # unpickled (imported) on the worker.
        return Finished(
            trial_id=record.trial_id,
            attempt=record.attempt,
            time=self._now(),
            outcome=Outcome.ERROR,
            error=(
                f"the trial could not run on its worker: {name}: {exc}. If the objective lives "
                "in a module of your own, make sure the workers can import it (same Python "
                "environment, module on their path)."
            ),
        )
