"""An append-only log of everything the driver learns, one JSON object per line.

Each record is written and flushed before the driver acts on it, so a driver killed at any
moment leaves a log whose complete lines are the truth up to that moment. A torn last line
(killed mid-write) is ignored by :func:`read_journal`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

JOURNAL_NAME = "journal.jsonl"


def _jsonable(value: Any) -> Any:
    """Make metric and config values JSON-safe (numpy scalars, NaN, tuples, paths)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    return str(value)


class Journal:
    """Appends records to ``<experiment_dir>/journal.jsonl``."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, event: str, /, **fields: Any) -> None:
        """Append one record ``{"event": event, **fields}``.

        Records reach the operating system at :meth:`flush`, which the Tuner calls before it
        sends anything to the cluster, so the journal always holds what an action was based on.
        """
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        record = {"event": event, **_jsonable(fields)}
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

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
                record = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and "event" in record:
                yield record
