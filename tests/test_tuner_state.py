"""TunerState without any backend: the commands it answers events with, in order."""

from __future__ import annotations

from typing import Any

import pytest

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.backend import Finished, LifetimeAwareBackend, Lost, Outcome, Reported, Started
from daskhpo.searchers.random import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.testing import MemoryJournal, SteppedBackend
from daskhpo.trial import TrialStatus
from daskhpo.tuner import (
    Cancel,
    Command,
    Continue,
    Kill,
    Record,
    Stop,
    Submit,
    Tuner,
    TunerState,
)
from tests.sched_objectives import ranked_curve

SPACE = dh.SearchSpace({"a": dh.uniform(0.0, 1.0)})


def make_state(scheduler: Any = None, *, journaling: bool = True, **settings: Any) -> TunerState:
    options: dict[str, Any] = {"metric": "loss", "num_trials": 3, "seed": 0, **settings}
    return TunerState(
        settings=TuneSettings(**options),
        space=SPACE,
        scheduler=scheduler or dh.FIFOScheduler(),
        searcher=RandomSearcher(),
        journaling=journaling,
    )


def shape(commands: list[Command]) -> list[tuple[Any, ...]]:
    """Commands as comparable tuples: (kind, record event or spec, trial, attempt, ...)."""
    out: list[tuple[Any, ...]] = []
    for c in commands:
        if isinstance(c, Record):
            r = c.record
            out.append(
                ("record", r.event, getattr(r, "trial_id", None), getattr(r, "attempt", None))
            )
        elif isinstance(c, Submit):
            out.append(("submit", c.spec.trial_id, c.spec.attempt))
        elif isinstance(c, Stop):
            out.append(("stop", c.trial_id, c.attempt, c.pause))
        elif isinstance(c, Continue):
            out.append(("continue", c.trial_id, c.attempt, c.step))
        elif isinstance(c, Kill):
            out.append(("kill", c.trial_id, c.attempt))
        else:
            out.append(("cancel", c.trial_id, c.attempt))
    return out


def test_fill_creates_and_submits_each_trial_with_its_records_first():
    state = make_state(num_trials=2)
    commands = state.fill(0.0, capacity=4)
    assert shape(commands) == [
        ("record", "created", 0, None),
        ("record", "submitted", 0, 0),
        ("submit", 0, 0),
        ("record", "created", 1, None),
        ("record", "submitted", 1, 0),
        ("submit", 1, 0),
    ]
    created = commands[0].record  # type: ignore[union-attr]
    assert isinstance(created, rec.Created)
    assert created.config == commands[2].spec.config == state.trials[0].config  # type: ignore[union-attr]
    assert state.fill(0.0, capacity=4) == []  # num_trials reached: nothing more


def test_without_journaling_only_backend_commands_are_built():
    state = make_state(num_trials=2, journaling=False)
    assert shape(state.fill(0.0, capacity=4)) == [("submit", 0, 0), ("submit", 1, 0)]
    state.handle(Started(0, 0, 1.0, "w"), 1.0)
    assert state.handle(Finished(0, 0, 2.0, Outcome.RETURNED, {"loss": 1.0}), 2.0) == []


def test_fill_keeps_no_queue_for_a_scheduler_that_wants_every_result():
    state = make_state(dh.ASHAScheduler(max_resource=9), num_trials=10)
    assert [c for c in shape(state.fill(0.0, capacity=2)) if c[0] == "submit"] == [
        ("submit", 0, 0),
        ("submit", 1, 0),
    ]


def test_a_report_that_loses_at_an_asha_rung_is_decided_then_stopped():
    state = make_state(dh.ASHAScheduler(max_resource=9, grace_period=1), num_trials=3)
    state.fill(0.0, capacity=3)
    for t in range(3):
        state.handle(Started(t, 0, 0.0, f"w{t}"), 0.0)
    # the first two reach rung 1 among the best third: they continue, with one record each
    # and the verdict that lets the attempt, waiting at its rung, go on
    assert shape(state.handle(Reported(0, 0, 1.0, 1.0, {"loss": 0.1}), 1.0)) == [
        ("record", "reported", 0, 0),
        ("continue", 0, 0, 1.0),
    ]
    state.handle(Reported(1, 0, 1.0, 1.0, {"loss": 0.2}), 1.0)
    commands = state.handle(Reported(2, 0, 1.0, 1.0, {"loss": 0.9}), 1.0)
    assert shape(commands) == [
        ("record", "reported", 2, 0),
        ("record", "decided", 2, 0),
        ("stop", 2, 0, False),
    ]
    assert commands[1].record.decision == "STOP"  # type: ignore[union-attr]
    # a further report of the stopped attempt (it has not noticed yet) is only recorded
    assert shape(state.handle(Reported(2, 0, 1.5, 2.0, {"loss": 0.8}), 1.5)) == [
        ("record", "reported", 2, 0)
    ]
    finished = state.handle(Finished(2, 0, 2.0, Outcome.STOPPED), 2.0)
    assert shape(finished) == [("record", "stopped", 2, 0)]
    assert state.trials[2].status is TrialStatus.STOPPED


