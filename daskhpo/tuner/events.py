"""How the state answers each backend event about an attempt (a part of ``TunerState``).

:class:`AttemptEvents` is the half of :class:`~daskhpo.tuner.state.TunerState` that handles
``Started``, ``Reported``, ``Finished`` and ``Lost``: it updates the trial, tells the scheduler
and searcher, keeps the best trial and appends the commands (a ``Record`` for each fact, a
``Stop`` for a scheduler's STOP or PAUSE, a ``Continue`` for a milestone report the scheduler
let pass: the attempt waits for one or the other there) to the state's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daskhpo import records as rec
from daskhpo.backend import Event, Finished, Lost, Outcome, Reported, Started
from daskhpo.milestones import MilestoneTracker
from daskhpo.schedulers.base import Scheduler
from daskhpo.trial import Decision, Trial, TrialStatus
from daskhpo.tuner.capacity import Pacing
from daskhpo.tuner.commands import Command, Continue, Record, Stop
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
    _trackers: dict[int, MilestoneTracker]  # trial -> milestones of the attempt in flight
    _out: list[Command]

    def _dispatch(self, event: Event) -> None:
        self._dispatch_all((event,))

    def _dispatch_all(self, events: Sequence[Event]) -> None:
        """Hand each event to its handler, in order (this runs for every event: the loop
        and the dispatch on the exact type are inlined)."""
        in_flight, trials = self._in_flight, self.trials
        on_finished, on_started, on_reported = (
            self._on_finished,
            self._on_started,
            self._on_reported,
        )
        for event in events:
            if in_flight.get(event.trial_id) != event.attempt:
                continue  # a stale event of an attempt that already ended or was cancelled
            trial = trials[event.trial_id]
            kind = type(event)
            if kind is Finished:
                on_finished(trial, event)  # type: ignore[arg-type]
            elif kind is Started:
                on_started(trial, event)  # type: ignore[arg-type]
            elif kind is Reported:
                on_reported(trial, event.time, event.step, event.metrics)  # type: ignore[union-attr]
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

    def _on_reported(
        self, trial: Trial, time: float, step: float, metrics: dict[str, Any], live: bool = True
    ) -> None:
        """One report; ``live``: the attempt may be waiting for its verdict (not a report that
        travelled with the attempt's end)."""
        self._seen_reports[trial.trial_id] += 1
        tracker = self._trackers.get(trial.trial_id) if live else None
        # The worker runs the same tracker over the same reports: it waits here.
        at_milestone = tracker is not None and tracker.crossed(step)
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
            return  # already told to stop (that is its verdict); it has not noticed yet
        decision = self.scheduler.on_trial_report(trial, step, metrics, time)
        if decision is Decision.CONTINUE:
            if at_milestone and not (trial.budget is not None and step >= trial.budget):
                self._out.append(Continue(trial.trial_id, trial.attempt, step))
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
                self._on_reported(trial, time, step, metrics, live=False)
        if event.worker is not None:
            trial.worker = event.worker
        del self._in_flight[trial.trial_id]
        self._trackers.pop(trial.trial_id, None)
        if event.verdict_waits or event.verdict_timeouts:
            self.stats.verdict_waits += event.verdict_waits
            self.stats.verdict_timeouts += event.verdict_timeouts
            trial.verdict_timeouts += event.verdict_timeouts
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
                            verdict_timeouts=event.verdict_timeouts,
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
                        verdict_timeouts=event.verdict_timeouts,
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
        self._trackers.pop(trial.trial_id, None)
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
        """Keep the best trial (``Trial.metric_value``, inlined: it runs for every result)."""
        value = trial.last_metrics.get(self.metric)
        if value is None:
            return
        value = float(value)
        if value != value:  # NaN: no value
            return
        best = self.best_value
        if best is None or (value < best if self.mode == "min" else value > best):
            self.best_value = value
            self.best_trial_id = trial.trial_id
