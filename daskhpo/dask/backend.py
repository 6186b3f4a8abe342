"""Run attempts on a Dask cluster: the real backend behind ``daskhpo.tune``.

Design, from measurements on small clusters:

* Each attempt is one task with a unique key and ``pure=False``. The Tuner keeps more attempts
  queued than there are slots, so the cluster never waits for a driver round trip. On clusters
  daskhpo started, they wait on the scheduler until a thread is free (first in, first out, no
  trial behind a straggler); Dask prefetches again while trials take milliseconds.
* While the cluster holds such a queue, the driver lets events gather for 20 ms and handles
  them in one pass.
* Attempts submitted between two waits go to the scheduler as one graph (``client.map``),
  placed as :mod:`daskhpo.dask.placement` says.
* Starts, reports and final outcomes travel as worker events (``log_event``) to a topic the
  driver subscribes to: pushed, in order, a fraction of a millisecond each. Start and end are
  sent by a worker plugin in the same batch as Dask's own messages (``worker.events``). A
  task's result is gathered only when its end event did not arrive (future states are swept
  locally; :mod:`daskhpo.dask.attempts`).
* A task whose worker died comes back as ``KilledWorker`` (own clusters: ``allowed-failures`` 0),
  or Dask starts it again (a user's cluster): a second start is a lost attempt, and the rerun
  ends at once (``worker.reruns``). The Tuner resubmits it to resume from its checkpoint.
* Stop and pause are cooperative: a flag set on the trial's worker, read by ``report()``. At
  a milestone of the scheduler (a rung) the report waits, up to ``verdict_timeout`` s, for
  that flag or for a release (:meth:`DaskBackend.release`): the driver sends one for each
  milestone report only, so reports between milestones cost no round trip.
* Before the first trial, :mod:`daskhpo.dask.objective_check` sees that workers load the
  objective.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from distributed import Client

from daskhpo.backend import AttemptSpec, Event
from daskhpo.dask.attempts import Attempt, Attempts, trial_dir, trial_dir_name
from daskhpo.dask.objective_check import ObjectiveCheck
from daskhpo.dask.placement import WorkerView, assign
from daskhpo.dask.restarts import WorkerRestarts
from daskhpo.dask.saturation import PREFETCH_BELOW, set_saturation, wanted_saturation
from daskhpo.dask.worker import events
from daskhpo.dask.worker.plugin import TrialEventsPlugin
from daskhpo.dask.worker.reporting import run_task
from daskhpo.dask.worker.verdicts import request_continue, request_stop

__all__ = ["PREFETCH_BELOW", "DaskBackend", "trial_dir"]

logger = logging.getLogger(__name__)

#: Attempts queued beyond the slots, at least, for a queue-preferring scheduler: enough that
#: the trials in flight outnumber twice the cluster's threads, the point from which Dask queues
#: a group of root-ish tasks on its scheduler (see :meth:`DaskBackend.min_queue_depth`).
MIN_QUEUE_EXTRA = 16


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
        verdict_timeout: float = 0.5,
    ) -> None:
        self.client = client
        self.verdict_timeout = verdict_timeout
        self.objective = objective
        self.metric = metric
        self.experiment_dir = experiment_dir
        self._trials_root = str(experiment_dir / "trials")
        self.resources = dict(resources or {})
        self._expect_more_workers = expect_more_workers
        self._max_wait = max_wait
        self._t0 = time.monotonic() - clock_offset  # a resumed search continues its clock
        self._token = uuid.uuid4().hex[:8]
        self.topic = events.topic_of(self._key(0, 0))
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._view = WorkerView(client, self.resources, self.now, refresh_interval)
        self._restarts = WorkerRestarts(client, self._view.memory_limit)
        self._attempts = Attempts(client, self.now, self._restarts)
        self._outbox: list[AttemptSpec] = []
        self._swept_at, self._sweep_interval = 0.0, 0.25
        self._gather_window = gather_window
        #: Set the scheduler's worker-saturation from trial durations (clusters daskhpo owns).
        self._tune_saturation = tune_saturation
        self._saturation: float | None = None  # what this backend last set
        #: Seconds an attempt is expected to run. When set, attempts go only to workers that
        #: live at least that much longer (SLURM walltime, Dask ``--lifetime``), and capacity()
        #: counts only their slots.
        self.expected_duration: float | None = None
        client.subscribe_topic(self.topic, self._on_topic)
        self._plugin_registered = False
        self._check = ObjectiveCheck(
            client,
            objective,
            view=self._view,
            topic=self.topic,
            token=self._token,
            now=self.now,
            drain_lifetimes=self._drain_lifetimes,
            max_wait=max_wait,
        )

    # ------------------------------------------------------------------ clock and capacity

    def now(self) -> float:
        return time.monotonic() - self._t0

    def capacity(self) -> int:
        self._view.refresh()
        if self.expected_duration is not None:
            return self.capacity_for(self.expected_duration)
        return self._view.capacity

    def capacity_for(self, duration: float) -> int:
        """Slots for our trials on workers that live at least ``duration`` seconds more."""
        return self._view.capacity_for(duration, self._check.checking)

    def worker_deadlines(self) -> dict[str, float]:
        """When each worker that has a limit (``--lifetime``, SLURM walltime) retires."""
        return self._view.worker_deadlines(self._check.checking)

    def pending_capacity(self) -> bool:
        if self._expect_more_workers is not None:
            return self._expect_more_workers()
        return not self._view.workers

    def describe_capacity(self) -> str:
        """What the workers offer, then how to start ones that can run the trials."""
        return self._view.describe()

    def min_queue_depth(self, capacity: int) -> int:
        """Attempts to keep queued beyond ``capacity`` for a queue-preferring scheduler.

        Dask queues a group of root-ish tasks on its scheduler (each to the first free thread,
        in order) only while the tasks in flight outnumber twice the cluster's threads; below
        that it assigns them to workers at once, where one may wait behind a long trial.
        """
        return max(MIN_QUEUE_EXTRA, capacity + MIN_QUEUE_EXTRA)

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
        prefetches), without a round trip to the driver; see :func:`placement.assign` for
        when no hint is given and which attempts wait here for a free slot.
        """
        if not self._outbox:
            return
        self.register_plugin()  # once
        placement: tuple[str, ...] | None = None
        if self.expected_duration is not None:
            long_lived = self._view.long_lived(self.expected_duration, self._check.checking)
            placement = None if long_lived is None else tuple(long_lived)
        placed = [r.worker or r.assigned for r in self._attempts if not r.done]
        free = self._view.free_slots(placed, placement)
        dask_queues = (
            self._tune_saturation
            and placement is None
            and len(self._attempts) + len(self._outbox) > 2 * self._view.threads()
        )
        groups, self._outbox = assign(self._outbox, free, dask_queues=dask_queues)
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
                self._attempts.add(
                    key,
                    Attempt(
                        spec.trial_id,
                        spec.attempt,
                        future,
                        workers=placement or None,
                        assigned=worker,
                    ),
                )

    def _options(self, spec: AttemptSpec, key: str) -> dict[str, Any]:
        checkpoint_from = None
        if spec.checkpoint_trial_id is not None:
            checkpoint_from = trial_dir_name(self._trials_root, spec.checkpoint_trial_id)
        return {
            "trial_id": spec.trial_id,
            "attempt": spec.attempt,
            "key": key,
            "topic": self.topic,
            "metric": self.metric,
            "trial_dir": trial_dir_name(self._trials_root, spec.trial_id),
            "budget": spec.budget,
            "resources": spec.resources,
            "checkpoint_from": checkpoint_from,
            "milestones": spec.milestones,
            "verdict_timeout": self.verdict_timeout,
            "mark_start": self._restarts.scheduler_reruns_tasks(),
        }

    def stop(self, trial_id: int, attempt: int, *, pause: bool) -> None:
        self._tell(trial_id, attempt, request_stop, pause)

    def release(self, trial_id: int, attempt: int, step: float) -> None:
        """Let an attempt waiting at its milestone report ``step`` go on."""
        self._tell(trial_id, attempt, request_continue, step)

    def _tell(self, trial_id: int, attempt: int, verdict: Callable[..., Any], arg: Any) -> None:
        """Run ``verdict(key, arg)`` on the attempt's worker, without waiting for it."""
        key = self._key(trial_id, attempt)
        record = self._attempts.get(key)
        if record is None or record.done:
            return
        workers = [record.worker] if record.worker else None
        try:
            self.client.run(verdict, key, arg, workers=workers, wait=False)
        except Exception as exc:  # a worker that just died: its loss will be reported
            logger.debug("could not deliver %s for %s: %s", verdict.__name__, key, exc)

    def cancel(self, trial_id: int, attempt: int) -> None:
        self._outbox = [s for s in self._outbox if (s.trial_id, s.attempt) != (trial_id, attempt)]
        key = self._key(trial_id, attempt)
        record = self._attempts.get(key)
        if record is None:
            return
        if record.worker is not None:  # running: Dask cannot interrupt it, the flag can
            self.stop(trial_id, attempt, pause=False)
        self._attempts.drop(key)

    def kill(self, trial_id: int, attempt: int) -> None:
        """Cancel an attempt that did not stop at its ``trial_timeout`` and restart its worker
        (Dask cannot interrupt a thread); the worker's other attempts come back as lost."""
        record = self._attempts.get(self._key(trial_id, attempt))
        self.cancel(trial_id, attempt)
        if record is not None and record.worker is not None:
            self._restarts.restart(record.worker, trial_id)

    # ------------------------------------------------------------------ events

    def _on_topic(self, event: tuple[float, Any]) -> None:
        self._inbox.put(("topic", event[1]))

    def wait(self, timeout: float | None) -> list[Event]:
        self._flush()
        limit = self._max_wait if timeout is None else min(timeout, self._max_wait)
        items: list[tuple[str, Any]] = []
        with contextlib.suppress(queue.Empty):
            items.append(self._inbox.get(timeout=limit) if limit > 0 else self._inbox.get_nowait())
        if items and self._gather_window > 0 and len(self._attempts) >= self._view.capacity + 8:
            # The cluster holds queued attempts, so nothing waits for the driver: let events
            # gather for a moment and handle them in one pass. With millisecond trials that
            # is ~10% less CPU in the driver's process, whose threads (this loop, the client,
            # a local scheduler) share one GIL.
            time.sleep(self._gather_window)
        checked = self._check.finished()  # before the drain, which takes its lifetimes
        events = self._drain(items)
        if self._check.pending:
            self._check.settle(block=False, finished=checked)
        if self._tune_saturation and events:
            self._adapt_saturation()
        # Tasks that ended without their "end" event (lost workers, errors outside the
        # objective, results that could not travel as an event) are found by reading future
        # states, a local look-up: a done-callback per future costs a thread hop per trial.
        now = self.now()
        if not items or now - self._swept_at >= self._sweep_interval:
            self._swept_at = now
            done_keys = self._attempts.done_keys()
            if self._check.pending and self._attempts.any_errored(done_keys):
                # A failed task may be a worker unable to load the objective: the check says
                # so clearly, before any trial is reported failed for it.
                self._check.settle(block=True)
            if done_keys:
                # A task's "end" event reaches the client before its state does (one stream,
                # in order), so the events queued by now include those of every done task.
                events.extend(self._drain([]))
                events.extend(self._attempts.from_futures(done_keys))
            if len(self._attempts):
                self._view.refresh()
                events.extend(
                    self._attempts.lost_with_workers(self._view.workers, self._view.known)
                )
        return events

    def _adapt_saturation(self) -> None:
        """Let Dask prefetch a trial per worker only when trials take milliseconds
        (:mod:`daskhpo.dask.saturation`)."""
        wanted = wanted_saturation(self._attempts.durations)
        if wanted is not None and wanted != self._saturation:
            self._saturation = wanted
            set_saturation(self.client, wanted)

    def _drain(self, items: list[tuple[str, Any]]) -> list[Event]:
        """The events of ``items`` and of everything else waiting in the inbox."""
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        found: list[Event] = []
        for _, message in items:
            if message[0] == "lifetime":  # from a check: ["lifetime", worker, seconds or None]
                self._view.set_lifetime(message[1], message[2])
            else:
                found.extend(self._attempts.from_message(message))
        return found

    def _drain_lifetimes(self) -> None:
        """Take in queued topic messages before any trial ran (none but lifetimes then)."""
        if len(self._attempts):
            return  # trials' events are for :meth:`wait` to hand over
        self._drain([])

    # ------------------------------------------------------------------ set-up and end

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

        With workers there, it waits (up to ``timeout`` s, ``objective_check.CHECK_TIMEOUT``
        by default) before any trial is sent. Without (SLURM jobs queued), the check runs on
        the first worker that comes and :meth:`wait` raises ``ObjectiveNotLoadable`` if it
        fails, before any trial is reported failed for it.
        """
        expecting = self._expect_more_workers is not None and self._expect_more_workers()
        if not self._view.workers and not expecting:
            self.register_plugin()
            return
        self._check.start(timeout)
        self.register_plugin()
        if self._view.workers:
            self._check.settle(block=True)

    def close(self) -> None:
        self._outbox = []
        for record in self._attempts:
            record.future.cancel()
        self._attempts.close()
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # the client may already be closed
            logger.debug("unsubscribe failed", exc_info=True)
