"""Run attempts on a Dask cluster: the real backend behind ``daskhpo.tune``.

Design, from measurements on small clusters:

* Each attempt is one task with a unique key and ``pure=False``. The Tuner keeps more attempts
  queued than there are slots, so the cluster never waits for a driver round trip. On clusters
  daskhpo started, they wait on the scheduler until a thread is free (first in, first out, no
  trial behind a straggler); Dask prefetches again while trials take milliseconds.
* While the cluster holds such a queue, the driver lets events gather for 20 ms and handles
  them in one pass.
* Attempts submitted between two waits go to the scheduler as one graph (``client.map``).
* Starts, reports and final outcomes travel as worker events (``log_event``) to a topic the
  driver subscribes to: pushed, in order, a fraction of a millisecond each. Start and end are
  sent by a worker plugin in the same batch as Dask's own messages (``worker.events``). A
  task's result is gathered only when its end event did not arrive (future states are swept
  locally).
* A task whose worker died comes back as ``KilledWorker`` (the driver runs its own cluster with
  ``allowed-failures`` 0 so Dask never reruns a trial from scratch behind its back); the Tuner
  resubmits it as a new attempt, which resumes from the trial's checkpoint directory.
* Stop and pause are cooperative: a flag set on the trial's worker, read by ``report()``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import dask
from distributed import Client, Future, wait
from distributed.client import FutureCancelledError

from daskhpo.backend import AttemptSpec, Event, Finished, Lost, Outcome, Reported, Started
from daskhpo.dask.worker import events
from daskhpo.dask.worker.lifetime import remaining_lifetime
from daskhpo.dask.worker.plugin import TrialEventsPlugin
from daskhpo.dask.worker.reporting import objective_loads, request_stop, run_task
from daskhpo.dask.worker.shipping import ShippedObjective

logger = logging.getLogger(__name__)

#: Trials shorter than this (median, seconds) let Dask prefetch one per worker; see
#: ``DaskBackend._adapt_saturation``.
PREFETCH_BELOW = 0.05
#: Workers that check they can load the objective before the first trial (the rest load it
#: with their first trial).
CHECKED_WORKERS = 32
#: Seconds the objective check may take once workers are there.
CHECK_TIMEOUT = 60.0


class ObjectiveNotLoadable(RuntimeError):
    """The workers cannot unpickle (import) the objective."""


@dataclass
class _Attempt:
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
    return Path(_trial_dir_name(str(experiment_dir / "trials"), trial_id))


def _trial_dir_name(trials_root: str, trial_id: int) -> str:
    """:func:`trial_dir` as text from its parent's, for the task of every attempt (building a
    ``Path`` per trial was a visible share of the driver's time with millisecond trials)."""
    return os.path.join(trials_root, f"trial_{trial_id:05d}")


