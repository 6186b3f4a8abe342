"""Figures for the simulator's tables: worker Gantt charts (sync vs async) beside the speed-up
curves, the cost-vs-time frontier, time to target per scheduler, a plan's cost against time. The
curves themselves are ``daskhpo.display.plots``'; figures are drawn without pyplot, so a
notebook's backend is left alone. Needs matplotlib (``pip install 'daskhpo[plot]'``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daskhpo.display.figures import label_log_axis
from daskhpo.display.plots import new_figure, plot_cost, plot_speedup
from simulate.runner import SimRun

if TYPE_CHECKING:
    from simulate.plan import PlanResult

__all__ = ["cost_figure", "gantt", "plan_figure", "scheduler_figure", "speedup_figure"]

_OUTCOME_COLORS = {"returned": None, "stopped": "#d62728", "paused": "#ff7f0e", "lost": "#7f7f7f"}


def gantt(ax: Any, run: SimRun, title: str, xmax: float | None = None) -> None:
    """One bar per attempt on its worker's row, coloured by trial (grey: lost work)."""
    segments = run.backend.segments
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
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
    fig = new_figure(figsize=(13, 5.5), layout="constrained")
    grid = fig.add_gridspec(max(1, len(runs)), 2, width_ratios=(3, 2))
    xmax = max((run.makespan for run in runs.values()), default=1.0)
    for i, (mode, run) in enumerate(runs.items()):
        gantt(fig.add_subplot(grid[i, 0]), run, mode, xmax)
    plot_speedup(table, ax=fig.add_subplot(grid[:, 1]))
    return _save(fig, path)


def cost_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """Cost against time to finish, one point per instance count, one series per market."""
    plot_cost(table, path=path)
    return Path(path)


def scheduler_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """Time to target per scheduler (bars), with the fraction of repeats that got there."""
    fig = new_figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
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


def time_unit(seconds: Any) -> tuple[float, str]:
    """The unit a time axis reads best in, from the largest of ``seconds``: (its length in
    seconds, its name)."""
    top = max((float(v) for v in seconds), default=0.0)
    if top < 120:
        return 1.0, "seconds"
    if top < 2 * 3600:
        return 60.0, "minutes"
    if top < 3 * 86400:
        return 3600.0, "hours"
    return 86400.0, "days"


def plan_figure(result: PlanResult, path: str | Path) -> Path:
    """Cost against makespan (with bands) per scheduler and market; the best metric over time
    beside it. Both time axes are logarithmic, in the unit that suits the makespans, with
    round-number ticks (worker counts spread the times over decades)."""
    table = result.table
    per, unit = time_unit(table["makespan_s_high"])
    fig = new_figure(figsize=(12, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for (scheduler, market), rows in table.groupby(["scheduler", "market"], sort=False):
        rows = rows.sort_values("workers")
        left.errorbar(
            rows["makespan_s"] / per,
            rows["cost_usd"],
            xerr=[
                (rows["makespan_s"] - rows["makespan_s_low"]) / per,
                (rows["makespan_s_high"] - rows["makespan_s"]) / per,
            ],
            yerr=[
                rows["cost_usd"] - rows["cost_usd_low"],
                rows["cost_usd_high"] - rows["cost_usd"],
            ],
            marker="o",
            capsize=3,
            label=f"{scheduler}, {market}",
        )
        for _, row in rows.iterrows():
            left.annotate(
                f"{int(row['workers'])}",
                (row["makespan_s"] / per, row["cost_usd"]),
                textcoords="offset points",
                xytext=(4, 4),
            )
    left.set_xscale("log")
    label_log_axis(
        left.xaxis,
        list(table["makespan_s_low"] / per) + list(table["makespan_s_high"] / per),
    )
    left.set_xlabel(f"predicted makespan ({unit}, log scale)")
    left.set_ylabel("predicted cost (USD)")
    left.set_title("cost vs time (labels: workers; bars: 90 % band)")
    left.legend(loc="upper right")
    traj = result.trajectories
    first_market = traj["market"].iloc[0] if not traj.empty else None
    shown = traj[(traj["market"] == first_market) & (traj["time_s"] > 0)]
    for (scheduler, k), rows in shown.groupby(["scheduler", "workers"], sort=False):
        times = rows["time_s"] / per
        right.plot(times, rows["best_value"], label=f"{scheduler}, {k} workers")
        right.fill_between(times, rows["best_value_low"], rows["best_value_high"], alpha=0.15)
    if not shown.empty:
        right.set_xscale("log")
        label_log_axis(right.xaxis, shown["time_s"] / per)
    right.set_xlabel(f"time from the start ({unit}, log scale)")
    right.set_ylabel(f"best {result.calibration.metric} so far")
    right.set_title("expected best value over time (band: 5–95 %)")
    right.legend(fontsize="small", ncol=2, loc="upper right")
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
