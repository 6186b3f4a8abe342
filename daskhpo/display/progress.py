"""Live progress while a search runs: counts by status, best so far, elapsed time.

In a terminal, one line redrawn in place (rich) on standard error; in Jupyter, a table that
updates in place (an IPython display handle, so the final state stays in the saved notebook
and no widget extension is needed). Nothing is shown when the output is neither, unless asked
for with ``progress=True``; ``progress=False`` shows nothing anywhere.
"""

from __future__ import annotations

import heapq
import html
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from daskhpo.trial import TrialStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from daskhpo.tuner import Tuner

#: How many of the best trials the Jupyter table lists.
TOP_TRIALS = 5
#: How many hyperparameters the Jupyter table shows per trial (the first ones of the space).
MAX_PARAMS = 6


@dataclass(frozen=True)
class Leader:
    """One of the best trials so far, for the live table."""

    trial_id: int
    status: str
    step: float | None
    value: float
    config: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """The state of a search at one moment, as the progress displays show it."""

    metric: str
    mode: str
    created: int
    total: int | None
    queued: int  # submitted, not yet seen running
    running: int
    completed: int
    stopped: int
    paused: int
    failed: int
    resubmitted: int  # attempts resubmitted after a lost worker
    retried: int  # attempts retried after the objective raised
    best_value: float | None
    best_trial_id: int | None
    elapsed: float
    #: Whether the best value is a completed trial's result (as ``Result.best_value``) rather
    #: than an intermediate report (shown until a trial completes).
    best_is_final: bool = True
    leaders: tuple[Leader, ...] = ()
    param_names: tuple[str, ...] = ()


def snapshot(tuner: Tuner, elapsed: float, top: int = TOP_TRIALS) -> Snapshot:
    """Read the counts, the best value and the ``top`` best trials off a running Tuner."""
    sign = 1.0 if tuner.mode == "min" else -1.0
    running = 0
    ranked: list[tuple[float, int]] = []
    final: tuple[float, int] | None = None  # the best completed trial, as Result counts it
    for trial in tuner.trials.values():
        if trial.status is TrialStatus.RUNNING:
            running += 1
        value = trial.metric_value(tuner.metric)
        if value is None:
            continue
        ranked.append((sign * value, trial.trial_id))
        if trial.status is TrialStatus.COMPLETED and (final is None or sign * value < final[0]):
            final = (sign * value, trial.trial_id)
    leaders = tuple(
        Leader(
            trial_id=tid,
            status=tuner.trials[tid].status.value,
            step=tuner.trials[tid].last_step,
            value=sign * key,
            config=dict(tuner.trials[tid].config),
        )
        for key, tid in heapq.nsmallest(top, ranked)
    )
    names = tuple(n for n in tuner.space.names if n in tuner.space.domains)[:MAX_PARAMS]
    s = tuner.stats
    return Snapshot(
        metric=tuner.metric,
        mode=tuner.mode,
        created=s.created,
        total=tuner.num_trials,
        queued=max(tuner.in_flight - running, 0),
        running=running,
        completed=s.completed,
        stopped=s.stopped,
        paused=s.paused,
        failed=s.failed,
        resubmitted=s.resubmitted,
        retried=s.user_retries,
        best_value=tuner.best_value if final is None else sign * final[0],
        best_trial_id=tuner.best_trial_id if final is None else final[1],
        best_is_final=final is not None,
        elapsed=elapsed,
        leaders=leaders,
        param_names=names,
    )


