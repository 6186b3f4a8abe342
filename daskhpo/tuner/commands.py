"""What :class:`~daskhpo.tuner.state.TunerState` asks its loop to do: the commands.

The state never writes a journal or calls a backend; it answers each event with a list of
these commands, and the loop executes them in order: every :class:`Record` is appended to the
journal, the journal is flushed, and only then do :class:`Submit`, :class:`Stop`,
:class:`Continue`, :class:`Cancel` and :class:`Kill` reach the backend. The state emits the
:class:`Record` that justifies a backend command before the command itself, so "journaled
before acted on" holds by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from daskhpo import records
from daskhpo.backend import AttemptSpec


@dataclass(frozen=True, slots=True)
class Record:
    """Append ``record`` (one of :mod:`daskhpo.records`' types) to the journal."""

    record: records.Record


@dataclass(frozen=True, slots=True)
class Submit:
    """Hand one attempt to the backend."""

    spec: AttemptSpec


@dataclass(frozen=True, slots=True)
class Stop:
    """Ask a running attempt to end at its next report (``pause``: leave a checkpoint)."""

    trial_id: int
    attempt: int
    pause: bool


@dataclass(frozen=True, slots=True)
class Continue:
    """Tell an attempt waiting at its milestone report ``step`` that it goes on.

    Sent only for milestone reports (``daskhpo.milestones``) that the scheduler let pass; a
    STOP or PAUSE at a milestone is a :class:`Stop` as anywhere else.
    """

    trial_id: int
    attempt: int
    step: float


@dataclass(frozen=True, slots=True)
class Cancel:
    """Drop a queued or running attempt; no further event of it is expected."""

    trial_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Kill:
    """End a running attempt that did not stop when told (``trial_timeout``): restart its
    worker if the backend can (else cancel it); no further event of it is expected."""

    trial_id: int
    attempt: int


Command = Record | Submit | Stop | Continue | Cancel | Kill
