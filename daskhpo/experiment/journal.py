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

from daskhpo import records
from daskhpo.errors import JournalError
from daskhpo.experiment.directory import JOURNAL as JOURNAL_NAME
from daskhpo.records import Record

__all__ = ["JOURNAL_NAME", "Journal", "read_journal", "read_records"]


def encode(record: dict[str, Any]) -> bytes:
    """One journal line from a plain mapping. Non-finite floats become ``null``."""
    return records.encode_mapping(record)


class Journal:
    """Appends records to a journal file (an experiment directory's ``journal_path``).

    ``stream``: write to this binary stream instead of opening ``path`` (an in-memory buffer,
    as :class:`daskhpo.testing.MemoryJournal` does); the journal does not close it.
    """

    def __init__(self, path: Path, *, fsync: bool = False, stream: BinaryIO | None = None) -> None:
        self.path = path
        self._fsync = fsync and stream is None
        self._owns_file = stream is None
        if stream is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            stream = path.open("ab")
        self._file: BinaryIO | None = stream

    def write(self, event: str, /, **fields: Any) -> None:
        """Append one record ``{"event": event, **fields}``.

        Records reach the operating system at :meth:`flush`, which the Tuner calls before it
        sends anything to the cluster, so the journal always holds what an action was based on.
        """
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        self._file.write(encode({"event": event, **fields}))

    def append(self, record: Record) -> None:
        """Append one record (reaches the operating system at :meth:`flush`)."""
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        self._file.write(records.encode(record))

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
            if self._owns_file:
                self._file.close()
            self._file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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


def read_records(path: Path) -> Iterator[Record]:
    """Yield the records of a journal, decoded; a torn last line (the driver died mid-write),
    a garbled line and event types this release does not know are skipped."""
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            try:
                record = records.decode_line(raw)
            except JournalError:
                continue
            if record is not None:
                yield record
