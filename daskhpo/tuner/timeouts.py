"""``trial_timeout``: how the state ends an attempt that runs too long (a part of ``TunerState``).

An attempt's clock starts with its ``Started`` event. At ``trial_timeout`` seconds the state
asks it to stop at its next report (a ``Stop``, after a ``decided`` record saying TIMEOUT); an
attempt that then ends as stopped is a failure of the trial, "timed out after N s", retried
under ``max_retries`` like any other user failure (journaled as ``failed`` with kind
``timeout``). One still running a grace period later (it never reports: a hung thread, a long
call into native code) is failed the same way and its worker is restarted (a ``Kill``); the
other attempts on that worker come back as lost and are resubmitted, not charged.

Why FAILED and not a status of its own: Ray Tune records an errored trial as ERROR and ends
trials at a time limit as TERMINATED, Optuna knows COMPLETE, PRUNED and FAIL; neither has a
TIMEOUT status, and a retried failure is what FAILED already means. The error text and the
record's kind say it timed out.

Sans-IO like the rest of the state: ``now`` is an argument; the loop calls
:meth:`AttemptTimeouts.check_timeouts` each step and wakes up for :meth:`next_deadline`.
"""

from __future__ import annotations

from dataclasses import replace

from daskhpo import records as rec
from daskhpo.backend import Finished, Outcome, Started
from daskhpo.settings import TuneSettings
from daskhpo.trial import Decision, Trial
from daskhpo.tuner.commands import Command, Kill, Record, Stop
from daskhpo.tuner.events import AttemptEvents

#: Seconds, at least, that an attempt told to stop for its timeout has before its worker is
#: restarted: enough for an objective that reports every few seconds to notice.
TIMEOUT_GRACE_S = 5.0

#: Phases of an attempt with a deadline.
_RUNNING, _TOLD, _STOPPING = 0, 1, 2


def timeout_grace(trial_timeout: float) -> float:
    """The grace period after ``trial_timeout``: 5 s, or a tenth of it if that is longer."""
    return max(TIMEOUT_GRACE_S, 0.1 * trial_timeout)


class AttemptTimeouts(AttemptEvents):
    """Deadlines of running attempts under ``trial_timeout`` (see the module docstring)."""

    settings: TuneSettings
    #: trial_id -> (attempt, when the next step is due, phase)
    _deadlines: dict[int, tuple[int, float, int]]

    def _on_started(self, trial: Trial, event: Started) -> None:
        super()._on_started(trial, event)
        timeout = self.settings.trial_timeout
        if timeout is not None:
            self._deadlines[trial.trial_id] = (trial.attempt, event.time + timeout, _RUNNING)

    def _on_finished(self, trial: Trial, event: Finished) -> None:
        if self._deadlines and event.outcome is Outcome.STOPPED:
            entry = self._deadlines.get(event.trial_id)
            if entry is not None and entry[0] == event.attempt and entry[2] == _TOLD:
                event = replace(event, outcome=Outcome.ERROR, error=self._timed_out_text(False))
        super()._on_finished(trial, event)

    def _failure_kind(self, trial: Trial) -> str:
        entry = self._deadlines.get(trial.trial_id)
        if entry is not None and entry[0] == trial.attempt and entry[2] != _RUNNING:
            return "timeout"
        return "user"

    def _timed_out_text(self, restarted: bool) -> str:
        timeout = self.settings.trial_timeout or 0.0
        if not restarted:
            return f"timed out after {timeout:g} s (trial_timeout); it stopped at its next report"
        return (
            f"timed out after {timeout:g} s (trial_timeout) and did not stop within "
            f"{timeout_grace(timeout):g} s more, so its worker was restarted. Call "
            "daskhpo.report() now and then so that a trial can be stopped cooperatively."
        )

    def next_deadline(self) -> float | None:
        """When the next attempt's timeout or grace ends, if any attempt has one."""
        in_flight = self._in_flight
        due = [d for t, (a, d, _) in self._deadlines.items() if in_flight.get(t) == a]
        return min(due) if due else None

    def check_timeouts(self, now: float) -> list[Command]:
        """Stop the attempts past ``trial_timeout``; fail and kill those past its grace."""
        timeout = self.settings.trial_timeout
        if timeout is None or not self._deadlines:
            return []
        out = self._out
        for trial_id, (attempt, due, phase) in list(self._deadlines.items()):
            if self._in_flight.get(trial_id) != attempt:
                del self._deadlines[trial_id]  # it ended meanwhile
                continue
            if now < due:
                continue
            if phase == _RUNNING:
                told = trial_id not in self._decided  # else a STOP or PAUSE is on its way
                grace_end = now + timeout_grace(timeout)
                self._deadlines[trial_id] = (attempt, grace_end, _TOLD if told else _STOPPING)
                if told:
                    self._decided[trial_id] = Decision.STOP
                    if self.journaling:
                        out.append(
                            Record(
                                rec.Decided(
                                    time=now, trial_id=trial_id, attempt=attempt, decision="TIMEOUT"
                                )
                            )
                        )
                    out.append(Stop(trial_id, attempt, pause=False))
                continue
            failed = Finished(
                trial_id, attempt, now, Outcome.ERROR, error=self._timed_out_text(True)
            )
            super()._dispatch(failed)  # journals the failure (kind timeout) before the kill
            del self._deadlines[trial_id]
            out.append(Kill(trial_id, attempt))
        self._out = []
        return out
