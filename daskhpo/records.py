"""The journal's schema: every record type the driver writes, defined once.

A journal is a file of JSON lines, one record each. Every record has an ``event`` (its type)
and a ``time`` (seconds on the driver's clock, counted across resumes). Trial records name
``trial_id`` and, once submitted, the ``attempt``. The first line of a journal written since
version 1 of this schema is a :class:`Header`; journals written before it have none and read as
version 1 (the fields are the same).

:func:`encode` and :func:`decode` are the only code that turns records into bytes and back; the
Tuner writes these classes, and every reader (resume, ``status``, ``report``, the plots, the
simulator's calibration) decodes them here. Decoding ignores fields it does not know and skips
event types it does not know, so an older release reads a newer journal as far as it can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson

from daskhpo.errors import JournalError

#: The schema version this release writes (see :class:`Header`).
JOURNAL_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """First line of a journal: which schema it follows and which release wrote it."""

    event: Literal["journal"] = "journal"
    time: float = 0.0
    version: int = JOURNAL_VERSION
    writer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Created:
    """A new trial with its configuration (``budget``: the level its first attempt may reach)."""

    event: Literal["created"] = "created"
    time: float = 0.0
    trial_id: int
    config: dict[str, Any]
    budget: float | None = None
    checkpoint_trial_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    """A paused trial continued as ``attempt`` (promotion, a PBT step), maybe reconfigured."""

    event: Literal["resumed"] = "resumed"
    time: float = 0.0
    trial_id: int
    attempt: int
    config: dict[str, Any]
    budget: float | None = None
    checkpoint_trial_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """An attempt handed to the backend."""

    event: Literal["submitted"] = "submitted"
    time: float = 0.0
    trial_id: int
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """An attempt began running on ``worker``."""

    event: Literal["started"] = "started"
    time: float = 0.0
    trial_id: int
    attempt: int
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reported:
    """An intermediate report of an attempt at ``step``."""

    event: Literal["reported"] = "reported"
    time: float = 0.0
    trial_id: int
    attempt: int
    step: float
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    """A scheduler's STOP or PAUSE for a running attempt, or TIMEOUT (``trial_timeout``); its
    consequence is journaled later."""

    event: Literal["decided"] = "decided"
    time: float = 0.0
    trial_id: int
    attempt: int
    decision: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed:
    """An attempt returned its final ``metrics``: the trial is COMPLETED."""

    event: Literal["completed"] = "completed"
    time: float = 0.0
    trial_id: int
    attempt: int
    metrics: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None
    verdict_timeouts: int = 0  # milestone waits that went on without a verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopped:
    """An attempt ended after a STOP: the trial is STOPPED."""

    event: Literal["stopped"] = "stopped"
    time: float = 0.0
    trial_id: int
    attempt: int
    worker: str | None = None
    verdict_timeouts: int = 0  # milestone waits that went on without a verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Paused:
    """An attempt ended after a PAUSE, leaving a checkpoint: the trial is PAUSED."""

    event: Literal["paused"] = "paused"
    time: float = 0.0
    trial_id: int
    attempt: int
    worker: str | None = None
    verdict_timeouts: int = 0  # milestone waits that went on without a verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """The objective raised or returned something unusable (a user failure)."""

    event: Literal["failed"] = "failed"
    time: float = 0.0
    trial_id: int
    attempt: int
    kind: str = "user"
    error: str | None = None
    retry: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Lost:
    """An attempt was lost with its worker (not charged); ``started``: it had begun running."""

    event: Literal["lost"] = "lost"
    time: float = 0.0
    trial_id: int
    attempt: int
    reason: str = ""
    started: bool = True
    retry: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancelled:
    """The search ended (budget, target, Ctrl-C) while this attempt was queued or running."""

    event: Literal["cancelled"] = "cancelled"
    time: float = 0.0
    trial_id: int
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupted:
    """The driver was interrupted (Ctrl-C)."""

    event: Literal["interrupted"] = "interrupted"
    time: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    """The driver ended the search, for ``reason``; a later record means it was resumed."""

    event: Literal["end"] = "end"
    time: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    """A driver continued the search after replaying ``replayed`` records."""

    event: Literal["resume"] = "resume"
    time: float = 0.0
    replayed: int = 0


Record = (
    Header
    | Created
    | Resumed
    | Submitted
    | Started
    | Reported
    | Decided
    | Completed
    | Stopped
    | Paused
    | Failed
    | Lost
    | Cancelled
    | Interrupted
    | End
    | Resume
)

TrialRecord = (
    Created
    | Resumed
    | Submitted
    | Started
    | Reported
    | Decided
    | Completed
    | Stopped
    | Paused
    | Failed
    | Lost
    | Cancelled
)

_TYPES: tuple[type[Any], ...] = (
    Header,
    Created,
    Resumed,
    Submitted,
    Started,
    Reported,
    Decided,
    Completed,
    Stopped,
    Paused,
    Failed,
    Lost,
    Cancelled,
    Interrupted,
    End,
    Resume,
)
#: event name -> (record class, the names of its fields other than ``event``)
_BY_EVENT: dict[str, tuple[type[Any], frozenset[str]]] = {
    str(next(f.default for f in fields(cls) if f.name == "event")): (
        cls,
        frozenset(f.name for f in fields(cls) if f.name != "event"),
    )
    for cls in _TYPES
}

#: orjson options: numpy values as numbers and arrays, dict keys made strings, one line each.
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _fallback(value: Any) -> Any:
    """Values orjson does not know: scalars with ``.item()`` (a one-element torch tensor, say)
    as numbers, anything else (paths, objects) as text."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def encode(record: Record) -> bytes:
    """One journal line, ``event`` first. Non-finite floats become ``null`` (JSON has no NaN)."""
    return orjson.dumps(record, default=_fallback, option=_OPTIONS)


def decode(data: Mapping[str, Any]) -> Record | None:
    """The record a decoded JSON object holds; None for an event type this release does not
    know. Raises :class:`JournalError` for an object that is not a valid record."""
    entry = _BY_EVENT.get(data.get("event"))  # type: ignore[arg-type]
    if entry is None:
        return None
    cls, names = entry
    try:
        record: Record = cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise JournalError(f"not a valid {data.get('event')!r} record: {dict(data)!r}") from exc
    return record


def decode_line(line: bytes) -> Record | None:
    """Decode one journal line (see :func:`decode`); a line that is not JSON raises
    :class:`JournalError`."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise JournalError(f"not a JSON line: {line[:200]!r}") from exc
    if not isinstance(data, dict):
        raise JournalError(f"not a JSON object: {line[:200]!r}")
    return decode(data)
