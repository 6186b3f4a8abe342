"""The incumbent trajectory: every completed trial's value over wall time, and the best so far.

A few very bad trials (a diverged run at 2000 where the rest sit near 0.2) would stretch a
linear axis until the best-so-far line looks flat, so the axis keeps to where the values are:
it is clipped above the bulk of them (below, when maximising), with a marker at the edge for
each trial beyond it, or log-scaled when the values span decades; the axis label says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from daskhpo.display.figures import axes_for, finish, label_log_axis
from daskhpo.display.run_data import RunData, incumbent, load_run, run_end
from daskhpo.results import Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: A value is an outlier when it lies this many times the spread of the bulk (the best value
#: to the quartile on the far side) beyond the best value...
OUTLIER_SPREADS = 10.0
#: ...or, for positive values, this many times that spread of their logarithms.
LOG_OUTLIER_SPREADS = 4.0
#: At most this share of the values may be outliers; past it, they are the data.
OUTLIER_SHARE = 0.2
#: Positive values spanning more than this ratio are drawn on a log axis.
LOG_RATIO = 100.0


@dataclass(frozen=True)
class ValueAxis:
    """How the value axis is drawn: ``linear``, ``clipped`` to ``limits``, or ``log``."""

    kind: str = "linear"
    limits: tuple[float, float] | None = None
    outliers: int = 0
    note: str = ""  # said on the axis label


def _beyond(v: np.ndarray, mode: str, spreads: float) -> np.ndarray:
    """Which of the sorted values ``v`` lie far beyond the bulk, on the bad side."""
    if mode == "min":
        best, bulk = float(v[0]), float(np.quantile(v, 0.75))
        beyond: np.ndarray = v > best + spreads * (bulk - best)
    else:
        best, bulk = float(v[-1]), float(np.quantile(v, 0.25))
        beyond = v < best - spreads * (best - bulk)
    return beyond


def value_axis(values: Sequence[float], mode: str) -> ValueAxis:
    """The axis for ``values`` (completed trials' values) of a search that optimises ``mode``:
    clipped when a few values lie far beyond the rest, log-scaled when positive values span
    decades (and a log axis holds them all), else linear."""
    v = np.sort(np.asarray([x for x in values if np.isfinite(x)], dtype=float))
    if len(v) < 5 or v[0] == v[-1]:
        return ValueAxis()
    positive = bool(v[0] > 0)
    spans_decades = positive and v[-1] / v[0] > LOG_RATIO
    beyond = _beyond(v, mode, OUTLIER_SPREADS)
    n = int(beyond.sum())
    if 0 < n <= OUTLIER_SHARE * len(v):
        if spans_decades and not _beyond(np.log10(v), mode, LOG_OUTLIER_SPREADS).any():
            return ValueAxis("log", note="log scale")
        inside = v[~beyond]
        low, high = float(inside.min()), float(inside.max())
        pad = 0.08 * (high - low) or 0.1 * abs(high) or 1.0
        limits = (low - pad, high + pad)
        edge, side = (limits[1], "above") if mode == "min" else (limits[0], "below")
        trials = "trial" if n == 1 else "trials"
        return ValueAxis("clipped", limits, n, f"clipped: {n} {trials} {side} {edge:.3g}")
    if spans_decades:
        return ValueAxis("log", note="log scale")
    return ValueAxis()


def plot_incumbent(
    source: Result | RunData | str | Path,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    **options: Any,
) -> Figure:
    """Every completed trial's value over wall time, and the best so far as a step line."""
    run = load_run(source, **options)
    fig, ax = axes_for(ax, (7.0, 3.6))
    done = run.completed.assign(value=pd.to_numeric(run.completed["value"], errors="coerce"))
    done = done.dropna(subset=["value", "time"])
    ax.scatter(done["time"], done["value"], s=14, alpha=0.5, color="#7f7f7f", label="trials")
    best = incumbent(run)
    end = run_end(run)
    if len(best):
        xs = [*best["time"], end]
        ys = [*best["value"], best["value"].iloc[-1]]
        ax.step(xs, ys, where="post", color="#1f77b4", linewidth=2, label="best so far")
    else:
        ax.text(
            0.5, 0.5, "no completed trial yet", ha="center", va="center", transform=ax.transAxes
        )
    scale = value_axis(list(done["value"]), run.mode)
    _apply(ax, scale, done, run.mode)
    ax.set_xlim(0, end * 1.02 if end > 0 else 1.0)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(f"{run.metric} ({scale.note})" if scale.note else run.metric)
    ax.set_title(f"incumbent trajectory ({run.mode} {run.metric})")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return finish(fig, path)


def _apply(ax: Axes, scale: ValueAxis, done: pd.DataFrame, mode: str) -> None:
    """Scale the value axis; mark the trials beyond a clipped axis at its edge."""
    if scale.kind == "log":
        ax.set_yscale("log")
        label_log_axis(ax.yaxis, done["value"])
    elif scale.kind == "clipped" and scale.limits is not None:
        low, high = scale.limits
        ax.set_ylim(low, high)
        beyond = done[(done["value"] > high) | (done["value"] < low)]
        edge = high if mode == "min" else low
        ax.scatter(
            beyond["time"],
            [edge] * len(beyond),
            marker="^" if mode == "min" else "v",
            s=36,
            color="#d62728",
            clip_on=False,
            zorder=3,
            label=f"{len(beyond)} beyond the axis",
        )
