"""How the state answers each backend event about an attempt (a part of ``TunerState``).

:class:`AttemptEvents` is the half of :class:`~daskhpo.tuner.state.TunerState` that handles
``Started``, ``Reported``, ``Finished`` and ``Lost``: it updates the trial, tells the scheduler
and searcher, keeps the best trial and appends the commands (a ``Record`` for each fact, a
``Stop`` for a scheduler's STOP or PAUSE) to the state's output.
"""

from __future__ import annotations

from typing import Any

from daskhpo import records as rec
from daskhpo.backend import Event, Finished, Lost, Outcome, Reported, Started
from daskhpo.schedulers.base import Scheduler
from daskhpo.trial import Decision, Trial, TrialStatus, better
from daskhpo.tuner.capacity import Pacing
from daskhpo.tuner.commands import Command, Record, Stop
from daskhpo.tuner.stats import ReportRecord, TunerStats


class AttemptEvents:
    """Event handlers of :class:`~daskhpo.tuner.state.TunerState` (which sets these fields)."""

    metric: str
    mode: str
    journaling: bool
    closing: bool
    max_retries: int
    max_worker_losses: int
    scheduler: Scheduler
    pacing: Pacing
    trials: dict[int, Trial]
    reports: list[ReportRecord]
    stats: TunerStats
    best_trial_id: int | None
    best_value: float | None
    _in_flight: dict[int, int]
    _retry: list[int]
    _decided: dict[int, Decision]
    _seen_reports: dict[int, int]
    _attempt_started: dict[int, float]
    _out: list[Command]

    def _dispatch(self, event: Event) -> None:
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
        if self.journaling:
            self._out.append(
                Record(
                    rec.Started(
                        time=event.time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        worker=event.worker,
                    )
                )
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
        if self.journaling:
            self._out.append(
                Record(
                    rec.Reported(
                        time=time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        step=step,
                        metrics=metrics,
                    )
                )
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
        if decision is Decision.CONTINUE:
            return
        self._decided[trial.trial_id] = decision
        if self.journaling:
            self._out.append(
                Record(
                    rec.Decided(
                        time=time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        decision=decision.value,
                    )
                )
            )
        pause = decision is Decision.PAUSE
        if not (pause and trial.budget is not None and step >= trial.budget):  # else it pauses
            self._out.append(Stop(trial.trial_id, trial.attempt, pause=pause))

    def _on_finished(self, trial: Trial, event: Finished) -> None:
        # Reports that travelled with the result but were not seen live come first.
        seen = self._seen_reports[trial.trial_id]
        if event.reports and len(event.reports) > seen:
            for time, step, metrics in event.reports[seen:]:
                self._on_reported(trial, time, step, metrics)
        if event.worker is not None:
            trial.worker = event.worker
        del self._in_flight[trial.trial_id]
        self.pacing.count_completion(event.time)
        if event.outcome is Outcome.ERROR:
            self._on_user_failure(trial, event)
            return
        trial.ended_at = event.time
        if event.outcome is Outcome.RETURNED:
            if self.pacing.track_durations:
                started = self._attempt_started.get(trial.trial_id)
                if started is not None:
                    self.pacing.record_duration(event.time - started)
            trial.last_metrics.update(event.metrics)
            trial.status = TrialStatus.COMPLETED
            if self.journaling:
                self._out.append(
                    Record(
                        rec.Completed(
                            time=event.time,
                            trial_id=trial.trial_id,
                            attempt=trial.attempt,
                            metrics=event.metrics,
                            worker=trial.worker,
                        )
                    )
                )
            self.stats.completed += 1
            self._observe(trial)
            self.scheduler.on_trial_complete(trial, event.metrics, event.time)
            return
        paused = event.outcome is Outcome.PAUSED
        trial.status = TrialStatus.PAUSED if paused else TrialStatus.STOPPED
        if self.journaling:
            kind = rec.Paused if paused else rec.Stopped
            self._out.append(
                Record(
                    kind(
                        time=event.time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        worker=trial.worker,
                    )
                )
            )
        if paused:
            self.stats.paused += 1
        else:
            self.stats.stopped += 1
        self.scheduler.on_trial_stopped(trial, event.time)

    def _on_user_failure(self, trial: Trial, event: Finished) -> None:
        trial.user_failures += 1
        trial.error = event.error
        retry = trial.user_failures <= self.max_retries and not self.closing
        if self.journaling:
            self._out.append(
                Record(
                    rec.Failed(
                        time=event.time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        kind=self._failure_kind(trial),
                        error=event.error,
                        retry=retry,
                    )
                )
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

    def _failure_kind(self, trial: Trial) -> str:
        """The ``kind`` of the failure of the trial's current attempt (see ``timeouts``)."""
        return "user"

    def _on_lost(self, trial: Trial, event: Lost) -> None:
        del self._in_flight[trial.trial_id]
        if event.started:
            trial.infra_failures += 1
        give_up = trial.infra_failures > self.max_worker_losses
        if self.journaling:
            self._out.append(
                Record(
                    rec.Lost(
                        time=event.time,
                        trial_id=trial.trial_id,
                        attempt=trial.attempt,
                        reason=event.reason,
                        started=event.started,
                        retry=not give_up,
                    )
                )
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
