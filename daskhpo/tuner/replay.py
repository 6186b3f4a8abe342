"""Resume: the journal's records fed through the state's own handlers, commands dropped.

The records (decoded by :mod:`daskhpo.records`, read with
:func:`daskhpo.experiment.journal.read_records`) are turned back into the suggestions and
backend events they came from, in the order they happened, so searcher and scheduler reach the
state they had (same seed, same decisions). Nothing is submitted and nothing is journaled
again: the commands the handlers answer with are discarded. Attempts that were in flight when
the earlier driver ended are queued again as new attempts: they resume from their checkpoints
and, like a lost worker, this is not charged to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from daskhpo import records as rec
from daskhpo.backend import Finished, Lost, Outcome, Reported, Started
from daskhpo.trial import Suggestion

if TYPE_CHECKING:
    from daskhpo.tuner.state import TunerState


def replay(state: TunerState, records: Iterable[rec.Record]) -> int:
    """Feed ``records`` through ``state`` (see the module docstring); returns records used."""
    used = 0
    for record in records:
        used += _replay_one(state, record)
        state._out.clear()  # the past's commands were executed by the driver that wrote them
    state._requeue_in_flight()
    state.closing = False
    state.stop_reason = None
    return used


def _replay_one(state: TunerState, r: rec.Record) -> int:
    now = r.time
    if isinstance(r, rec.Created):
        suggestion = state.scheduler.suggest(state._next_id, now, allow_new=True)
        if suggestion is None or suggestion.config != r.config:
            suggestion = Suggestion(
                r.config, budget=r.budget, checkpoint_trial_id=r.checkpoint_trial_id
            )
        state._apply(suggestion, now)
    elif isinstance(r, rec.Resumed):
        allow_new = state.num_trials is None or state._next_id < state.num_trials
        suggestion = state.scheduler.suggest(state._next_id, now, allow_new=allow_new)
        if suggestion is None or suggestion.resume_trial_id != r.trial_id:
            suggestion = Suggestion(
                r.config,
                resume_trial_id=r.trial_id,
                budget=r.budget,
                checkpoint_trial_id=r.checkpoint_trial_id,
            )
        state._apply(suggestion, now)
    elif isinstance(r, rec.Submitted):
        if r.trial_id in state._retry:
            state._retry.remove(r.trial_id)
            state._submit(state.trials[r.trial_id], now)
    elif isinstance(r, rec.Started):
        state._dispatch(Started(r.trial_id, r.attempt, now, r.worker or "?"))
    elif isinstance(r, rec.Reported):
        state._dispatch(Reported(r.trial_id, r.attempt, now, r.step, r.metrics or {}))
    elif isinstance(r, rec.Completed):
        state._dispatch(
            Finished(
                r.trial_id,
                r.attempt,
                now,
                Outcome.RETURNED,
                r.metrics or {},
                worker=r.worker,
                verdict_timeouts=r.verdict_timeouts,
            )
        )
    elif isinstance(r, rec.Stopped | rec.Paused):
        outcome = Outcome.PAUSED if isinstance(r, rec.Paused) else Outcome.STOPPED
        state._dispatch(
            Finished(
                r.trial_id,
                r.attempt,
                now,
                outcome,
                worker=r.worker,
                verdict_timeouts=r.verdict_timeouts,
            )
        )
    elif isinstance(r, rec.Failed):
        state._dispatch(Finished(r.trial_id, r.attempt, now, Outcome.ERROR, error=r.error))
    elif isinstance(r, rec.Lost):
        state._dispatch(Lost(r.trial_id, r.attempt, now, r.reason, started=r.started))
    elif isinstance(r, rec.Cancelled):
        if state._in_flight.get(r.trial_id) == r.attempt:
            state._requeue(r.trial_id)
    elif isinstance(r, rec.Resume):
        state._requeue_in_flight()
    else:
        return 0  # header, decided, interrupted, end: consequences of facts already replayed
    return 1