def test_a_lost_attempt_is_resubmitted_first_and_not_charged():
    state = make_state(num_trials=5, max_retries=0)
    state.fill(0.0, capacity=1)  # FIFO queues beyond the capacity: all five in flight
    state.handle(Started(0, 0, 0.5, "w"), 0.5)
    commands = state.handle(Lost(0, 0, 1.0, "worker killed"), 1.0)
    assert shape(commands) == [("record", "lost", 0, 0)]
    assert commands[0].record.retry is True  # type: ignore[union-attr]
    assert shape(state.fill(1.0, capacity=1)) == [
        ("record", "submitted", 0, 1),
        ("submit", 0, 1),
    ]
    trial = state.trials[0]
    assert (trial.infra_failures, trial.user_failures) == (1, 0)
    assert state.stats.resubmitted == 1
    state.handle(Started(0, 1, 1.5, "w"), 1.5)
    state.handle(Finished(0, 1, 2.0, Outcome.RETURNED, {"loss": 0.3}), 2.0)
    assert trial.status is TrialStatus.COMPLETED  # max_retries=0 did not stop it


def test_a_lost_attempt_gives_up_after_max_worker_losses():
    state = make_state(num_trials=1, max_worker_losses=1)
    state.fill(0.0, capacity=1)
    for attempt in range(2):
        state.handle(Started(0, attempt, 0.0, "w"), 0.0)
        commands = state.handle(Lost(0, attempt, 1.0, "oom"), 1.0)
        state.fill(1.0, capacity=1)
    assert commands[0].record.retry is False  # type: ignore[union-attr]
    assert state.trials[0].status is TrialStatus.FAILED
    assert "max_worker_losses=1" in (state.trials[0].error or "")


def test_a_user_failure_is_retried_under_max_retries_then_failed():
    state = make_state(num_trials=1, max_retries=1)
    state.fill(0.0, capacity=1)
    state.handle(Started(0, 0, 0.0, "w"), 0.0)
    first = state.handle(Finished(0, 0, 1.0, Outcome.ERROR, error="boom"), 1.0)
    assert shape(first) == [("record", "failed", 0, 0)]
    assert first[0].record.retry is True  # type: ignore[union-attr]
    assert shape(state.fill(1.0, capacity=1)) == [
        ("record", "submitted", 0, 1),
        ("submit", 0, 1),
    ]
    state.handle(Started(0, 1, 1.0, "w"), 1.0)
    second = state.handle(Finished(0, 1, 2.0, Outcome.ERROR, error="boom again"), 2.0)
    assert second[0].record.retry is False  # type: ignore[union-attr]
    trial = state.trials[0]
    assert (trial.status, trial.user_failures, trial.error) == (
        TrialStatus.FAILED,
        2,
        "boom again",
    )
    assert state.fill(2.0, capacity=1) == []
    assert state.idle


def test_stale_events_of_an_ended_attempt_are_ignored():
    state = make_state(num_trials=1)
    state.fill(0.0, capacity=1)
    state.handle(Lost(0, 0, 1.0, "gone", started=False), 1.0)
    assert state.handle(Finished(0, 0, 2.0, Outcome.RETURNED, {"loss": 0.1}), 2.0) == []
    assert state.best_value is None


def test_reaching_the_target_cancels_what_is_in_flight_after_recording_it():
    state = make_state(num_trials=3, target=0.5)
    state.fill(0.0, capacity=3)
    assert state.check_stop(0.0) == []
    state.handle(Finished(1, 0, 1.0, Outcome.RETURNED, {"loss": 0.4}), 1.0)
    commands = state.check_stop(1.0)
    assert shape(commands) == [
        ("record", "cancelled", 0, 0),
        ("cancel", 0, 0),
        ("record", "cancelled", 2, 0),
        ("cancel", 2, 0),
    ]
    assert state.stop_reason == "target loss=0.5 reached"
    assert state.fill(1.0, capacity=3) == []
    assert state.idle
    assert shape(state.end(2.0)) == [("record", "end", None, None)]


def test_the_time_budget_counts_from_begin():
    state = make_state(num_trials=2, time_budget=10.0)
    state.begin(5.0)
    state.fill(5.0, capacity=2)
    assert state.wait_timeout(7.0) == pytest.approx(8.0)
    assert state.check_stop(14.9) == []
    assert [c[0] for c in shape(state.check_stop(15.0))] == ["record", "cancel"] * 2
    assert state.stop_reason == "time budget of 10 s used"


def drive(
    state: TunerState, backend: SteppedBackend, *, until: float, end: bool = True
) -> list[list[Command]]:
    """Run ``state`` on ``backend`` as the Tuner's loop does; returns every command batch."""
    batches: list[list[Command]] = []

    def execute(commands: list[Command]) -> None:
        batches.append(commands)
        for c in commands:
            if isinstance(c, Submit):
                backend.submit(c.spec)
            elif isinstance(c, Stop):
                backend.stop(c.trial_id, c.attempt, pause=c.pause)
            elif isinstance(c, Cancel):
                backend.cancel(c.trial_id, c.attempt)

    while backend.now() < until:
        execute(state.fill(backend.now(), backend.capacity()))
        if state.idle:
            break
        execute(state.handle_all(backend.wait(None), backend.now()))
    if end:
        execute(state.end(backend.now()))
    return batches


