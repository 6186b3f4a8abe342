"""An append-only log of everything the driver learns, one JSON object per line.

Each record is written and flushed before the driver acts on it, so a driver killed at any
moment leaves a log whose complete lines are the truth up to that moment. A torn last line
(killed mid-write) is ignored by :func:`read_journal`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

JOURNAL_NAME = "journal.jsonl"


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


def encode(record: dict[str, Any]) -> bytes:
    """One journal line. Non-finite floats become ``null`` (JSON has no NaN)."""
    return orjson.dumps(record, default=_fallback, option=_OPTIONS)


class Journal:
    """Appends records to ``<experiment_dir>/journal.jsonl``."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = path.open("ab")

    def write(self, event: str, /, **fields: Any) -> None:
        """Append one record ``{"event": event, **fields}``.

        Records reach the operating system at :meth:`flush`, which the Tuner calls before it
        sends anything to the cluster, so the journal always holds what an action was based on.
        """
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        self._file.write(encode({"event": event, **fields}))

    def flush(self) -> None:
        """Hand the records written so far to the operating system (and the disk, with fsync)."""
        if self._file is None:
            return
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


class NullJournal(Journal):
    """A journal that keeps nothing (a search without an experiment directory)."""

    def __init__(self) -> None:
        self.path = Path(os.devnull)
        self._fsync = False
        self._file = None

    def write(self, event: str, /, **fields: Any) -> None:
        return None

    def flush(self) -> None:
        return None


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a journal, skipping a torn or garbled line."""
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # torn last line: the driver died mid-write
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and "event" in record:
                yield record