class DaskBackend:
    """Runs attempts as Dask tasks on ``client``'s cluster."""

    def __init__(
        self,
        client: Client,
        objective: Callable[[dict[str, Any]], Any],
        *,
        metric: str,
        experiment_dir: Path,
        resources: dict[str, float] | None = None,
        expect_more_workers: Callable[[], bool] | None = None,
        refresh_interval: float = 0.5,
        max_wait: float = 0.5,
        clock_offset: float = 0.0,
        gather_window: float = 0.02,
        tune_saturation: bool = False,
    ) -> None:
        self.client = client
        self.objective = objective
        self.metric = metric
        self.experiment_dir = experiment_dir
        self._trials_root = str(experiment_dir / "trials")
        self.resources = dict(resources or {})
        self._expect_more_workers = expect_more_workers
        self._refresh_interval = refresh_interval
        self._max_wait = max_wait
        self._t0 = time.monotonic() - clock_offset  # a resumed search continues its clock
        self._token = uuid.uuid4().hex[:8]
        self.topic = events.topic_of(self._key(0, 0))
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._attempts: dict[str, _Attempt] = {}
        self._outbox: list[AttemptSpec] = []
        self._swept_at = 0.0

        self._sweep_interval = 0.25
        self._gather_window = gather_window
        #: Set the scheduler's worker-saturation from trial durations (clusters daskhpo owns).
        self._tune_saturation = tune_saturation
        self._saturation: float | None = None  # what this backend last set
        self._durations: deque[float] = deque(maxlen=32)  # of recent attempts, seconds
        self._capacity = 0
        self._workers: dict[str, dict[str, Any]] = {}
        self._capacity_checked_at = -math.inf
        self._known_workers: set[str] = set()  # every worker address seen so far
        self._deadlines: dict[str, float] = {}  # worker -> when it retires (this clock; inf: never)
        #: Seconds an attempt is expected to run. When set, attempts go only to workers that
        #: live at least that much longer (SLURM walltime, Dask ``--lifetime``), and capacity()
        #: counts only their slots.
        self.expected_duration: float | None = None
        client.subscribe_topic(self.topic, self._on_topic)
        self._plugin_registered = False
        self._checks: list[Future[Any]] = []  # objective checks not settled yet
        self._check_timeout = CHECK_TIMEOUT
        self._check_clock_from: float | None = None
        self._checking: set[str] = set()  # workers whose check has not reported yet

    # ------------------------------------------------------------------ clock and capacity

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _refresh(self) -> None:
        now = self.now()
        if now - self._capacity_checked_at < self._refresh_interval:
            return
        self._capacity_checked_at = now
        info = self.client.scheduler_info(n_workers=-1)
        self._workers = dict(info.get("workers", {}))
        self._known_workers.update(self._workers)
        self._capacity = sum(self._slots(w) for w in self._workers.values())

    def _threads(self) -> int:
        """The cluster's threads, all workers together."""
        return sum(int(w.get("nthreads", 1)) for w in self._workers.values())

    def _slots(self, worker: dict[str, Any]) -> int:
        """How many trials with our resources fit on one worker at once."""
        slots = int(worker.get("nthreads", 1))
        offered = worker.get("resources", {}) or {}
        for name, amount in self.resources.items():
            if amount <= 0:
                continue
            have = float(offered.get(name, 0.0))
            slots = min(slots, math.floor(have / amount + 1e-9))
        return max(slots, 0)

    def capacity(self) -> int:
        self._refresh()
        if self.expected_duration is not None:
            return self.capacity_for(self.expected_duration)
        return self._capacity

    # ------------------------------------------------------------------ workers' lifetimes

    def worker_deadlines(self) -> dict[str, float]:
        """When each worker that has a limit retires, on this backend's clock.

        The limit is the earlier of Dask's ``--lifetime`` and the SLURM job's walltime, asked of
        each worker once (``client.run``); workers without a limit are left out.
        """
        self._refresh()
        new = [a for a in self._workers if a not in self._deadlines and a not in self._checking]
        if new:
            try:
                left = self.client.run(remaining_lifetime, workers=new)
            except Exception as exc:  # a worker that just left; ask again next time
                logger.debug("could not ask workers for their lifetime: %s", exc)
                left = {}
            now = self.now()
            for address in new:
                if address in left:
                    seconds = left[address]
                    self._deadlines[address] = math.inf if seconds is None else now + seconds
        return {a: d for a, d in self._deadlines.items() if a in self._workers and math.isfinite(d)}

    def _long_lived(self, duration: float) -> list[str] | None:
        """Workers that live ``duration`` seconds more; None when every worker does."""
        deadlines = self.worker_deadlines()
        limit = self.now() + duration
        if all(d >= limit for d in deadlines.values()):
            return None
        return [a for a in self._workers if deadlines.get(a, math.inf) >= limit]

    def capacity_for(self, duration: float) -> int:
        """Slots for our trials on workers that live at least ``duration`` seconds more."""
        workers = self._long_lived(duration)
        if workers is None:
            return self._capacity
        return sum(self._slots(self._workers[a]) for a in workers)

    def pending_capacity(self) -> bool:
        if self._expect_more_workers is not None:
            return self._expect_more_workers()
        return not self._workers

    def min_queue_depth(self, capacity: int) -> int:
        """Dask queues trials on its scheduler, handing each to the first free thread, only
        once more are in flight than twice its threads (its "root-ish" rule, see _flush)."""
        return capacity + 16

    def describe_capacity(self) -> str:
        self._capacity_checked_at = -math.inf
        self._refresh()
        if not self._workers:
            return "The cluster has no workers."
        offers = sorted(
            {
                f"{w.get('nthreads', 1)} threads, resources {w.get('resources') or {}}"
                for w in self._workers.values()
            }
        )
        return (
            f"The cluster has {len(self._workers)} worker(s) offering: {'; '.join(offers)}. "
            "Workers offer resources when started so (`dask worker ... --resources GPU=1`)."
        )

    # ------------------------------------------------------------------ attempts

    def _key(self, trial_id: int, attempt: int) -> str:
        return events.trial_key(trial_id, attempt, self._token)

    def submit(self, spec: AttemptSpec) -> None:
        """Queue an attempt; queued attempts go to the cluster together at the next wait().

        One ``client.map`` per batch costs the scheduler one graph update instead of one per
        trial, which is most of the difference between a naive loop and the raw Dask floor.
        """
        self._outbox.append(spec)

    def _flush(self) -> None:
        """Send queued attempts to the cluster, in one graph per (resources, worker) group.

        Attempts go to workers known to have a free slot (a loose restriction): Dask alone may
        queue a trial behind a long one on a busy worker while another sits idle, because our
        "trial ended" event reaches the driver before the scheduler has freed that slot.
        Attempts beyond the free slots go unrestricted: Dask queues them on the scheduler (in
        order) and hands each worker its next one as a thread frees (or just before, when it
        prefetches), without a round trip to the driver. On daskhpo's own clusters, once the
        trials in flight outnumber twice the cluster's threads, Dask queues every unrestricted
        trial that way (its "root-ish" rule): no hints then, since a hinted trial skips the
        queue and may wait behind a busy worker's running trials. Attempts that need resources
        (GPUs) are never queued by Dask, only assigned to some worker at once, so they wait here
        for a free slot.
        """
        if not self._outbox:
            return
        self.register_plugin()  # once
        placement: tuple[str, ...] | None = None
        if self.expected_duration is not None:
            long_lived = self._long_lived(self.expected_duration)
            placement = None if long_lived is None else tuple(long_lived)
        free = self._free_slots(placement)
        dask_queues = (
            self._tune_saturation
            and placement is None
            and len(self._attempts) + len(self._outbox) > 2 * self._threads()
        )
        groups: dict[tuple[tuple[tuple[str, float], ...], str | None], list[AttemptSpec]] = {}
        held: list[AttemptSpec] = []
        for spec in self._outbox:
            hint = free and not (dask_queues and not spec.resources)
            worker = max(free, key=free.__getitem__) if hint else None
            if worker is not None:
                free[worker] -= 1
                if not free[worker]:
                    del free[worker]
            elif spec.resources:
                held.append(spec)
                continue
            groups.setdefault((tuple(sorted(spec.resources.items())), worker), []).append(spec)
        self._outbox = held
        for (resources, worker), specs in groups.items():
            keys = [self._key(s.trial_id, s.attempt) for s in specs]
            options = [self._options(s, k) for s, k in zip(specs, keys, strict=True)]
            if worker is not None:
                workers: list[str] | None = [worker]
            else:
                workers = list(placement) if placement else None
            futures = self.client.map(
                partial(run_task, self.objective),
                [s.config for s in specs],
                options,
                key=keys,
                pure=False,
                resources=dict(resources) or None,
                workers=workers,
                # a free-slot hint may yield to another worker; a lifetime limit may not
                allow_other_workers=workers is not None and placement is None,
                retries=0,
                batch_size=None,
            )
            for spec, key, future in zip(specs, keys, futures, strict=True):
                self._attempts[key] = _Attempt(
                    spec.trial_id,
                    spec.attempt,
                    future,
                    workers=placement or None,
                    assigned=worker,
                )

    def _free_slots(self, eligible: tuple[str, ...] | None) -> dict[str, int]:
        """Free trial slots per worker, from the attempts sent to or running on each."""
        self._refresh()
        busy: dict[str, int] = {}
        queued = 0  # sent without a worker and not started: they take the next free slots
        for record in self._attempts.values():
            if record.done:
                continue
            where = record.worker or record.assigned
            if where is None:
                queued += 1
            else:
                busy[where] = busy.get(where, 0) + 1
        free: dict[str, int] = {}
        for address, info in self._workers.items():
            if eligible is not None and address not in eligible:
                continue
            slots = self._slots(info) - busy.get(address, 0)
            if slots > 0:
                free[address] = slots
        # Queued attempts go first (first in, first out); only what they leave is offered.
        while queued > 0 and free:
            address = max(free, key=free.__getitem__)
            free[address] -= 1
            if not free[address]:
                del free[address]
            queued -= 1
        return free

    def _options(self, spec: AttemptSpec, key: str) -> dict[str, Any]:
        checkpoint_from = None
        if spec.checkpoint_trial_id is not None:
            checkpoint_from = _trial_dir_name(self._trials_root, spec.checkpoint_trial_id)
        return {
            "trial_id": spec.trial_id,
            "attempt": spec.attempt,
            "key": key,
            "topic": self.topic,
            "metric": self.metric,
            "trial_dir": _trial_dir_name(self._trials_root, spec.trial_id),
            "budget": spec.budget,
            "resources": spec.resources,
            "checkpoint_from": checkpoint_from,
        }

    def stop(self, trial_id: int, attempt: int, *, pause: bool) -> None:
        key = self._key(trial_id, attempt)
        record = self._attempts.get(key)
        if record is None or record.done:
            return
        workers = [record.worker] if record.worker else None
        try:
            self.client.run(request_stop, key, pause, workers=workers, wait=False)
        except Exception as exc:  # a worker that just died: its loss will be reported
            logger.debug("could not deliver stop for %s: %s", key, exc)

    def cancel(self, trial_id: int, attempt: int) -> None:
        self._outbox = [s for s in self._outbox if (s.trial_id, s.attempt) != (trial_id, attempt)]
        key = self._key(trial_id, attempt)
        record = self._attempts.get(key)
        if record is None:
            return
        if record.worker is not None:  # running: Dask cannot interrupt it, the flag can
            self.stop(trial_id, attempt, pause=False)
        record.done = True
        del self._attempts[key]
        record.future.cancel()

    # ------------------------------------------------------------------ events

    def _on_topic(self, event: tuple[float, Any]) -> None:
        self._inbox.put(("topic", event[1]))

    def wait(self, timeout: float | None) -> list[Event]:
        self._flush()
        limit = self._max_wait if timeout is None else min(timeout, self._max_wait)
        items: list[tuple[str, Any]] = []
        with contextlib.suppress(queue.Empty):
            items.append(self._inbox.get(timeout=limit) if limit > 0 else self._inbox.get_nowait())
        if items and self._gather_window > 0 and len(self._attempts) >= self._capacity + 8:
            # The cluster holds queued attempts, so nothing waits for the driver: let events
            # gather for a moment and handle them in one pass. With millisecond trials that
            # is ~10% less CPU in the driver's process, whose threads (this loop, the client,
            # a local scheduler) share one GIL.
            time.sleep(self._gather_window)
        checked = self._check_finished()  # before the drain, which takes its lifetimes
        events = self._drain(items)
        if self._checks:
            self._settle_check(block=False, finished=checked)
        if self._tune_saturation and events:
            self._adapt_saturation()
        # Tasks that ended without their "end" event (lost workers, errors outside the
        # objective, results that could not travel as an event) are found by reading future
        # states, a local look-up: a done-callback per future costs a thread hop per trial.
        now = self.now()
        if not items or now - self._swept_at >= self._sweep_interval:
            self._swept_at = now
            done_keys = [k for k, r in self._attempts.items() if r.future.done()]
            if self._checks and any(self._attempts[k].future.status == "error" for k in done_keys):
                # A failed task may be a worker unable to load the objective: the check says
                # so clearly, before any trial is reported failed for it.
                self._settle_check(block=True)
            if done_keys:
                # A task's "end" event reaches the client before its state does (one stream,
                # in order), so the events queued by now include those of every done task.
                events.extend(self._drain([]))
                events.extend(self._from_futures(done_keys))
            events.extend(self._lost_with_workers())
        return events

    def _adapt_saturation(self) -> None:
        """Let Dask prefetch a trial per worker only when trials take milliseconds.

        Prefetching (Dask's ``worker-saturation`` above 1) hides the scheduler's round trip
        between two trials, which matters only for very short ones; for longer ones it can put
        a trial behind a straggler while another worker idles, so daskhpo's own clusters start
        at 1.0 (first in, first out, to the first free thread) and switch to Dask's setting
        while the median of recent trials stays under ``PREFETCH_BELOW`` seconds.
        """
        if len(self._durations) < 4:
            return
        if statistics.median(self._durations) >= PREFETCH_BELOW:
            wanted = 1.0
        else:  # Dask's own setting (1.1 unless configured otherwise)
            wanted = float(dask.config.get("distributed.scheduler.worker-saturation", 1.1))
        if wanted == self._saturation:
            return
        self._saturation = wanted
        try:
            self.client.run_on_scheduler(_set_saturation, wanted)
        except Exception as exc:  # the scheduler is going away: nothing left to tune
            logger.debug("could not set worker-saturation: %s", exc)

    def _drain(self, items: list[tuple[str, Any]]) -> list[Event]:
        """The events of ``items`` and of everything else waiting in the inbox."""
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        events: list[Event] = []
        for _, payload in items:
            events.extend(self._from_topic(payload))
        return events

    def _lost_with_workers(self) -> list[Event]:
        """Attempts whose worker left while they ran, or whose allowed workers all left.

        A worker that retires (Dask ``--lifetime``, adaptive scale-down) leaves *gracefully*:
        Dask moves its running task elsewhere and starts it again from scratch, behind the
        driver's back, no error ever raised. The driver instead counts the attempt as lost
        with its worker and resubmits it as a new attempt, which resumes from its checkpoint.
        """
        if not self._attempts:
            return []
        self._refresh()
        events: list[Event] = []
        for key, record in list(self._attempts.items()):
            if record.done:
                continue
            if record.worker is not None:
                if record.worker in self._workers or record.worker not in self._known_workers:
                    continue
                reason = f"its worker {record.worker} left while it ran (retired or lost)"
            elif record.workers is not None and not set(record.workers) & set(self._workers):
                reason = "every worker that could finish it in time has left"
            else:
                continue
            events.append(self._lose(key, record, reason))
        return events

    def _lose(self, key: str, record: _Attempt, reason: str) -> Lost:
        """End an attempt as lost: cancel its task and stop any copy Dask restarted."""
        record.done = True
        self._attempts.pop(key, None)
        record.future.cancel()
        if record.worker is not None:
            with contextlib.suppress(Exception):
                self.client.run(request_stop, key, False, wait=False)
        return Lost(
            record.trial_id, record.attempt, self.now(), reason, started=record.worker is not None
        )

    def _from_topic(self, message: Any) -> list[Event]:
        kind, key = message[0], message[1]
        if kind == "lifetime":  # from a check: ["lifetime", worker, seconds left or None]
            self._deadlines[key] = math.inf if message[2] is None else self.now() + message[2]
            return []
        record = self._attempts.get(key)
        if record is None or record.done:
            return []
        now = self.now()
        if kind == "start":
            if record.worker is not None and record.worker != message[2]:
                # Dask restarted the task elsewhere: its first worker retired while it ran.
                return [self._lose(key, record, f"its worker {record.worker} retired while it ran")]
            record.worker = message[2]
            record.started_at = now
            return [Started(record.trial_id, record.attempt, now, message[2])]
        if kind == "report":
            return [Reported(record.trial_id, record.attempt, now, message[2], message[3])]
        if kind == "end":
            return [self._finished(key, record, message[2])]
        return []

    def _finished(self, key: str, record: _Attempt, outcome: dict[str, Any]) -> Finished | Lost:
        if record.started_at is not None:
            self._durations.append(self.now() - record.started_at)
        if outcome["outcome"] == "lost":  # it ended because its worker is retiring
            record.done = True
            self._attempts.pop(key, None)
            return Lost(
                record.trial_id,
                record.attempt,
                self.now(),
                f"its worker {outcome.get('worker')} retired while it ran",
                started=True,
            )
        record.done = True
        self._attempts.pop(key, None)
        reports = tuple((self.now(), float(step), dict(m)) for _, step, m in outcome["reports"])
        return Finished(
            trial_id=record.trial_id,
            attempt=record.attempt,
            time=self.now(),
            outcome=Outcome(outcome["outcome"]),
            metrics=dict(outcome.get("metrics") or {}),
            error=outcome.get("error"),
            worker=outcome.get("worker"),
            reports=reports,
        )

    def _from_futures(self, keys: list[str]) -> list[Event]:
        events: list[Event] = []
        to_gather: list[tuple[str, _Attempt]] = []
        for key in keys:
            record = self._attempts.get(key)
            if record is None or record.done:
                continue
            status = record.future.status
            if status == "finished":
                to_gather.append((key, record))
            elif status == "cancelled":
                record.done = True
                self._attempts.pop(key, None)
                events.append(
                    Lost(
                        record.trial_id,
                        record.attempt,
                        self.now(),
                        "task cancelled by the cluster",
                        started=record.worker is not None,
                    )
                )
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
                    record.done = True
                    self._attempts.pop(key, None)
                    events.append(
                        Lost(
                            record.trial_id,
                            record.attempt,
                            self.now(),
                            "result lost",
                            started=record.worker is not None,
                        )
                    )
                else:
                    events.append(self._finished(key, record, outcome))
        return events

    def _from_error(self, key: str, record: _Attempt) -> Event:
        record.done = True
        self._attempts.pop(key, None)
        exc = record.future.exception(timeout=10)
        name = type(exc).__name__
        if name == "KilledWorker" or "CommClosed" in name or isinstance(exc, OSError):
            return Lost(
                record.trial_id,
                record.attempt,
                self.now(),
                f"{name}: {exc}",
                started=record.worker is not None,
            )
        # The task failed outside the objective: typically the objective could not be
        # unpickled (imported) on the worker.
        return Finished(
            trial_id=record.trial_id,
            attempt=record.attempt,
            time=self.now(),
            outcome=Outcome.ERROR,
            error=(
                f"the trial could not run on its worker: {name}: {exc}. If the objective lives "
                "in a module of your own, make sure the workers can import it (same Python "
                "environment, module on their path)."
            ),
        )

    def register_plugin(self) -> None:
        """Have the workers send trials' start and end events (``worker.events``). A trial
        that starts on a worker without the plugin (it failed to register) sends its own."""
        if self._plugin_registered:
            return
        self._plugin_registered = True
        try:
            self.client.register_plugin(TrialEventsPlugin(), name=events.PLUGIN_NAME)
        except Exception as exc:
            logger.warning("could not register daskhpo's worker plugin: %s", exc)

    def check_objective(self, timeout: float | None = None) -> None:
        """Fail fast if workers cannot load the objective (e.g. its module is not on their path).

        A tiny task carries the objective to each worker (up to ``CHECKED_WORKERS``), so a
        search whose workers cannot import the objective's module stops with one clear error
        instead of many failed trials. Each check also reports its worker's lifetime, and the
        worker plugin is registered meanwhile.

        With workers there, it waits (up to ``timeout`` seconds, ``CHECK_TIMEOUT`` unless
        given) before any trial is sent.
        Without (SLURM jobs still queued), it does not wait: the check runs on the first worker
        that comes, and :meth:`wait` raises :class:`ObjectiveNotLoadable` if it fails, before
        any trial is reported failed for it; ``timeout`` then counts from that worker's arrival.
        """
        if not self._workers and not self._expect_more_workers_now():
            self.register_plugin()
            return
        # Each check imports the objective's module now, in parallel on every worker, instead
        # of during its first trial.
        addresses = list(self._workers)[:CHECKED_WORKERS]
        self._checks = [
            self.client.submit(
                objective_loads,
                self.objective,
                self.topic,
                workers=[address],
                allow_other_workers=True,
                pure=False,
                key=f"daskhpo-check-{self._token}-{i}",
            )
            for i, address in enumerate(addresses)
        ] or [self.client.submit(objective_loads, self.objective, pure=False)]
        self._checking = set(addresses)  # their checks will tell their lifetimes
        self._check_timeout = CHECK_TIMEOUT if timeout is None else timeout
        self._check_clock_from = self.now() if self._workers else None
        self.register_plugin()
        if self._workers:
            self._settle_check(block=True)

    def _check_finished(self) -> bool:
        """Whether a pending objective check has finished (read before draining events: a
        finished check's lifetime event is then already in the inbox)."""
        return bool(self._checks) and all(f.done() for f in self._checks)

    def _settle_check(self, *, block: bool, finished: bool = False) -> None:
        """Conclude the objective check: raise if it failed or is overdue; once it passed,
        ask the lifetimes of the workers no check ran on. With ``block``, wait for it.
        ``finished`` is whether it had finished before the caller took in the events."""
        if not self._checks:
            return
        if block:
            while not self._check_finished():
                self._refresh()
                if not self._workers:
                    return  # nothing can run yet: settled later, once workers come
                if self._check_overdue():
                    break
                with contextlib.suppress(TimeoutError):
                    wait(self._checks, timeout=self._max_wait)
            # Each check sent its worker's lifetime before its task finished (one stream, in
            # order): take them in.
            self._drain_lifetimes()
            finished = self._check_finished()
        if not finished:
            if self._check_overdue():
                self._fail_check(None)
            return
        for future in self._checks:
            if future.status != "finished":
                try:
                    future.result()  # raises the reason (only a failure needs this round trip)
                except Exception as exc:
                    self._fail_check(exc)
        self._checks = []
        self._checking = set()
        self.worker_deadlines()  # asks only the workers no check ran on

    def _check_overdue(self) -> bool:
        """Whether the check has had workers for longer than its timeout (its clock starts
        once a worker is there: a SLURM queue may hold the jobs for hours)."""
        if self._check_clock_from is None:
            if not self._workers:
                return False
            self._check_clock_from = self.now()
        return self.now() - self._check_clock_from >= self._check_timeout

    def _drain_lifetimes(self) -> None:
        """Take in queued topic messages before any trial ran (none but lifetimes then)."""
        if self._attempts:
            return  # trials' events are for :meth:`wait` to hand over
        self._drain([])

    def _fail_check(self, exc: BaseException | None) -> NoReturn:
        for future in self._checks:
            future.cancel()
        self._checks = []
        self._checking = set()
        if exc is None:
            raise ObjectiveNotLoadable(
                f"no worker ran a one-line check of the objective within "
                f"{self._check_timeout:g} s: the workers may be unable to unpickle it (its "
                "module is not importable there) or the cluster is saturated by other work; "
                "check the worker logs"
            )
        if isinstance(self.objective, ShippedObjective):
            name, module = self.objective.name, self.objective.module
        else:
            name = getattr(self.objective, "__qualname__", repr(self.objective))
            module = getattr(self.objective, "__module__", "?")
        raise ObjectiveNotLoadable(
            f"the workers cannot load the objective {name!r} from module {module!r}: "
            f"{type(exc).__name__}: {exc}. Put the module where the workers can import it "
            "(install it in their environment or add its directory to their PYTHONPATH), "
            "or define the objective in the script or notebook that calls tune()"
        ) from exc

    def _expect_more_workers_now(self) -> bool:
        return self._expect_more_workers is not None and self._expect_more_workers()

    def close(self) -> None:
        self._outbox = []
        for key in list(self._attempts):
            record = self._attempts.pop(key)
            record.future.cancel()
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # the client may already be closed
            logger.debug("unsubscribe failed", exc_info=True)


def _set_saturation(value: float, dask_scheduler: Any = None) -> None:
    """Runs on the scheduler: how many tasks each worker thread may hold (Dask's
    ``distributed.scheduler.worker-saturation``)."""
    dask_scheduler.WORKER_SATURATION = value
