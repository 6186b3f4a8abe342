"""One driver per experiment directory: a lock file that says who holds it.

Two drivers appending to one journal would interleave their records and run trials twice, so a
driver takes ``driver.lock`` before it opens the journal. The lock is a small JSON file (host,
pid, the process's start time, a random token) created with ``O_EXCL``, which is atomic on local
filesystems and on NFS v3 and later, and its modification time is refreshed every
``refresh_s`` seconds by a daemon thread while the driver runs.

A lock is stale, and is taken over, when its holder is gone:

* on this host: its pid no longer runs, or runs another process (start time differs);
* on another host (a shared filesystem): it has not been refreshed for ``stale_after_s``.

Taking over renames the stale file aside (only one of two drivers can rename it) and then
creates a fresh one with ``O_EXCL``, so two drivers that find the same stale lock never both
win.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daskhpo.errors import ExperimentLockedError

__all__ = ["DriverLock", "LockHolder"]


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as written in it."""

    host: str
    pid: int
    process_started: float  # the holder process's start time (seconds since the epoch)
    token: str
    refreshed_ago_s: float  # seconds since the lock file was last touched

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host!r}"


def _process_started(pid: int) -> float | None:
    """The start time of process ``pid``, or None if there is no such process."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return -1.0  # it exists, its start time is not ours to read


class DriverLock:
    """The lock of the experiment directory whose lock file is ``path``."""

    def __init__(self, path: Path, *, refresh_s: float = 10.0, stale_after_s: float = 60.0):
        if stale_after_s <= refresh_s:
            raise ValueError(f"stale_after_s ({stale_after_s}) must exceed refresh_s ({refresh_s})")
        self.path = Path(path)
        self.refresh_s = refresh_s
        self.stale_after_s = stale_after_s
        self.token = secrets.token_hex(8)
        self.took_over: LockHolder | None = None  # the stale holder this lock replaced
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ reading

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, or None if nobody does (or the file is unreadable)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            age = time.time() - self.path.stat().st_mtime
            data: Any = json.loads(text)
            return LockHolder(
                host=str(data["host"]),
                pid=int(data["pid"]),
                process_started=float(data["process_started"]),
                token=str(data["token"]),
                refreshed_ago_s=max(0.0, age),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_stale(self, holder: LockHolder) -> bool:
        """Whether ``holder`` is gone (see the module's docstring)."""
        if holder.host == socket.gethostname():
            started = _process_started(holder.pid)
            if started is None:
                return True
            return started >= 0 and abs(started - holder.process_started) > 1.0
        return holder.refreshed_ago_s > self.stale_after_s

    # ------------------------------------------------------------------ taking it

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ExperimentLockedError` naming its holder."""
        for _ in range(5):
            if self._create():
                self._start_refreshing()
                return
            holder = self.holder()
            if holder is None:
                # Being written by its creator right now, or unreadable: look again shortly,
                # and treat a file that stays unreadable past the staleness limit as stale.
                if self._age() > self.stale_after_s:
                    self._move_aside(None)
                time.sleep(0.05)
                continue
            if not self.is_stale(holder):
                raise ExperimentLockedError(self._refusal(holder))
            if self._move_aside(holder):
                self.took_over = holder
        holder = self.holder()
        raise ExperimentLockedError(
            self._refusal(holder)
            if holder is not None
            else f"could not take {self.path} (another driver took it at the same moment)"
        )

    def release(self) -> None:
        """Stop refreshing and remove the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_s + 1)
            self._thread = None
        holder = self.holder()
        if holder is not None and holder.token == self.token:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ internals

    def _create(self) -> bool:
        """Create the lock file with our record; False if it exists."""
        me = os.getpid()
        record = {
            "host": socket.gethostname(),
            "pid": me,
            "process_started": _process_started(me),
            "token": self.token,
            "created": time.time(),
        }
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(record, file)
        return True

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _move_aside(self, judged: LockHolder | None) -> bool:
        """Rename the stale lock away; False if someone else moved or replaced it first."""
        aside = self.path.with_name(f"{self.path.name}.stale-{self.token}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        moved = DriverLock(aside).holder()
        if judged is not None and (moved is None or moved.token != judged.token):
            # A fresh lock appeared between the check and the rename: put it back.
            with contextlib.suppress(OSError):
                os.rename(aside, self.path)
            return False
        with contextlib.suppress(OSError):
            aside.unlink()
        return True

    def _start_refreshing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._refresh, name="daskhpo-driver-lock", daemon=True
        )
        self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def _refusal(self, holder: LockHolder) -> str:
        directory = str(self.path.parent)
        if holder.host == socket.gethostname():
            how = f"stop it first (kill {holder.pid})"
        else:
            left = max(0.0, self.stale_after_s - holder.refreshed_ago_s)
            how = (
                f"stop it first (kill {holder.pid} on {holder.host}); if that driver is gone, "
                f"its lock expires {left:.0f} s after its last refresh"
            )
        return (
            f"experiment directory {directory!r} is in use by another daskhpo driver "
            f"({holder.describe()}, lock refreshed {holder.refreshed_ago_s:.0f} s ago): wait "
            f"for it to end or {how}"
        )
