"""Figures: worker Gantt charts (sync vs async), speed-up curves, cost-vs-time frontier,
time to target per scheduler. Needs matplotlib (``pip install 'daskhpo[plot]'``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from simulate.runner import SimRun

__all__ = ["cost_figure", "gantt", "scheduler_figure", "speedup_figure"]

_OUTCOME_COLORS = {"returned": None, "stopped": "#d62728", "paused": "#ff7f0e", "lost": "#7f7f7f"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib, which is not installed: pip install 'daskhpo[plot]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def gantt(ax: Any, run: SimRun, title: str, xmax: float | None = None) -> None:
    """One bar per attempt on its worker's row, coloured by trial (grey: lost work)."""
    segments = run.backend.segments
    cmap = _pyplot().get_cmap("tab20")
    for worker, trial_id, _attempt, start, end, outcome in segments:
        color = _OUTCOME_COLORS.get(outcome) or cmap(trial_id % 20)
        ax.barh(worker, end - start, left=start, height=0.8, color=color, edgecolor="white")
    workers = max((s[0] for s in segments), default=0) + 1
    ax.set_yticks(range(workers))
    ax.set_yticklabels([f"w{i}" for i in range(workers)])
    ax.invert_yaxis()
    ax.set_xlim(0, max(run.makespan if xmax is None else xmax, 1e-9))
    ax.set_title(f"{title}: makespan {run.makespan:,.0f} s, utilization {run.utilization:.0%}")
    ax.set_xlabel("time (s)")


def speedup_figure(table: pd.DataFrame, runs: Mapping[str, SimRun], path: str | Path) -> Path:
    """Gantt charts of ``runs`` (sync above async) beside the speed-up curves of ``table``."""
    plt = _pyplot()
    fig = plt.figure(figsize=(13, 5.5))
    grid = fig.add_gridspec(max(1, len(runs)), 2, width_ratios=(3, 2))
    xmax = max((run.makespan for run in runs.values()), default=1.0)
    for i, (mode, run) in enumerate(runs.items()):
        gantt(fig.add_subplot(grid[i, 0]), run, mode, xmax)
    ax = fig.add_subplot(grid[:, 1])
    for key, group in table.groupby("mode", sort=False):
        rows = group.sort_values("workers")
        ax.plot(rows["workers"], rows["speedup"], marker="o", label=str(key))
        if "speedup_ci_low" in rows:
            ax.fill_between(
                rows["workers"], rows["speedup_ci_low"], rows["speedup_ci_high"], alpha=0.2
            )
    top = float(table["workers"].max())
    ax.plot([1, top], [1, top], linestyle="--", color="grey", label="ideal")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers")
    ax.set_ylabel("speed-up over 1 worker")
    ax.set_title(f"{int(table['trials'].iloc[0])} trials")
    ax.legend()
    return _save(fig, path)


def cost_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """Cost against time to finish, one point per instance count, one series per market."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    first_price = table.groupby(["instances", "market"], sort=False).head(1)
    for market, rows in first_price.groupby("market", sort=False):
        ax.plot(rows["makespan_h"], rows["cost_usd"], marker="o", label=str(market))
        for _, row in rows.iterrows():
            ax.annotate(
                f"{int(row['instances'])}",
                (row["makespan_h"], row["cost_usd"]),
                textcoords="offset points",
                xytext=(4, 4),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time to finish (hours)")
    ax.set_ylabel("cost (USD)")
    ax.set_title("cost vs time (labels: instances)")
    ax.legend()
    return _save(fig, path)


def scheduler_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """Time to target per scheduler (bars), with the fraction of repeats that got there."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = [str(s) for s in table["scheduler"]]
    times = table["time_to_target_s"].fillna(0.0)
    bars = ax.bar(labels, times)
    for bar, reached in zip(bars, table["reached"], strict=True):
        ax.annotate(
            f"{reached:.0%}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set_ylabel("time to target (s)")
    ax.set_title("time to target (labels: share of repeats that reached it)")
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out