def asha_state(num_trials: int = 12) -> TunerState:
    return make_state(dh.ASHAScheduler(max_resource=9, variant="promotion"), num_trials=num_trials)


def test_every_backend_command_comes_after_the_record_that_justifies_it():
    state = make_state(dh.ASHAScheduler(max_resource=9), num_trials=12)
    batches = drive(state, SteppedBackend(ranked_curve, workers=3), until=8.0)
    kinds = {"submit": "submitted", "stop": "decided", "cancel": "cancelled"}
    seen = dict.fromkeys(kinds, 0)
    for batch in batches:
        rows = shape(batch)
        for i, row in enumerate(rows):
            if row[0] in kinds:
                seen[row[0]] += 1
                wanted = ("record", kinds[row[0]], row[1], row[2])
                assert wanted in rows[:i], (row, rows)
    assert all(seen.values()), seen  # each kind of command was checked


def test_replaying_the_journal_reaches_the_same_next_suggestion():
    state = asha_state(num_trials=30)
    batches = drive(state, SteppedBackend(ranked_curve, workers=3), until=6.0, end=False)
    journal = [c.record for batch in batches for c in batch if isinstance(c, Record)]
    assert any(isinstance(r, rec.Paused) for r in journal)
    assert any(isinstance(r, rec.Resumed) for r in journal)
    in_flight = sorted(state._in_flight)
    assert in_flight  # the driver "dies" with attempts in flight

    resumed = asha_state(num_trials=30)
    decided = sum(isinstance(r, rec.Decided) for r in journal)  # consequences, not facts
    assert decided
    assert resumed.replay(journal) == len(journal) - decided
    assert sorted(resumed._retry) == in_flight  # queued again, as new attempts
    assert all(resumed.trials[t].attempt == state.trials[t].attempt + 1 for t in in_flight)
    assert resumed.stats == state.stats
    assert (resumed.best_trial_id, resumed.best_value) == (state.best_trial_id, state.best_value)

    def next_suggestion(s: TunerState) -> Any:
        """The scheduler's next answer (a promotion here) and the searcher's next config."""
        return s.scheduler.suggest(s._next_id, 10.0, allow_new=True), s.searcher.suggest(99)

    expected = next_suggestion(state)
    assert expected[0] is not None
    assert next_suggestion(resumed) == expected
    fresh = asha_state(num_trials=30)
    assert next_suggestion(fresh) != expected  # the comparison tells a state that did not replay


# --------------------------------------------------------------------------- the loop


class RecordProbe:
    """A callback with ``on_record``: sees every record the loop executes."""

    def __init__(self) -> None:
        self.records: list[rec.Record] = []
        self.steps = 0

    def on_record(self, record: rec.Record) -> None:
        self.records.append(record)

    def on_step(self, tuner: Tuner) -> None:
        self.steps += 1

    def on_end(self, tuner: Tuner) -> None:
        pass


def run_tuner(backend: SteppedBackend, **options: Any) -> Tuner:
    return Tuner(
        settings=TuneSettings(metric="loss", num_trials=6, seed=0),
        backend=backend,
        space=SPACE,
        scheduler=dh.ASHAScheduler(max_resource=9),
        searcher=RandomSearcher(),
        **options,
    ).run()


def test_every_journal_record_passes_the_callbacks_on_record_hook():
    journal = MemoryJournal()
    probe = RecordProbe()
    run_tuner(SteppedBackend(ranked_curve, workers=2), journal=journal, callbacks=[probe])
    assert probe.records == journal.records
    assert isinstance(probe.records[-1], rec.End)
    assert probe.steps > 0
    # without a journal the hook still sees the same search
    alone = RecordProbe()
    run_tuner(SteppedBackend(ranked_curve, workers=2), callbacks=[alone])
    assert [type(r) for r in alone.records] == [type(r) for r in probe.records]


class LifetimeBackend(SteppedBackend):
    """A stepped backend whose workers retire: it takes the expected duration."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected_duration: float | None = None
        self.told: list[float | None] = []

    def worker_deadlines(self) -> dict[str, float]:
        self.told.append(self.expected_duration)
        return {"virtual-0": 1e9}


def test_a_backend_that_knows_worker_lifetimes_is_told_the_expected_duration():
    backend = LifetimeBackend(ranked_curve, workers=2, max_epochs=3)
    tuner = Tuner(
        settings=TuneSettings(metric="loss", num_trials=8, seed=0),
        backend=backend,
        space=SPACE,
        scheduler=dh.FIFOScheduler(),
        searcher=RandomSearcher(),
    ).run()
    assert isinstance(backend, LifetimeAwareBackend)
    assert backend.expected_duration == pytest.approx(3.0)  # three epochs of one second
    assert tuner.expected_duration() == backend.expected_duration
    plain = SteppedBackend(ranked_curve)
    assert not isinstance(plain, LifetimeAwareBackend)
