"""``trial_timeout`` in the state machine: deadlines, a cooperative stop, then a kill."""

from __future__ import annotations

import pytest

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.backend import Finished, Outcome, Reported, Started
from daskhpo.settings import TuneSettings
from daskhpo.trial import TrialStatus
from daskhpo.tuner import Record
from daskhpo.tuner.timeouts import TIMEOUT_GRACE_S, timeout_grace
from tests.test_tuner_state import make_state, shape


def _failed(commands: list) -> rec.Failed:
    (failed,) = [c.record for c in commands if isinstance(c, Record) and c.record.event == "failed"]
    return failed


def _started(**settings: object):
    state = make_state(num_trials=1, trial_timeout=10.0, **settings)
    state.fill(0.0, capacity=1)
    state.handle(Started(0, 0, 1.0, "w"), 1.0)
    return state


def test_trial_timeout_is_validated_by_the_settings():
    assert TuneSettings(metric="loss", trial_timeout=2.5).trial_timeout == 2.5
    for bad in (0, -1, float("inf"), "10", True):
        with pytest.raises(dh.errors.SettingsError, match="trial_timeout must be a positive"):
            TuneSettings(metric="loss", trial_timeout=bad)


def test_an_attempt_past_its_timeout_is_told_to_stop_then_fails_as_timed_out():
    state = _started()
    assert state.wait_timeout(5.0) == pytest.approx(6.0)  # the loop wakes up for the deadline
    assert state.check_timeouts(10.9) == []
    assert shape(state.check_timeouts(11.0)) == [("record", "decided", 0, 0), ("stop", 0, 0, False)]
    assert state.check_timeouts(11.5) == []  # told once
    # In a batch of events, as the loop hands them over.
    commands = state.handle_all([Finished(0, 0, 12.0, Outcome.STOPPED)], 12.0)
    failed = _failed(commands)
    assert (failed.kind, failed.retry) == ("timeout", False)
    assert failed.error is not None
    assert failed.error.startswith("timed out after 10 s")
    trial = state.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert trial.user_failures == 1
    assert state.stats.failed == 1
    assert state.idle
    assert state.check_timeouts(100.0) == []


def test_an_attempt_that_does_not_stop_within_the_grace_is_failed_and_killed():
    state = _started()
    state.check_timeouts(11.0)
    grace_end = 11.0 + timeout_grace(10.0)
    assert timeout_grace(10.0) == TIMEOUT_GRACE_S
    assert state.wait_timeout(12.0) == pytest.approx(grace_end - 12.0)
    assert state.check_timeouts(grace_end - 0.01) == []
    commands = state.check_timeouts(grace_end)
    assert shape(commands) == [("record", "failed", 0, 0), ("kill", 0, 0)]
    failed = _failed(commands)
    assert failed.kind == "timeout"
    assert "its worker was restarted" in (failed.error or "")
    assert state.trials[0].status is TrialStatus.FAILED
    assert state.idle
    # The killed attempt's late events are stale.
    assert state.handle(Finished(0, 0, 20.0, Outcome.STOPPED), 20.0) == []


def test_a_timed_out_trial_is_retried_under_max_retries_and_the_retry_has_its_own_clock():
    state = _started(max_retries=1)
    state.check_timeouts(11.0)
    failed = _failed(state.handle(Finished(0, 0, 12.0, Outcome.STOPPED), 12.0))
    assert failed.retry is True
    assert shape(state.fill(12.0, capacity=1))[-1] == ("submit", 0, 1)
    state.handle(Started(0, 1, 13.0, "w"), 13.0)
    assert state.check_timeouts(22.9) == []
    assert shape(state.check_timeouts(23.0))[-1] == ("stop", 0, 1, False)
    state.handle(Finished(0, 1, 24.0, Outcome.STOPPED), 24.0)
    trial = state.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert (trial.attempt, trial.user_failures) == (1, 2)


def test_a_result_that_arrives_after_the_timeout_is_kept():
    state = _started()
    state.check_timeouts(11.0)
    state.handle(Reported(0, 0, 11.5, 3.0, {"loss": 0.5}), 11.5)
    state.handle(Finished(0, 0, 12.0, Outcome.RETURNED, {"loss": 0.25}), 12.0)
    assert state.trials[0].status is TrialStatus.COMPLETED
    assert state.best_value == 0.25


def test_a_scheduler_stop_under_way_keeps_its_outcome_and_gets_the_grace_too():
    state = _started()
    state._decided[0] = dh.Decision.STOP  # the scheduler stopped it at a report
    assert state.check_timeouts(11.0) == []  # no second stop
    state.handle(Finished(0, 0, 12.0, Outcome.STOPPED), 12.0)
    assert state.trials[0].status is TrialStatus.STOPPED
    other = _started()
    other._decided[0] = dh.Decision.STOP
    other.check_timeouts(11.0)
    assert shape(other.check_timeouts(11.0 + TIMEOUT_GRACE_S)) == [
        ("record", "failed", 0, 0),
        ("kill", 0, 0),
    ]


def test_without_trial_timeout_nothing_has_a_deadline():
    state = make_state(num_trials=1)
    state.fill(0.0, capacity=1)
    state.handle(Started(0, 0, 1.0, "w"), 1.0)
    assert state.wait_timeout(1e9) is None
    assert state.check_timeouts(1e9) == []


def test_replaying_a_timed_out_search_rebuilds_the_same_trial():
    state = make_state(num_trials=1, trial_timeout=10.0, max_retries=1)
    log = [c.record for c in state.fill(0.0, capacity=1) if isinstance(c, Record)]
    for commands in (
        state.handle(Started(0, 0, 1.0, "w"), 1.0),
        state.check_timeouts(11.0),
        state.handle(Finished(0, 0, 12.0, Outcome.STOPPED), 12.0),
    ):
        log.extend(c.record for c in commands if isinstance(c, Record))
    assert [r.event for r in log] == ["created", "submitted", "started", "decided", "failed"]
    again = make_state(num_trials=1, trial_timeout=10.0, max_retries=1)
    again.replay(log)
    trial = again.trials[0]
    assert (trial.user_failures, trial.attempt) == (1, 1)
    assert trial.status is TrialStatus.PENDING
    assert shape(again.fill(20.0, capacity=1))[-1] == ("submit", 0, 1)
