"""The search as a state machine: events in, commands out (sans-IO).

:class:`TunerState` holds the trials, feeds the searcher and scheduler, keeps the best trial,
the counters and the stop criteria. It never calls a backend, never writes a journal and never
reads a clock: the time and the capacity are arguments, and every answer is a list of
:mod:`~daskhpo.tuner.commands` for the loop (:class:`~daskhpo.tuner.loop.Tuner`) to execute.
The :class:`~daskhpo.tuner.commands.Record` that justifies a backend command always comes
before it. Tests of the state assert these lists, with no backend at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from daskhpo import records as rec
from daskhpo.backend import AttemptSpec, Event
from daskhpo.milestones import NO_MILESTONES, MilestoneTracker
from daskhpo.schedulers.base import Scheduler
from daskhpo.searchers.base import Searcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace
from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus, better
from daskhpo.tuner.capacity import Pacing
from daskhpo.tuner.commands import Cancel, Command, Record, Submit
from daskhpo.tuner.stats import ReportRecord, TunerStats, seeded_generators
from daskhpo.tuner.timeouts import AttemptTimeouts


class TunerState(AttemptTimeouts):
    """One search's state; see the module docstring.

    ``journaling=False`` skips building :class:`Record` commands (nobody keeps them: the
    simulator's speed depends on it); ``verdicts=False`` skips :class:`Continue` commands (a
    backend whose attempts do not wait at milestones). ``track_durations`` keeps the
    durations of attempts that ran to their end, for :meth:`expected_duration` (only a
    backend that knows its workers' lifetimes asks).
    """

    def __init__(
        self,
        *,
        settings: TuneSettings,
        space: SearchSpace,
        scheduler: Scheduler,
        searcher: Searcher,
        journaling: bool = True,
        verdicts: bool = True,
        track_durations: bool = False,
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> None:
        self.settings = settings
        self.space = space
        self.scheduler = scheduler
        self.searcher = searcher
        self.metric = settings.metric
        self.mode = settings.mode
        self.num_trials = settings.num_trials
        self.resources = dict(settings.resources)
        self.max_retries = settings.max_retries
        self.max_worker_losses = settings.max_worker_losses
        self.journaling = journaling
        self.verdicts = verdicts
        #: Attempts wait at milestones only with a verdict timeout (0: never wait).
        self.wait_at_milestones = settings.verdict_timeout > 0
        self.pacing = Pacing(
            trial_walltime=settings.trial_walltime, track_durations=track_durations
        )

        searcher_rng, scheduler_rng = rngs or seeded_generators(settings.seed, 2)
        searcher.setup(space, metric=self.metric, mode=self.mode, rng=searcher_rng)
        scheduler.setup(searcher=searcher, metric=self.metric, mode=self.mode, rng=scheduler_rng)

        self.trials: dict[int, Trial] = {}
        self.reports: list[ReportRecord] = []
        self.stats = TunerStats()
        self.best_trial_id: int | None = None
        self.best_value: float | None = None
        self.stop_reason: str | None = None
        self.interrupted = False
        self.closing = False  # a stop criterion held: nothing new is submitted
        self.started_at = 0.0  # the time budget counts from here (each resume anew)
        self._in_flight: dict[int, int] = {}  # trial_id -> attempt running or queued
        self._retry: list[int] = []  # trial ids waiting to be resubmitted, in order
        self._decided: dict[int, Decision] = {}  # STOP/PAUSE sent to a running attempt
        self._seen_reports: dict[int, int] = {}  # reports processed for the current attempt
        self._attempt_started: dict[int, float] = {}
        self._deadlines: dict[int, tuple[int, float, int]] = {}  # trial_timeout (timeouts)
        self._trackers: dict[int, MilestoneTracker] = {}
        self._next_id = 0
        self._out: list[Command] = []
        self._queue_depth = settings.queue_depth  # read at every fill: kept at hand
        self._max_concurrent = settings.max_concurrent
        # (capacity, in flight, completions) at which the last fill found every slot taken
        self._slots_taken_at: tuple[int, int, int] | None = None

    # ------------------------------------------------------------------ views

    @property
    def in_flight(self) -> int:
        """Attempts submitted and not yet ended."""
        return len(self._in_flight)

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting to be resubmitted."""
        return not self._in_flight and not self._retry

    def count(self, status: TrialStatus) -> int:
        return sum(1 for t in self.trials.values() if t.status is status)

    def expected_duration(self) -> float | None:
        """How long an attempt is expected to run (see :meth:`Pacing.expected_duration`)."""
        return self.pacing.expected_duration()

    def _take(self) -> list[Command]:
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ filling slots

    def begin(self, now: float) -> None:
        """A driver starts (or resumes) running the search at ``now``."""
        self.started_at = now

    def slots_taken(self, capacity: int) -> bool:
        """Whether a :meth:`fill` at ``capacity`` would submit nothing, known without it.

        True while the last fill found every slot taken at this capacity and, since then, no
        attempt has ended (an end frees a slot and may deepen the queue) and none waits to be
        resubmitted. The loop asks before each fill: most events (a start, a report) leave
        every slot taken.
        """
        taken = self._slots_taken_at
        return (
            taken is not None
            and taken[0] == capacity
            and len(self._in_flight) >= taken[1]
            and taken[2] == self.pacing.completions
            and not self._retry
        )

    def fill(self, now: float, capacity: int, *, min_queue_depth: int = 0) -> list[Command]:
        """Submit retries, resumes and new trials until the target number is in flight.

        ``capacity``: attempts the backend can run at once now; ``min_queue_depth``: what the
        backend's runtime wants queued beyond it (:class:`~daskhpo.backend.QueueingBackend`).
        """
        self._slots_taken_at = None
        if self.closing or capacity <= 0:
            return []
        scheduler = self.scheduler
        scheduler.capacity = capacity
        prefers_queue = scheduler.prefers_queue
        depth = self._queue_depth
        if depth is None:
            depth = self.pacing.queue_depth(now, min_queue_depth) if prefers_queue else 0
        target = capacity + depth
        max_concurrent = self._max_concurrent
        if max_concurrent is not None and max_concurrent < target:
            target = max_concurrent
        in_flight = self._in_flight
        retry = self._retry
        # In flight from here on, every slot counts as taken. A queue is topped up in
        # batches (one graph for many trials): taken until half of its depth has started.
        taken = target
        if prefers_queue:
            half = (target - capacity) // 2
            taken = target - (half if half > 1 else 1) + 1
            if not retry and len(in_flight) >= taken:
                self._slots_taken_at = (capacity, taken, self.pacing.completions)
                return []
        while len(in_flight) < target:
            if retry:
                self._submit(self.trials[retry.pop(0)], now)
                continue
            allow_new = self.num_trials is None or self._next_id < self.num_trials
            suggestion = scheduler.suggest(self._next_id, now, allow_new=allow_new)
            if suggestion is None:
                break
            self._apply(suggestion, now)
        else:
            self._slots_taken_at = (capacity, taken, self.pacing.completions)
        return self._take()

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
            if self.journaling:
                self._out.append(
                    Record(
                        rec.Resumed(
                            time=now,
                            trial_id=trial.trial_id,
                            attempt=trial.attempt,
                            config=trial.config,
                            budget=trial.budget,
                            checkpoint_trial_id=trial.checkpoint_trial_id,
                        )
                    )
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
        if self.journaling:
            self._out.append(
                Record(
                    rec.Created(
                        time=now,
                        trial_id=trial.trial_id,
                        config=trial.config,
                        budget=trial.budget,
                        checkpoint_trial_id=trial.checkpoint_trial_id,
                    )
                )
            )
        self._submit(trial, now)

    def _submit(self, trial: Trial, now: float) -> None:
        trial.status = TrialStatus.PENDING
        self._in_flight[trial.trial_id] = trial.attempt
        self._seen_reports[trial.trial_id] = 0
        self._decided.pop(trial.trial_id, None)
        milestones = NO_MILESTONES
        if self.wait_at_milestones:
            milestones = self.scheduler.milestones(trial.trial_id)
        if self.verdicts and milestones:
            self._trackers[trial.trial_id] = milestones.tracker()
        else:
            self._trackers.pop(trial.trial_id, None)
        out = self._out
        if self.journaling:
            out.append(
                Record(rec.Submitted(time=now, trial_id=trial.trial_id, attempt=trial.attempt))
            )
        out.append(
            Submit(
                AttemptSpec(  # positional: one per attempt
                    trial.trial_id,
                    trial.attempt,
                    trial.config,
                    trial.resources,
                    trial.budget,
                    trial.checkpoint_trial_id,
                    milestones,
                )
            )
        )

    # ------------------------------------------------------------------ events

    def handle(self, event: Event, now: float) -> list[Command]:
        """What to do about one backend event (stale events of ended attempts: nothing)."""
        self._dispatch(event)
        return self._take()

    def handle_all(self, events: Sequence[Event], now: float) -> list[Command]:
        """:meth:`handle` for a batch of events, the commands in one list, in order."""
        self._dispatch_all(events)
        return self._take()

    # ------------------------------------------------------------------ stopping

    def wait_timeout(self, now: float) -> float | None:
        """How long the loop may wait for events before the time budget ends, or the next
        attempt's ``trial_timeout`` (:meth:`check_timeouts`)."""
        budget = self.settings.time_budget
        until = None if budget is None else self.started_at + budget
        due = self.next_deadline() if self._deadlines else None
        if due is not None:
            until = due if until is None else min(until, due)
        return None if until is None else max(0.0, until - now)

    def check_stop(self, now: float) -> list[Command]:
        """Close the search if the time budget is spent or the target reached: cancel what
        is in flight. Returns the commands (none while no criterion holds)."""
        settings = self.settings
        if self.closing or (settings.time_budget is None and settings.target is None):
            return []
        reason = None
        if settings.time_budget is not None and now >= self.started_at + settings.time_budget:
            reason = f"time budget of {settings.time_budget:g} s used"
        elif (
            settings.target is not None
            and self.best_value is not None
            and (
                self.best_value == settings.target
                or better(self.best_value, settings.target, self.mode)
            )
        ):
            reason = f"target {self.metric}={settings.target:g} reached"
        if reason is None:
            return []
        self.stop_reason = reason
        self.closing = True
        return self.cancel_all(now)

    def cancel_all(self, now: float) -> list[Command]:
        """Cancel every attempt in flight and drop the resubmissions waiting."""
        for trial_id, attempt in self._in_flight.items():
            self.trials[trial_id].status = TrialStatus.CANCELLED
            if self.journaling:
                self._out.append(
                    Record(rec.Cancelled(time=now, trial_id=trial_id, attempt=attempt))
                )
            self._out.append(Cancel(trial_id, attempt))
        self._in_flight.clear()
        for trial_id in self._retry:
            self.trials[trial_id].status = TrialStatus.CANCELLED
        self._retry.clear()
        return self._take()

    def interrupt(self, now: float) -> list[Command]:
        """The driver was interrupted (Ctrl-C): the search ends."""
        self.interrupted = True
        self.stop_reason = "interrupted"
        return [Record(rec.Interrupted(time=now))] if self.journaling else []

    def end(self, now: float) -> list[Command]:
        """The driver ends the search: cancel what is in flight, record why it ended."""
        out = self.cancel_all(now)
        if self.journaling:
            out.append(Record(rec.End(time=now, reason=self.stop_reason or "error")))
        return out

    # ------------------------------------------------------------------ resume

    def replay(self, records: Iterable[rec.Record]) -> int:
        """Rebuild the search from the records of an earlier run; returns the records used.

        See :func:`daskhpo.tuner.replay.replay`: the records are fed through the same handlers
        as when they happened and the commands are dropped.
        """
        from daskhpo.tuner.replay import replay

        return replay(self, records)

    def _requeue(self, trial_id: int) -> None:
        """An attempt in flight when an earlier driver ended goes again, as a new attempt."""
        del self._in_flight[trial_id]
        trial = self.trials[trial_id]
        trial.attempt += 1
        trial.status = TrialStatus.PENDING
        self._retry.append(trial_id)

    def _requeue_in_flight(self) -> None:
        for trial_id in list(self._in_flight):
            self._requeue(trial_id)
