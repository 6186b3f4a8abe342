"""The single event loop: fill free slots, dispatch events, apply stop criteria and retries.

The Tuner knows nothing of Dask or of wall time: it reads time from its backend and talks to it
through :class:`daskhpo.backend.Backend`, so the same loop drives real workers and the
simulator. Every fact it learns is journaled before it acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from daskhpo.backend import (
    AttemptSpec,
    Backend,
    Event,
    Finished,
    Lost,
    NoCapacityError,
    Outcome,
    Reported,
    Started,
)
from daskhpo.experiment.journal import Journal, NullJournal
from daskhpo.schedulers.base import Scheduler
from daskhpo.searchers.base import Searcher
from daskhpo.space import SearchSpace
from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus, better, check_mode


class TunerCallback(Protocol):
    """Something that watches the search (a progress display, a test probe)."""

    def on_step(self, tuner: Tuner) -> None: ...

    def on_end(self, tuner: Tuner) -> None: ...


@dataclass(frozen=True)
class ReportRecord:
    """One intermediate report, as kept for ``Result.reports``."""

    trial_id: int
    attempt: int
    time: float
    step: float
    metrics: dict[str, Any]


@dataclass
class TunerStats:
    """Counters for progress displays and notes."""

    created: int = 0
    started: int = 0
    completed: int = 0
    stopped: int = 0
    paused: int = 0
    failed: int = 0
    user_retries: int = 0
    resubmitted: int = 0  # attempts resubmitted after a lost worker (not charged)
    reports: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def seeded_generators(seed: int | None, n: int) -> list[np.random.Generator]:
    """Independent generators for the searcher, scheduler, ... from one user seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


