"""Plots of a search and of simulated tables (matplotlib, loaded only when a plot is drawn).

A search can be plotted from its :class:`~daskhpo.results.Result` or from its experiment
directory (its journal, read as it is, so a running search can be plotted too; or its trials
and reports tables when there is no journal):

* :func:`plot_incumbent` — the best value so far over wall time (the incumbent trajectory);
* :func:`plot_timeline` — one lane per worker, one bar per attempt (a Gantt chart), coloured by
  how the attempt ended, so idle workers and lost attempts show;
* :func:`plot_curves` — the intermediate reports of each trial (multi-fidelity runs);
* :func:`plot_report` — the three stacked, as ``daskhpo report --plot`` draws them.

:func:`plot_speedup` and :func:`plot_cost` draw the simulator's tables. Every function
returns the matplotlib ``Figure`` (drawn into ``ax`` when given) and writes it to ``path``
when given. Figures are made without pyplot (:func:`new_figure`), so plotting keeps no global
state and works without a display. Each chart lives in a module of its own; this one gathers
them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhpo.display.curves import plot_curves
from daskhpo.display.figures import figure_class, finish, new_figure
from daskhpo.display.incumbent import plot_incumbent
from daskhpo.display.run_data import SEGMENT_COLUMNS, RunData, incumbent, load_run
from daskhpo.display.tables import plot_cost, plot_speedup
from daskhpo.display.timeline import OUTCOME_COLORS, plot_timeline
from daskhpo.results import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The matplotlib import helper under its former name (see :func:`new_figure`).
_matplotlib = figure_class

__all__ = [
    "OUTCOME_COLORS",
    "SEGMENT_COLUMNS",
    "RunData",
    "figure_class",
    "incumbent",
    "load_run",
    "new_figure",
    "plot_cost",
    "plot_curves",
    "plot_incumbent",
    "plot_report",
    "plot_speedup",
    "plot_timeline",
]


def plot_report(
    source: Result | RunData | str | Path, *, path: str | Path | None = None, **options: Any
) -> Figure:
    """Incumbent trajectory, timeline and (when there are reports) learning curves, stacked."""
    run = load_run(source, **options)
    has_curves = run.metric in run.reports.columns and not run.reports.empty
    workers = run.segments["worker"].nunique()
    heights = [3.0, 1.0 + 0.4 * max(workers, 1)] + ([3.0] if has_curves else [])
    fig = new_figure(figsize=(8.0, sum(heights) + 0.5), layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    plot_incumbent(run, ax=axes[0])
    plot_timeline(run, ax=axes[1])
    if has_curves:
        plot_curves(run, ax=axes[2])
    return finish(fig, path)
