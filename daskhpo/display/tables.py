"""Charts of the simulator's tables: speedup against workers, cost against time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daskhpo.display.figures import axes_for, finish, label_log_axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"a {what} table needs the columns {columns}; this one lacks {missing} "
            f"(it has {list(table.columns)})"
        )


def plot_speedup(
    table: pd.DataFrame, *, ax: Axes | None = None, path: str | Path | None = None
) -> Figure:
    """Speedup against the number of workers, one line per mode (sync, async), with the
    ideal (speedup = workers) for reference and, when the table has ``speedup_ci_low`` and
    ``speedup_ci_high`` (``simulate.tables.speedup_table`` does), the confidence band."""
    _require(table, ["workers", "mode", "speedup"], "speedup")
    fig, ax = axes_for(ax, (5.5, 4.0))
    workers = sorted(float(w) for w in pd.to_numeric(table["workers"]).unique())
    ax.plot(workers, workers, linestyle="--", color="#999999", label="ideal")
    for mode, group in table.groupby("mode", sort=False):
        group = group.sort_values("workers")
        ax.plot(group["workers"], group["speedup"], marker="o", label=str(mode))
        if {"speedup_ci_low", "speedup_ci_high"} <= set(group.columns):
            ax.fill_between(
                group["workers"], group["speedup_ci_low"], group["speedup_ci_high"], alpha=0.2
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup over 1 worker")
    ax.set_title("synchronous vs asynchronous search")
    ax.legend(fontsize="small", loc="upper left")  # speed-ups rise to the right
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)


def plot_cost(
    table: pd.DataFrame, *, ax: Axes | None = None, path: str | Path | None = None
) -> Figure:
    """Cost against time to finish, one point per instance count, one line per market (and
    per on-demand price when the table has several): the lower left is where to be. Both axes
    are logarithmic, with ticks at round numbers within the values' range."""
    _require(table, ["instances", "market", "makespan_h", "cost_usd"], "cost")
    fig, ax = axes_for(ax, (5.5, 4.0))
    keys = ["market"]
    if "on_demand_usd_per_h" in table.columns and table["on_demand_usd_per_h"].nunique() > 1:
        keys.append("on_demand_usd_per_h")
    for key, group in table.groupby(keys, sort=False):
        parts: tuple[Any, ...] = key if isinstance(key, tuple) else (key,)
        label = str(parts[0]) if len(parts) == 1 else f"{parts[0]} (${float(parts[1]):g}/h)"
        group = group.sort_values("instances")
        ax.plot(group["makespan_h"], group["cost_usd"], marker="o", label=label)
        for instances, x, y in zip(
            group["instances"], group["makespan_h"], group["cost_usd"], strict=True
        ):
            ax.annotate(
                str(instances), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    label_log_axis(ax.xaxis, pd.to_numeric(table["makespan_h"], errors="coerce"))
    label_log_axis(ax.yaxis, pd.to_numeric(table["cost_usd"], errors="coerce"))
    ax.set_xlabel("time to finish (h)")
    ax.set_ylabel("cost (USD)")
    ax.set_title("cost vs time, labelled by instances")
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)
