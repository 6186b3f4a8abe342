"""A search as the plots read it: :class:`RunData`, from a Result or an experiment directory.

An experiment directory is read through :class:`~daskhpo.experiment.view.ExperimentView`
(its journal, as it is, so a running search can be plotted too), or from its trials and
reports tables when it has no journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from daskhpo.errors import ExperimentError
from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.view import ExperimentView, read_info
from daskhpo.results import Result

SEGMENT_COLUMNS = ["trial_id", "attempt", "worker", "start", "end", "outcome"]


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


def _from_view(
    view: ExperimentView, metric: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[int, str]]:
    """Completions, reports, attempt segments and trial statuses of a replayed journal (the
    search may still be running: its running attempts end at the latest record)."""
    last_time = view.last_time or 0.0
    ran = view.ran()
    completed = [
        {"trial_id": a.trial_id, "time": a.ended_at, "value": a.metrics.get(metric)}
        for a in sorted(ran, key=lambda a: a.ended_at or 0.0)
        if a.outcome == "COMPLETED"
    ]
    reports = [
        {"trial_id": r.trial_id, "attempt": r.attempt, "time": r.time, "step": r.step, **r.metrics}
        for r in view.reports
    ]
    segments = [
        _segment(
            (a.trial_id, a.attempt),
            a.worker or "?",
            float(a.started_at or 0.0),
            last_time if a.ended_at is None else a.ended_at,
            a.outcome or "RUNNING",
        )
        for a in ran
    ]
    status = {trial_id: trial.status.value for trial_id, trial in view.trials.items()}
    return (
        _frame(completed, ["trial_id", "time", "value"]),
        _frame(reports, ["trial_id", "attempt", "time", "step"]),
        _frame(segments, SEGMENT_COLUMNS),
        status,
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
        files = None if source.experiment_dir is None else ExperimentDir(source.experiment_dir)
        if files is not None and files.journal_path.is_file():
            view = ExperimentView.from_journal(files.journal_path)
            completed, _, segments, _ = _from_view(view, metric)
            _, _, status = _from_trials(source.trials, metric)
            return RunData(metric, mode, completed, source.reports, segments, status)
        completed, segments, status = _from_trials(source.trials, metric)
        return RunData(metric, mode, completed, source.reports, segments, status)
    directory = Path(source).expanduser()
    if not directory.is_dir():
        raise ValueError(
            f"{str(directory)!r} is not a directory; pass a Result or the experiment "
            "directory of a search (the one holding its journal)"
        )
    files = ExperimentDir(directory)
    try:
        info = read_info(directory)
    except ExperimentError:
        if metric is None:
            raise
        info = None
    metric = metric or (info.metric if info is not None else None)
    mode = mode or (info.mode if info is not None else None) or "min"
    assert metric is not None
    if files.journal_path.is_file():
        view = ExperimentView.from_journal(files.journal_path, info)
        completed, reports, segments, status = _from_view(view, metric)
        return RunData(metric, mode, completed, reports, segments, status)
    if not files.trials_csv.is_file():
        raise ValueError(
            f"{str(directory)!r} holds neither {files.journal_path.name} nor "
            f"{files.trials_csv.name}; pass the experiment directory of a search"
        )
    trials = pd.read_csv(files.trials_csv)
    reports = (
        pd.read_csv(files.reports_csv)
        if files.reports_csv.is_file()
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


def run_end(run: RunData) -> float:
    """The latest time the run's completions and attempts reach."""
    times = [pd.to_numeric(run.completed["time"], errors="coerce").max()]
    if len(run.segments):
        times.append(pd.to_numeric(run.segments["end"], errors="coerce").max())
    known = [float(t) for t in times if pd.notna(t)]
    return max(known, default=0.0)