class Tuner:
    """Runs one search to its end on a backend."""

    def __init__(
        self,
        *,
        backend: Backend,
        space: SearchSpace,
        scheduler: Scheduler,
        searcher: Searcher,
        metric: str,
        mode: str = "min",
        num_trials: int | None = None,
        time_budget: float | None = None,
        target: float | None = None,
        resources: dict[str, float] | None = None,
        max_concurrent: int | None = None,
        max_retries: int = 0,
        max_worker_losses: int = 3,
        queue_depth: int | None = None,
        startup_timeout: float | None = None,
        trial_walltime: float | None = None,
        journal: Journal | None = None,
        seed: int | None = None,
        callbacks: Sequence[TunerCallback] = (),
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> None:
        self.backend = backend
        self.space = space
        self.scheduler = scheduler
        self.searcher = searcher
        self.metric = metric
        self.mode = check_mode(mode)
        self.num_trials = num_trials
        self.time_budget = time_budget
        self.target = target
        self.resources = dict(resources or {})
        self.max_concurrent = max_concurrent
        self.max_retries = max_retries
        self.max_worker_losses = max_worker_losses
        self.queue_depth = queue_depth
        self.startup_timeout = startup_timeout
        self.trial_walltime = trial_walltime
        self._durations: list[float] = []  # wall time of attempts that ran to the end
        self._duration_estimate = (0, 0.0)  # (len(_durations) it was computed for, value)
        #: Backends that know when workers retire (``worker_deadlines()``) take an
        #: ``expected_duration`` hint while some worker has a deadline.
        self._knows_lifetimes = hasattr(backend, "expected_duration")
        self._attempt_started: dict[int, float] = {}
        self.journal = journal or NullJournal()
        self._journaling = not isinstance(self.journal, NullJournal)  # skip building records
        self.callbacks = list(callbacks)

        searcher_rng, scheduler_rng = rngs or seeded_generators(seed, 2)
        searcher.setup(space, metric=metric, mode=self.mode, rng=searcher_rng)
        scheduler.setup(searcher=searcher, metric=metric, mode=self.mode, rng=scheduler_rng)

        self.trials: dict[int, Trial] = {}
        self.reports: list[ReportRecord] = []
        self.stats = TunerStats()
        self.best_trial_id: int | None = None
        self.best_value: float | None = None
        self.stop_reason: str | None = None
        self.interrupted = False
        self._in_flight: dict[int, int] = {}  # trial_id -> attempt running or queued
        self._retry: list[int] = []  # trial ids waiting to be resubmitted, in order
        self._decided: dict[int, Decision] = {}  # STOP/PAUSE sent to a running attempt
        self._seen_reports: dict[int, int] = {}  # reports processed for the current attempt
        self._next_id = 0
        self._no_capacity_since: float | None = None
        self._closing = False
        self._replaying = False
        self._run_started_at = 0.0  # the time budget counts from here (each resume anew)
        self._rate_window = (0.0, 0, 0)  # (window start, ends in it, ends in the last one)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Tuner:
        """Run until a stop criterion holds or nothing is left to run; returns self."""
        self._run_started_at = self.backend.now()
        try:
            while True:
                waiting_for_workers = not self._fill()
                if not self._in_flight and not self._retry and not waiting_for_workers:
                    self.stop_reason = self.stop_reason or "nothing left to run"
                    break
                self.journal.flush()  # everything learned so far, before anything is sent
                events = self.backend.wait(self._wait_timeout())
                for event in events:
                    self._handle(event)
                self._check_stop()
                for cb in self.callbacks:
                    cb.on_step(self)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop_reason = "interrupted"
            if self._journaling:
                self.journal.write("interrupted", time=self.backend.now())
        finally:
            self._cancel_in_flight()
            if self._journaling:
                self.journal.write(
                    "end", time=self.backend.now(), reason=self.stop_reason or "error"
                )
            for cb in self.callbacks:
                cb.on_end(self)
        return self

    def _wait_timeout(self) -> float | None:
        if self.time_budget is None:
            return None
        return max(0.0, self._run_started_at + self.time_budget - self.backend.now())

    def _target_in_flight(self, capacity: int) -> int:
        """Slots plus a queue deep enough to hide the driver's round trip.

        Schedulers whose suggestions do not depend on results (``prefers_queue``) get about a
        quarter of a second of work queued at the recent completion rate, so that even
        millisecond trials never wait for the driver, and at least the slots plus 16: with
        more trials in flight than twice its threads, Dask queues them on the scheduler and
        hands each to the first free thread, in order (see ``DaskBackend._flush``). Others get
        no queue, so each decision sees every result that came before it.
        """
        depth = self.queue_depth
        if depth is None:
            depth = 0
            if self.scheduler.prefers_queue:
                depth = max(16, capacity + 16, min(512, self._completion_rate() // 4))
        target = capacity + depth
        if self.max_concurrent is not None:
            target = min(target, self.max_concurrent)
        return target

    def _count_completion(self, now: float) -> None:
        start, count, last = self._rate_window
        if now - start >= 1.0:
            self._rate_window = (now, 1, count if now - start < 2.0 else 0)
        else:
            self._rate_window = (start, count + 1, last)

    def _completion_rate(self) -> int:
        """Attempts ended per second, over the last whole one-second window."""
        start, count, last = self._rate_window
        return max(count, last) if self.backend.now() - start < 2.0 else 0

    def _fill(self) -> bool:
        """Submit retries, resumes and new trials until the target number is in flight.

        Returns False when the cluster has no capacity at all yet (nothing could be decided).
        """
        if self._closing:
            return True
        capacity = self.backend.capacity()
        self._check_capacity(capacity)
        if capacity <= 0:
            return False
        self._update_expected_duration()
        self.scheduler.capacity = capacity
        target = self._target_in_flight(capacity)
        if (
            self.scheduler.prefers_queue
            and not self._retry
            and len(self._in_flight) > target - max(1, (target - capacity) // 2)
        ):
            return True  # top the queue up in batches: one graph for many trials
        now = self.backend.now()
        while len(self._in_flight) < target:
            if self._retry:
                self._submit(self.trials[self._retry.pop(0)], now)
                continue
            allow_new = self.num_trials is None or self._next_id < self.num_trials
            suggestion = self.scheduler.suggest(self._next_id, now, allow_new=allow_new)
            if suggestion is None:
                break
            self._apply(suggestion, now)
        return True

    def expected_duration(self) -> float | None:
        """How long an attempt is expected to run: ``trial_walltime`` if given, else the 90th
        percentile of the attempts that ran to their end (once there are three)."""
        if self.trial_walltime is not None:
            return self.trial_walltime
        n = len(self._durations)
        if n < 3:
            return None
        if n >= self._duration_estimate[0] * 1.1:  # recomputed as the sample grows by 10%
            self._duration_estimate = (n, float(np.quantile(self._durations, 0.9)))
        return self._duration_estimate[1]

    def _update_expected_duration(self) -> None:
        """Tell a backend that knows worker lifetimes (SLURM walltime, Dask ``--lifetime``) how
        long attempts run, so it starts none on a worker that retires before the end."""
        if self._knows_lifetimes and self.backend.worker_deadlines():  # type: ignore[attr-defined]
            self.backend.expected_duration = self.expected_duration()  # type: ignore[attr-defined]

    def _check_capacity(self, capacity: int) -> None:
        """Fail clearly, instead of waiting forever, when no worker can run a trial."""
        if capacity > 0 or self._in_flight:
            self._no_capacity_since = None
            return
        now = self.backend.now()
        if self._no_capacity_since is None:
            self._no_capacity_since = now
            return
        waited = now - self._no_capacity_since
        if self.backend.pending_capacity():
            # Workers are on their way (jobs queued, a worker restarting): wait for them,
            # for as long as the user allows (by default as long as they are coming).
            if self.startup_timeout is None or waited < self.startup_timeout:
                return
        elif waited < 2.0:
            return
        wanted = self.resources or {"threads": 1}
        raise NoCapacityError(
            f"no worker can run a trial that needs {wanted} "
            f"(waited {waited:.0f} s). {self.backend.describe_capacity()} "
            "Start workers that offer these resources (for example "
            "`dask worker ... --resources GPU=1`), or lower `resources`."
        )

    def _apply(self, suggestion: Suggestion, now: float) -> None:
        if suggestion.resume_trial_id is not None:
            trial = self.trials.get(suggestion.resume_trial_id)
            if trial is None or trial.status is not TrialStatus.PAUSED:
                raise RuntimeError(
                    f"scheduler asked to resume trial {suggestion.resume_trial_id}, "
                    "which is not paused"
                )
            trial.config = dict(suggestion.config)
            trial.budget = suggestion.budget
            trial.checkpoint_trial_id = suggestion.checkpoint_trial_id
            trial.attempt += 1
            if self._journaling:
                self.journal.write(
                    "resumed",
                    time=now,
                    trial_id=trial.trial_id,
                    attempt=trial.attempt,
                    config=trial.config,
                    budget=trial.budget,
                    checkpoint_trial_id=trial.checkpoint_trial_id,
                )
            self.stats.paused -= 1
            self._submit(trial, now)
            return
        trial = Trial(
            trial_id=self._next_id,
            config=dict(suggestion.config),
            resources=dict(self.resources),
            budget=suggestion.budget,
            checkpoint_trial_id=suggestion.checkpoint_trial_id,
            created_at=now,
        )
        self._next_id += 1
        self.trials[trial.trial_id] = trial
        self.stats.created += 1
        if self._journaling:
            self.journal.write(
                "created",
                time=now,
                trial_id=trial.trial_id,
                config=trial.config,
                budget=trial.budget,
                checkpoint_trial_id=trial.checkpoint_trial_id,
            )
        self._submit(trial, now)

    def _submit(self, trial: Trial, now: float) -> None:
        trial.status = TrialStatus.PENDING
        self._in_flight[trial.trial_id] = trial.attempt
        self._seen_reports[trial.trial_id] = 0
        self._decided.pop(trial.trial_id, None)
        if self._journaling:
            self.journal.write(
                "submitted", time=now, trial_id=trial.trial_id, attempt=trial.attempt
            )
        if self._replaying:
            return
        self.backend.submit(
            AttemptSpec(
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                config=trial.config,
                resources=trial.resources,
                budget=trial.budget,
                checkpoint_trial_id=trial.checkpoint_trial_id,
            )
        )

    # ------------------------------------------------------------------ events

    def _current(self, trial_id: int, attempt: int) -> Trial | None:
        """The trial if ``attempt`` is its attempt in flight; stale events get None."""
        if self._in_flight.get(trial_id) != attempt:
            return None
        return self.trials[trial_id]

    def _handle(self, event: Event) -> None:
        if self._in_flight.get(event.trial_id) != event.attempt:
            return  # a stale event of an attempt that already ended or was cancelled
        trial = self.trials[event.trial_id]
        kind = type(event)  # dispatch on the exact type: this runs for every event
        if kind is Finished:
            self._on_finished(trial, event)  # type: ignore[arg-type]
        elif kind is Started:
            self._on_started(trial, event)  # type: ignore[arg-type]
        elif kind is Reported:
            self._on_reported(trial, event.time, event.step, event.metrics)  # type: ignore[union-attr]
        elif kind is Lost:
            self._on_lost(trial, event)  # type: ignore[arg-type]
        else:
            raise TypeError(f"unknown event {event!r}")

    def _on_started(self, trial: Trial, event: Started) -> None:
        if self._journaling:
            self.journal.write(
                "started",
                time=event.time,
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                worker=event.worker,
            )
        trial.status = TrialStatus.RUNNING
        trial.worker = event.worker
        self._attempt_started[trial.trial_id] = event.time
        # The worker copied the donor's checkpoint as this attempt started; a later attempt
        # (after a lost worker) must resume from the trial's own progress instead.
        trial.checkpoint_trial_id = None
        if trial.started_at is None:
            trial.started_at = event.time
            self.stats.started += 1
            self.scheduler.on_trial_start(trial, event.time)

    def _on_reported(self, trial: Trial, time: float, step: float, metrics: dict[str, Any]) -> None:
        self._seen_reports[trial.trial_id] += 1
        if self._journaling:
            self.journal.write(
                "reported",
                time=time,
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                step=step,
                metrics=metrics,
            )
        self.reports.append(ReportRecord(trial.trial_id, trial.attempt, time, step, metrics))
        self.stats.reports += 1
        if trial.status is TrialStatus.PENDING:
            trial.status = TrialStatus.RUNNING
        trial.last_metrics = dict(metrics)
        trial.last_step = step
        self._observe(trial)
        if trial.trial_id in self._decided:
            return  # already told to stop; the trial has not noticed yet
        decision = self.scheduler.on_trial_report(trial, step, metrics, time)
        if decision is not Decision.CONTINUE:
            self._decided[trial.trial_id] = decision
            if self._journaling:
                self.journal.write(
                    "decided",
                    time=time,
                    trial_id=trial.trial_id,
                    attempt=trial.attempt,
                    decision=decision.value,
                )
            pauses_itself = (
                decision is Decision.PAUSE and trial.budget is not None and step >= trial.budget
            )
            if not self._replaying and not pauses_itself:
                self.journal.flush()
                self.backend.stop(trial.trial_id, trial.attempt, pause=decision is Decision.PAUSE)

    def _on_finished(self, trial: Trial, event: Finished) -> None:
        # Reports that travelled with the result but were not seen live come first.
        if event.reports and len(event.reports) > self._seen_reports[trial.trial_id]:
            for time, step, metrics in event.reports[self._seen_reports[trial.trial_id] :]:
                self._on_reported(trial, time, step, metrics)
        if event.worker is not None:
            trial.worker = event.worker
        del self._in_flight[trial.trial_id]
        self._count_completion(event.time)
        if event.outcome is Outcome.ERROR:
            self._on_user_failure(trial, event)
            return
        trial.ended_at = event.time
        if event.outcome is Outcome.RETURNED:
            if self._knows_lifetimes and len(self._durations) < 10_000:
                started = self._attempt_started.get(trial.trial_id)
                if started is not None:
                    self._durations.append(event.time - started)
            trial.last_metrics.update(event.metrics)
            trial.status = TrialStatus.COMPLETED
            if self._journaling:
                self.journal.write(
                    "completed",
                    time=event.time,
                    trial_id=trial.trial_id,
                    attempt=trial.attempt,
                    metrics=event.metrics,
                    worker=trial.worker,
                )
            self.stats.completed += 1
            self._observe(trial)
            self.scheduler.on_trial_complete(trial, event.metrics, event.time)
            return
        paused = event.outcome is Outcome.PAUSED
        trial.status = TrialStatus.PAUSED if paused else TrialStatus.STOPPED
        if self._journaling:
            self.journal.write(
                "paused" if paused else "stopped",
                time=event.time,
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                worker=trial.worker,
            )
        if paused:
            self.stats.paused += 1
        else:
            self.stats.stopped += 1
        self.scheduler.on_trial_stopped(trial, event.time)

    def _on_user_failure(self, trial: Trial, event: Finished) -> None:
        trial.user_failures += 1
        trial.error = event.error
        retry = trial.user_failures <= self.max_retries and not self._closing
        if self._journaling:
            self.journal.write(
                "failed",
                time=event.time,
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                kind="user",
                error=event.error,
                retry=retry,
            )
        if retry:
            self.stats.user_retries += 1
            trial.attempt += 1
            trial.status = TrialStatus.PENDING
            self._retry.append(trial.trial_id)
            return
        trial.status = TrialStatus.FAILED
        trial.ended_at = event.time
        self.stats.failed += 1
        self.scheduler.on_trial_error(trial, event.time)

    def _on_lost(self, trial: Trial, event: Lost) -> None:
        del self._in_flight[trial.trial_id]
        if event.started:
            trial.infra_failures += 1
        give_up = trial.infra_failures > self.max_worker_losses
        if self._journaling:
            self.journal.write(
                "lost",
                time=event.time,
                trial_id=trial.trial_id,
                attempt=trial.attempt,
                reason=event.reason,
                started=event.started,
                retry=not give_up,
            )
        if give_up:
            trial.status = TrialStatus.FAILED
            trial.ended_at = event.time
            trial.error = (
                f"lost its worker {trial.infra_failures} times (last: {event.reason}); "
                f"gave up after max_worker_losses={self.max_worker_losses}. A trial that "
                "keeps killing workers is often running out of memory."
            )
            self.stats.failed += 1
            self.scheduler.on_trial_error(trial, event.time)
            return
        self.stats.resubmitted += 1
        trial.attempt += 1
        trial.status = TrialStatus.PENDING
        self._retry.insert(0, trial.trial_id)  # lost work goes first: it has progress to resume

    def _observe(self, trial: Trial) -> None:
        value = trial.metric_value(self.metric)
        if value is None:
            return
        if self.best_value is None or better(value, self.best_value, self.mode):
            self.best_value = value
            self.best_trial_id = trial.trial_id

    # ------------------------------------------------------------------ stopping

    def _check_stop(self) -> None:
        if self._closing or (self.time_budget is None and self.target is None):
            return
        reason = None
        now = self.backend.now()
        if self.time_budget is not None and now >= self._run_started_at + self.time_budget:
            reason = f"time budget of {self.time_budget:g} s used"
        elif (
            self.target is not None
            and self.best_value is not None
            and (self.best_value == self.target or better(self.best_value, self.target, self.mode))
        ):
            reason = f"target {self.metric}={self.target:g} reached"
        if reason is not None:
            self.stop_reason = reason
            self._closing = True
            self._retry.clear()
            self._cancel_in_flight()

    def _cancel_in_flight(self) -> None:
        now = self.backend.now()
        for trial_id, attempt in list(self._in_flight.items()):
            self.backend.cancel(trial_id, attempt)
            trial = self.trials[trial_id]
            trial.status = TrialStatus.CANCELLED
            if self._journaling:
                self.journal.write("cancelled", time=now, trial_id=trial_id, attempt=attempt)
        self._in_flight.clear()
        for trial_id in self._retry:
            self.trials[trial_id].status = TrialStatus.CANCELLED
        self._retry.clear()

    # ------------------------------------------------------------------ resume

    def replay(self, records: Iterable[dict[str, Any]]) -> int:
        """Rebuild the search from a journal written by an earlier run; returns records used.

        The journal's facts are fed through the same handlers, in the same order, as when they
        happened, so searcher and scheduler reach the state they had (same seed, same
        decisions); nothing is submitted and nothing is journaled again. Attempts that were in
        flight when the earlier run ended are queued for resubmission as new attempts: they
        resume from their checkpoints and, like a lost worker, this is not charged to them.
        """
        journal, self.journal = self.journal, NullJournal()
        journaling, self._journaling = self._journaling, False
        self._replaying = True
        used = 0
        try:
            for record in records:
                used += self._replay_one(record)
            self._requeue_in_flight()
        finally:
            self.journal = journal
            self._journaling = journaling
            self._replaying = False
            self._closing = False
            self.stop_reason = None
        return used

    def _replay_one(self, r: dict[str, Any]) -> int:
        event, now = r.get("event"), float(r.get("time", 0.0))
        trial_id = int(r.get("trial_id", -1))
        attempt = int(r.get("attempt", 0))
        if event == "created":
            suggestion = self.scheduler.suggest(self._next_id, now, allow_new=True)
            if suggestion is None or suggestion.config != r["config"]:
                suggestion = Suggestion(
                    r["config"],
                    budget=r.get("budget"),
                    checkpoint_trial_id=r.get("checkpoint_trial_id"),
                )
            self._apply(suggestion, now)
        elif event == "resumed":
            allow_new = self.num_trials is None or self._next_id < self.num_trials
            suggestion = self.scheduler.suggest(self._next_id, now, allow_new=allow_new)
            if suggestion is None or suggestion.resume_trial_id != trial_id:
                suggestion = Suggestion(
                    r["config"],
                    resume_trial_id=trial_id,
                    budget=r.get("budget"),
                    checkpoint_trial_id=r.get("checkpoint_trial_id"),
                )
            self._apply(suggestion, now)
        elif event == "submitted":
            if trial_id in self._retry:
                self._retry.remove(trial_id)
                self._submit(self.trials[trial_id], now)
        elif event == "started":
            self._handle(Started(trial_id, attempt, now, r.get("worker") or "?"))
        elif event == "reported":
            self._handle(Reported(trial_id, attempt, now, r["step"], r.get("metrics") or {}))
        elif event == "completed":
            self._handle(
                Finished(
                    trial_id,
                    attempt,
                    now,
                    Outcome.RETURNED,
                    r.get("metrics") or {},
                    worker=r.get("worker"),
                )
            )
        elif event in ("stopped", "paused"):
            outcome = Outcome.PAUSED if event == "paused" else Outcome.STOPPED
            self._handle(Finished(trial_id, attempt, now, outcome, worker=r.get("worker")))
        elif event == "failed":
            self._handle(Finished(trial_id, attempt, now, Outcome.ERROR, error=r.get("error")))
        elif event == "lost":
            self._handle(
                Lost(
                    trial_id,
                    attempt,
                    now,
                    r.get("reason", ""),
                    started=bool(r.get("started", True)),
                )
            )
        elif event == "cancelled":
            if self._in_flight.get(trial_id) == attempt:
                self._requeue(trial_id)
        elif event == "resume":
            self._requeue_in_flight()
        else:
            return 0  # decided, interrupted, end: consequences of facts already replayed
        return 1

    def _requeue(self, trial_id: int) -> None:
        del self._in_flight[trial_id]
        trial = self.trials[trial_id]
        trial.attempt += 1
        trial.status = TrialStatus.PENDING
        self._retry.append(trial_id)

    def _requeue_in_flight(self) -> None:
        for trial_id in list(self._in_flight):
            self._requeue(trial_id)

    # ------------------------------------------------------------------ views

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def count(self, status: TrialStatus) -> int:
        return sum(1 for t in self.trials.values() if t.status is status)
