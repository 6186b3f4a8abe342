"""The trial timeline: one lane per worker, one bar per attempt, coloured by its outcome.

A Gantt chart of the search, so idle workers, lost attempts and promotions show.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhpo.display.figures import axes_for, finish
from daskhpo.display.run_data import RunData, load_run, run_end
from daskhpo.results import Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colours of attempt outcomes in the timeline.
OUTCOME_COLORS: dict[str, str] = {
    "COMPLETED": "#2a9d5c",
    "STOPPED": "#e69f00",
    "PAUSED": "#56b4e9",
    "FAILED": "#d62728",
    "LOST": "#444444",
    "CANCELLED": "#aaaaaa",
    "RUNNING": "#c7e9c0",
}


def _short_worker(address: str) -> str:
    return address.split("://", 1)[-1]


def plot_timeline(
    source: Result | RunData | str | Path,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    **options: Any,
) -> Figure:
    """One lane per worker, one bar per attempt from its start to its end, coloured by outcome.

    A worker that died and was restarted has a new address, so it gets a new lane.
    """
    run = load_run(source, **options)
    seg = run.segments.sort_values(["start", "trial_id"], kind="stable")
    workers = list(dict.fromkeys(str(w) for w in seg["worker"]))
    fig, ax = axes_for(ax, (7.0, 1.2 + 0.45 * max(len(workers), 1)))
    lane = {w: i for i, w in enumerate(workers)}
    for outcome, group in seg.groupby("outcome", sort=False):
        color = OUTCOME_COLORS.get(str(outcome), "#9467bd")
        ys = [lane[str(w)] for w in group["worker"]]
        widths = (group["end"] - group["start"]).clip(lower=0).to_numpy(dtype=float)
        ax.barh(
            ys,
            widths,
            left=group["start"].to_numpy(dtype=float),
            height=0.7,
            color=color,
            edgecolor="white",
            linewidth=0.5,
            label=str(outcome).lower(),
        )
    if len(seg) <= 80:  # label the bars wide enough to hold a trial id
        starts, ends = seg["start"].astype(float), seg["end"].astype(float)
        wide = (ends - starts) >= 0.025 * max(float(ends.max()), 1e-9)
        middles = (starts + ends) / 2
        for trial_id, worker, middle in zip(
            seg["trial_id"][wide], seg["worker"][wide], middles[wide], strict=True
        ):
            ax.text(
                middle,
                lane[str(worker)],
                str(trial_id),
                ha="center",
                va="center",
                fontsize=6,
                color="black",
                clip_on=True,
            )
    end = run_end(run)
    ax.set_xlim(0, end * 1.02 if end > 0 else 1.0)
    ax.set_yticks(range(len(workers)), [_short_worker(w) for w in workers])
    ax.set_ylim(-0.6, max(len(workers), 1) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("worker")
    ax.set_title("trial timeline per worker")
    if len(seg):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return finish(fig, path)
