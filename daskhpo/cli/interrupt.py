"""Ctrl-C during a search: the first ends it cleanly, a second one ends the process at once.

The first SIGINT prints one line and raises ``KeyboardInterrupt`` in the driver, whose loop
journals the interruption, cancels what runs and closes the cluster. A second SIGINT, while that
is under way, kills this process's children (the workers of a cluster daskhpo started) and
exits with 130 without waiting. The journal stays readable: every record the driver acted on was
flushed before it acted, and a torn last line is ignored by its readers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from daskhpo.cli.output import EXIT_INTERRUPTED


def _kill_children() -> None:
    try:
        import psutil  # a dependency of distributed
    except ImportError:  # pragma: no cover - distributed always brings it
        return
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()


@contextlib.contextmanager
def two_stage_interrupt() -> Iterator[None]:
    """Within the block, Ctrl-C ends the search cleanly; a second Ctrl-C exits at once."""
    interrupted = False

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            sys.stderr.write("quitting now; the journal keeps what was learned\n")
            sys.stderr.flush()
            _kill_children()
            os._exit(EXIT_INTERRUPTED)
        interrupted = True
        sys.stderr.write(
            "\ninterrupted: cancelling the running trials (Ctrl-C again to quit now)\n"
        )
        sys.stderr.flush()
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