def format_elapsed(seconds: float) -> str:
    """``12.3s`` under a minute, else ``m:ss`` or ``h:mm:ss``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _counts(snap: Snapshot) -> list[tuple[str, str]]:
    """(label, value) pairs in display order; zero counts of rare events are left out."""
    total = "?" if snap.total is None else str(snap.total)
    pairs = [
        ("trials", f"{snap.created}/{total}"),
        ("running", str(snap.running)),
        ("queued", str(snap.queued)),
        ("completed", str(snap.completed)),
    ]
    for label, count in (
        ("stopped", snap.stopped),
        ("paused", snap.paused),
        ("failed", snap.failed),
        ("resubmitted", snap.resubmitted),
        ("retried", snap.retried),
    ):
        if count:
            pairs.append((label, str(count)))
    return pairs


def _best(snap: Snapshot) -> str:
    if snap.best_value is None:
        return "-"
    where = f"trial {snap.best_trial_id}" + ("" if snap.best_is_final else ", intermediate")
    return f"{_number(snap.best_value)} ({where})"


def summary_line(snap: Snapshot) -> str:
    """One line for a terminal: counts, best so far, elapsed."""
    parts = [f"{label} {value}" for label, value in _counts(snap)]
    parts.append(f"best {snap.metric}={_best(snap)}")
    parts.append(format_elapsed(snap.elapsed))
    return " | ".join(parts)


def summary_html(snap: Snapshot) -> str:
    """An HTML table for Jupyter: the counts, best so far and elapsed, then the best trials."""
    e = html.escape
    counts = [*_counts(snap), (f"best {snap.metric} ({snap.mode})", _best(snap))]
    counts.append(("elapsed", format_elapsed(snap.elapsed)))
    head = "".join(f"<th>{e(label)}</th>" for label, _ in counts)
    row = "".join(f"<td>{e(value)}</td>" for _, value in counts)
    parts = [
        '<div class="daskhpo-progress">',
        f"<table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>",
    ]
    if snap.leaders:
        cols = ["trial", "status", "step", snap.metric, *snap.param_names]
        head = "".join(f"<th>{e(c)}</th>" for c in cols)
        body = []
        for leader in snap.leaders:
            cells = [
                str(leader.trial_id),
                leader.status,
                "-" if leader.step is None else _number(leader.step),
                _number(leader.value),
                *(_number(leader.config.get(n, "")) for n in snap.param_names),
            ]
            body.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        parts.append(
            f"<table><caption>best trials so far</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    parts.append("</div>")
    return "".join(parts)


class _Throttle:
    """Lets a redraw through at most once per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -math.inf

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True


class LiveProgress:
    """Tuner callback: a summary line redrawn in place in a terminal (rich, imported only when
    a terminal shows progress)."""

    def __init__(self, console: Console | None = None, refresh_per_second: float = 4.0) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._throttle = _Throttle(1.0 / refresh_per_second)
        self._live: Live | None = None
        self._t0 = time.monotonic()

    def _render(self, tuner: Tuner) -> Text:
        from rich.text import Text

        return Text(summary_line(snapshot(tuner, time.monotonic() - self._t0, top=0)))

    def on_step(self, tuner: Tuner) -> None:
        if not self._throttle.ready():
            return
        if self._live is None:
            from rich.live import Live

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


class _Handle(Protocol):
    def update(self, obj: Any, **kwargs: Any) -> None: ...


class NotebookProgress:
    """Tuner callback: a table in the notebook's output, updated in place.

    The first refresh displays it with a display id; later refreshes replace that output
    (``DisplayHandle.update``), so a search leaves one table, showing its final state.
    """

    def __init__(self, refresh_per_second: float = 2.0) -> None:
        self._throttle = _Throttle(1.0 / refresh_per_second)
        self._handle: _Handle | None = None
        self._t0 = time.monotonic()

    def _bundle(self, tuner: Tuner) -> dict[str, str]:
        snap = snapshot(tuner, time.monotonic() - self._t0)
        return {"text/html": summary_html(snap), "text/plain": summary_line(snap)}

    def _show(self, tuner: Tuner) -> None:
        from IPython import display as ipython_display

        display: Callable[..., Any] = ipython_display.display
        bundle = self._bundle(tuner)
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def on_step(self, tuner: Tuner) -> None:
        if self._throttle.ready():
            self._show(tuner)

    def on_end(self, tuner: Tuner) -> None:
        self._show(tuner)


def in_notebook() -> bool:
    """Whether code runs in a Jupyter kernel (not a terminal IPython)."""
    module = sys.modules.get("IPython")
    get = getattr(module, "get_ipython", None) if module is not None else None
    shell = get() if callable(get) else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_progress(progress: bool | None, **_: Any) -> LiveProgress | NotebookProgress | None:
    """The display for ``progress``: None decides by the output (Jupyter, a terminal, or
    nothing when standard error is not a terminal), True always shows, False never."""
    if progress is False:
        return None
    if in_notebook():
        return NotebookProgress()
    if progress or sys.stderr.isatty():
        return LiveProgress()
    return None
