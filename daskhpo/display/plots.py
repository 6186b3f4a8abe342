"""Plots of a search and of simulated tables (matplotlib, loaded only when a plot is drawn).

A search can be plotted from its :class:`~daskhpo.results.Result` or from its experiment
directory (the journal, read as it is, so a running search can be plotted too; or
``trials.csv``/``reports.csv`` when there is no journal):

* :func:`plot_incumbent` — the best value so far over wall time (the incumbent trajectory);
* :func:`plot_timeline` — one lane per worker, one bar per attempt (a Gantt chart), coloured by
  how the attempt ended, so idle workers and lost attempts show;
* :func:`plot_curves` — the intermediate reports of each trial (multi-fidelity runs);
* :func:`plot_report` — the three stacked, as ``daskhpo report --plot`` draws them.

:func:`plot_speedup` and :func:`plot_cost` draw the simulator's tables. Every function
returns the matplotlib ``Figure`` (drawn into ``ax`` when given) and writes it to ``path``
when given. Figures are made without pyplot, so plotting keeps no global state and works
without a display.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daskhpo.experiment.journal import JOURNAL_NAME, read_journal
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

_END_EVENTS = {
    "completed": "COMPLETED",
    "stopped": "STOPPED",
    "paused": "PAUSED",
    "failed": "FAILED",
    "lost": "LOST",
    "cancelled": "CANCELLED",
}

SEGMENT_COLUMNS = ["trial_id", "attempt", "worker", "start", "end", "outcome"]


def _matplotlib() -> type[Figure]:
    """The Figure class, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'daskhpo[plot]'") from exc
    return Figure


def new_figure(**options: Any) -> Figure:
    """A matplotlib ``Figure(**options)`` made without pyplot, for figures drawn elsewhere
    (the simulator's); an ImportError that says how to install matplotlib if it is missing."""
    return _matplotlib()(**options)


# --------------------------------------------------------------------------- reading a run


@dataclass
class RunData:
    """What the plots of one search need, however it was read.

    ``completed``: trial_id, time (end), value of each completed trial. ``reports``: the long
    table of intermediate reports. ``segments``: one row per attempt that started, with its
    worker, start and end times and outcome (RUNNING when it has not ended).
    """

    metric: str
    mode: str
    completed: pd.DataFrame
    reports: pd.DataFrame
    segments: pd.DataFrame
    status: dict[int, str] = field(default_factory=dict)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """The rows (``columns`` first, then any others they have), or an empty frame."""
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    return frame[[*columns, *(c for c in frame.columns if c not in columns)]]


def _segment(
    key: tuple[int, int], worker: str, start: float, end: float, outcome: str
) -> dict[str, Any]:
    return {
        "trial_id": key[0],
        "attempt": key[1],
        "worker": worker,
        "start": start,
        "end": end,
        "outcome": outcome,
    }


