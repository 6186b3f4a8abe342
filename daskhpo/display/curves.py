"""Learning curves: the metric of each trial's intermediate reports against its step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daskhpo.display.figures import axes_for, finish
from daskhpo.display.run_data import RunData, load_run
from daskhpo.results import Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_curves(
    source: Result | RunData | str | Path,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    highlight: int = 3,
    **options: Any,
) -> Figure:
    """The metric of each trial's intermediate reports against its step.

    One line per trial (attempts joined, so a promoted or resumed trial continues its line);
    the ``highlight`` best trials by their last report are drawn in colour, the rest in grey.
    """
    run = load_run(source, **options)
    fig, ax = axes_for(ax, (7.0, 3.6))
    reports = run.reports
    if run.metric not in reports.columns or reports.empty:
        ax.text(
            0.5,
            0.5,
            f"no intermediate reports of {run.metric}",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        data = reports.assign(value=pd.to_numeric(reports[run.metric], errors="coerce"))
        data = data.dropna(subset=["value"]).sort_values(["trial_id", "time"], kind="stable")
        last = data.groupby("trial_id")["value"].last()
        order = last.sort_values(ascending=run.mode == "min", kind="stable")
        top = list(order.index[:highlight])
        for trial_id, group in data.groupby("trial_id", sort=True):
            if trial_id in top:
                continue
            ax.plot(
                group["step"],
                group["value"],
                color="#b0b0b0",
                linewidth=0.8,
                marker=".",
                markersize=3,
                alpha=0.8,
            )
        for trial_id in top:
            group = data[data["trial_id"] == trial_id]
            status = run.status.get(int(trial_id), "")
            ax.plot(
                group["step"],
                group["value"],
                linewidth=1.8,
                marker="o",
                markersize=2.5,
                label=f"trial {trial_id} {status.lower()}".rstrip(),
            )
        ax.legend(fontsize="small", loc="upper right")
    ax.set_xlabel("step (reported resource)")
    ax.set_ylabel(run.metric)
    ax.set_title("intermediate results per trial")
    ax.grid(alpha=0.3)
    return finish(fig, path)
