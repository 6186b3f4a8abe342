"""A live progress line while a search runs: counts by status, best so far, elapsed time.

Shown in a terminal and in Jupyter (rich renders both, updating in place); silent when output
is not interactive, unless asked for.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from daskhpo.tuner import Tuner


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def summary_line(tuner: Tuner, elapsed: float) -> str:
    """One line describing the search right now."""
    s = tuner.stats
    best = "-" if tuner.best_value is None else f"{tuner.best_value:.6g}"
    total = "?" if tuner.num_trials is None else str(tuner.num_trials)
    running = tuner.in_flight
    parts = [
        f"trials {s.created}/{total}",
        f"in flight {running}",
        f"completed {s.completed}",
    ]
    if s.stopped:
        parts.append(f"stopped {s.stopped}")
    if s.paused:
        parts.append(f"paused {s.paused}")
    if s.failed:
        parts.append(f"failed {s.failed}")
    if s.resubmitted:
        parts.append(f"resubmitted {s.resubmitted}")
    if s.user_retries:
        parts.append(f"retried {s.user_retries}")
    parts.append(f"best {tuner.metric}={best}")
    parts.append(f"{elapsed:.1f}s")
    return " | ".join(parts)


class LiveProgress:
    """Tuner callback that redraws a summary at most ``refresh_per_second`` times a second."""

    def __init__(self, console: Console | None = None, refresh_per_second: float = 4.0) -> None:
        self.console = console or Console(stderr=True)
        self._interval = 1.0 / refresh_per_second
        self._live: Live | None = None
        self._t0 = time.monotonic()
        self._last = -1.0

    def _render(self, tuner: Tuner) -> Text:
        return Text(summary_line(tuner, time.monotonic() - self._t0))

    def on_step(self, tuner: Tuner) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        if self._live is None:
            self._live = Live(
                self._render(tuner), console=self.console, auto_refresh=False, transient=False
            )
            self._live.start()
        self._live.update(self._render(tuner), refresh=True)

    def on_end(self, tuner: Tuner) -> None:
        if self._live is None:
            self.console.print(self._render(tuner))
            return
        self._live.update(self._render(tuner), refresh=True)
        self._live.stop()
        self._live = None


def make_progress(progress: bool | None, **_: Any) -> LiveProgress | None:
    """A progress display if asked for, or (``None``) if the output is interactive."""
    if progress is None:
        progress = sys.stderr.isatty() or _in_notebook()
    return LiveProgress() if progress else None