def _from_journal(path: Path, metric: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Completions, reports and attempt segments, from a journal (possibly still growing)."""
    started: dict[tuple[int, int], tuple[float, str]] = {}
    segments: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    completed: list[dict[str, Any]] = []
    last_time = 0.0
    for record in read_journal(path):
        time = float(record.get("time", last_time))
        last_time = max(last_time, time)
        event = record["event"]
        if "trial_id" not in record:
            continue
        key = (int(record["trial_id"]), int(record.get("attempt", 0)))
        if event == "started":
            started[key] = (time, str(record.get("worker") or "?"))
        elif event == "reported":
            metrics = record.get("metrics") or {}
            row = {"trial_id": key[0], "attempt": key[1], "time": time, "step": record["step"]}
            reports.append({**row, **metrics})
        elif event in _END_EVENTS:
            if event == "completed":
                value = (record.get("metrics") or {}).get(metric)
                completed.append({"trial_id": key[0], "time": time, "value": value})
            begun = started.pop(key, None)
            if begun is not None:
                segments.append(_segment(key, begun[1], begun[0], time, _END_EVENTS[event]))
    for key, (start, worker) in started.items():
        segments.append(_segment(key, worker, start, last_time, "RUNNING"))
    return (
        _frame(completed, ["trial_id", "time", "value"]),
        _frame(reports, ["trial_id", "attempt", "time", "step"]),
        _frame(segments, SEGMENT_COLUMNS),
    )


def _from_trials(
    trials: pd.DataFrame, metric: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, str]]:
    """Completions and one segment per trial (first start to end), from a trials table."""
    done = trials[trials["status"] == "COMPLETED"]
    values = done[metric] if metric in done.columns else pd.Series(index=done.index, dtype=float)
    completed = pd.DataFrame(
        {"trial_id": done["trial_id"], "time": done["end_time"], "value": values}
    )
    ran = trials.dropna(subset=["start_time", "end_time"])
    segments = pd.DataFrame(
        {
            "trial_id": ran["trial_id"],
            "attempt": ran["attempt"],
            "worker": ran["worker"].fillna("?").astype(str),
            "start": ran["start_time"],
            "end": ran["end_time"],
            "outcome": ran["status"],
        },
        columns=SEGMENT_COLUMNS,
    )
    status = {int(t): str(s) for t, s in zip(trials["trial_id"], trials["status"], strict=True)}
    return completed.reset_index(drop=True), segments.reset_index(drop=True), status


def _status_from_segments(segments: pd.DataFrame) -> dict[int, str]:
    status: dict[int, str] = {}
    for trial_id, outcome in zip(segments["trial_id"], segments["outcome"], strict=True):
        status[int(trial_id)] = str(outcome)  # segments are in time order: the last one wins
    return status


def _read_settings(directory: Path) -> dict[str, Any]:
    path = directory / "experiment.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(
    source: Result | RunData | str | Path, *, metric: str | None = None, mode: str | None = None
) -> RunData:
    """Read a search from a Result or an experiment directory; ``metric``/``mode`` override
    what the search recorded (for example to plot ``accuracy`` instead of ``val_loss``)."""
    if isinstance(source, RunData):
        return source
    if isinstance(source, Result):
        metric = metric or source.metric
        mode = mode or source.mode
        completed, segments, status = _from_trials(source.trials, metric)
        reports = source.reports
        journal = None if source.experiment_dir is None else source.experiment_dir / JOURNAL_NAME
        if journal is not None and journal.is_file():
            completed, _, segments = _from_journal(journal, metric)
        return RunData(metric, mode, completed, reports, segments, status)
    directory = Path(source).expanduser()
    if not directory.is_dir():
        raise ValueError(
            f"{str(directory)!r} is not a directory; pass a Result or the experiment "
            "directory of a search (the one holding journal.jsonl)"
        )
    settings = _read_settings(directory)
    metric = metric or settings.get("metric")
    mode = mode or settings.get("mode") or "min"
    if not isinstance(metric, str):
        raise ValueError(
            f"{str(directory)!r} has no experiment.json naming the metric; pass metric=..."
        )
    journal = directory / JOURNAL_NAME
    if journal.is_file():
        completed, reports, segments = _from_journal(journal, metric)
        return RunData(metric, mode, completed, reports, segments, _status_from_segments(segments))
    if not (directory / "trials.csv").is_file():
        raise ValueError(
            f"{str(directory)!r} holds neither {JOURNAL_NAME} nor trials.csv; pass the "
            "experiment directory of a search"
        )
    trials = pd.read_csv(directory / "trials.csv")
    reports_csv = directory / "reports.csv"
    reports = (
        pd.read_csv(reports_csv)
        if reports_csv.is_file()
        else pd.DataFrame(columns=["trial_id", "attempt", "time", "step"])
    )
    completed, segments, status = _from_trials(trials, metric)
    return RunData(metric, mode, completed, reports, segments, status)


def incumbent(source: Result | RunData | str | Path, **options: Any) -> pd.DataFrame:
    """The best value so far at each completion that improved it: time, value, trial_id."""
    run = load_run(source, **options)
    done = run.completed.assign(value=pd.to_numeric(run.completed["value"], errors="coerce"))
    done = done.dropna(subset=["value", "time"]).sort_values("time", kind="stable")
    best = done["value"].cummin() if run.mode == "min" else done["value"].cummax()
    improved = done[done["value"] == best]
    improved = improved[~improved["value"].duplicated()]
    return improved[["time", "value", "trial_id"]].reset_index(drop=True)


# --------------------------------------------------------------------------- drawing helpers


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    figure_class = _matplotlib()
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = figure_class(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(Path(path), dpi=110)
    return fig


def _run_end(run: RunData) -> float:
    """The latest time the run's completions and attempts reach."""
    times = [pd.to_numeric(run.completed["time"], errors="coerce").max()]
    if len(run.segments):
        times.append(pd.to_numeric(run.segments["end"], errors="coerce").max())
    known = [float(t) for t in times if pd.notna(t)]
    return max(known, default=0.0)


def _short_worker(address: str) -> str:
    return address.split("://", 1)[-1]


# --------------------------------------------------------------------------- search plots


def plot_incumbent(
    source: Result | RunData | str | Path,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    **options: Any,
) -> Figure:
    """Every completed trial's value over wall time, and the best so far as a step line."""
    run = load_run(source, **options)
    fig, ax = _axes(ax, (7.0, 3.6))
    done = run.completed.assign(value=pd.to_numeric(run.completed["value"], errors="coerce"))
    done = done.dropna(subset=["value", "time"])
    ax.scatter(done["time"], done["value"], s=14, alpha=0.5, color="#7f7f7f", label="trials")
    best = incumbent(run)
    end = _run_end(run)
    if len(best):
        xs = [*best["time"], end]
        ys = [*best["value"], best["value"].iloc[-1]]
        ax.step(xs, ys, where="post", color="#1f77b4", linewidth=2, label="best so far")
    else:
        ax.text(
            0.5, 0.5, "no completed trial yet", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_xlim(0, end * 1.02 if end > 0 else 1.0)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(run.metric)
    ax.set_title(f"incumbent trajectory ({run.mode} {run.metric})")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


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
    fig, ax = _axes(ax, (7.0, 1.2 + 0.45 * max(len(workers), 1)))
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
    end = _run_end(run)
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
    return _finish(fig, path)


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
    fig, ax = _axes(ax, (7.0, 3.6))
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
        ax.legend(fontsize="small")
    ax.set_xlabel("step (reported resource)")
    ax.set_ylabel(run.metric)
    ax.set_title("intermediate results per trial")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_report(
    source: Result | RunData | str | Path, *, path: str | Path | None = None, **options: Any
) -> Figure:
    """Incumbent trajectory, timeline and (when there are reports) learning curves, stacked."""
    figure_class = _matplotlib()
    run = load_run(source, **options)
    has_curves = run.metric in run.reports.columns and not run.reports.empty
    workers = run.segments["worker"].nunique()
    heights = [3.0, 1.0 + 0.4 * max(workers, 1)] + ([3.0] if has_curves else [])
    fig = figure_class(figsize=(8.0, sum(heights) + 0.5), layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    plot_incumbent(run, ax=axes[0])
    plot_timeline(run, ax=axes[1])
    if has_curves:
        plot_curves(run, ax=axes[2])
    return _finish(fig, path)


# --------------------------------------------------------------------------- simulated tables


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
    fig, ax = _axes(ax, (5.5, 4.0))
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
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return _finish(fig, path)


def plot_cost(
    table: pd.DataFrame, *, ax: Axes | None = None, path: str | Path | None = None
) -> Figure:
    """Cost against time to finish, one point per instance count, one line per market (and
    per on-demand price when the table has several): the lower left is where to be."""
    _require(table, ["instances", "market", "makespan_h", "cost_usd"], "cost")
    fig, ax = _axes(ax, (5.5, 4.0))
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
    ax.set_xlabel("time to finish (h)")
    ax.set_ylabel("cost (USD)")
    ax.set_title("cost vs time, labelled by instances")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return _finish(fig, path)
