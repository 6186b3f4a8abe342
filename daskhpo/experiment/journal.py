"""An append-only log of everything the driver learns, one JSON object per line.

Each record is written and flushed before the driver acts on it, so a driver killed at any
moment leaves a log whose complete lines are the truth up to that moment. A torn last line
(killed mid-write, or a disk that filled mid-write) is ignored by :func:`read_records`, and cut
off when the journal is opened again, so the next record starts on a line of its own.

How far a flushed record has got is the ``fsync`` mode (the ``journal_fsync`` setting):

``"off"``
    records reach the operating system at each :meth:`Journal.flush` (once per batch of
    commands the driver acts on); they survive the driver being killed, not a power loss or
    a kernel crash.
``"step"``
    as ``"off"``, and each flush ends with one ``fsync``: what the driver acts on is on the
    disk first.
``"record"``
    every record is written and ``fsync``-ed as it is appended (the most disk operations).

A write that fails (``ENOSPC``, ``EROFS``, ``EIO``) raises :class:`JournalError` naming the
file, the error and what to do; the journal then refuses every further write without touching
the disk again, and closing it writes nothing.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from daskhpo import records
from daskhpo.errors import JournalError
from daskhpo.experiment.directory import JOURNAL as JOURNAL_NAME
from daskhpo.records import Record
from daskhpo.settings import JOURNAL_FSYNC

__all__ = [
    "FSYNC_MODES",
    "JOURNAL_NAME",
    "Journal",
    "journal_error",
    "read_records",
]

#: The values of the ``journal_fsync`` setting (see the module docstring).
FSYNC_MODES = JOURNAL_FSYNC

#: Opens a journal file for appending; tests pass one whose writes fail.
Opener = Callable[[Path], BinaryIO]

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def journal_error(path: Path, exc: OSError) -> JournalError:
    """The error a failed journal write becomes: the file, the error and what to do."""
    code = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = path.parent
    if exc.errno in _NO_SPACE:
        fix = f"free space on the filesystem holding {where}"
    elif exc.errno in _NOT_WRITABLE:
        fix = f"make {where} writable"
    else:
        fix = f"check the disk holding {where}"
    error = JournalError(
        f"cannot write the journal {path}: {reason}{f' ({code})' if code else ''}. The search "
        f"stopped and its trials were cancelled; every record written before is kept. {fix}, "
        f"then continue it with `daskhpo resume {where}` "
        "(or daskhpo.tune(..., experiment_dir=..., resume=True))"
    )
    error.errno = exc.errno
    return error


def _open_append(path: Path) -> BinaryIO:
    return path.open("ab", buffering=0)


def _cut_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a write that died halfway): the next record
    must start a line of its own, or readers would skip it with the torn one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with path.open("rb") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
    os.truncate(path, keep)


def _fsync_directory(path: Path) -> None:
    """Make a newly created file's name durable (its directory entry)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Appends records to a journal file (an experiment directory's ``journal_path``).

    ``fsync``: one of :data:`FSYNC_MODES`. ``stream``: write to this binary stream instead of
    opening ``path`` (an in-memory buffer, as :class:`daskhpo.testing.MemoryJournal` does); the
    journal does not close it and never fsyncs it. ``opener``: how ``path`` is opened for
    appending (tests pass one that fails, see :class:`daskhpo.testing.FailingDisk`).
    """

    def __init__(
        self,
        path: Path,
        *,
        fsync: str = "off",
        stream: BinaryIO | None = None,
        opener: Opener | None = None,
    ) -> None:
        if fsync not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        self.path = path
        self.fsync = fsync if stream is None else "off"
        #: The error that stopped this journal; it refuses every write once set.
        self.failed: JournalError | None = None
        self._pending = bytearray()
        self._owns_file = stream is None
        if stream is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                created = not path.exists()
                _cut_torn_tail(path)
                stream = (opener or _open_append)(path)
                if created and self.fsync != "off":
                    _fsync_directory(path.parent)
            except OSError as exc:
                raise journal_error(path, exc) from exc
        self._file: BinaryIO | None = stream

    def append(self, record: Record) -> None:
        """Append one record. It reaches the operating system at :meth:`flush`, which the
        Tuner calls before it sends anything to the cluster (at once with ``fsync="record"``)."""
        self._add(records.encode(record))

    def _add(self, line: bytes) -> None:
        if self.failed is not None:
            raise self.failed
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        self._pending += line
        if self.fsync == "record":
            self._push(sync=True)

    def flush(self) -> None:
        """Hand the records appended so far to the operating system (and to the disk, with
        ``fsync="step"``); raises :class:`JournalError` if the write fails."""
        if self.failed is not None:
            raise self.failed
        if self._file is None or not self._pending:
            return
        self._push(sync=self.fsync == "step")

    def _push(self, *, sync: bool) -> None:
        file = self._file
        assert file is not None
        data = memoryview(bytes(self._pending))
        self._pending.clear()
        try:
            while data:
                written = file.write(data)
                data = data[len(data) if written is None else written :]
            file.flush()
            if sync:
                os.fsync(file.fileno())
        except OSError as exc:
            self.failed = journal_error(self.path, exc)
            raise self.failed from exc

    def close(self) -> None:
        """Flush and close; after a failed write, close without writing (and without raising)."""
        if self._file is None:
            return
        try:
            if self.failed is None:
                self.flush()
        finally:
            file, self._file = self._file, None
            if self._owns_file:
                try:
                    file.close()
                except OSError as exc:
                    if self.failed is None:
                        raise journal_error(self.path, exc) from exc

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
