"""Read an experiment directory back: replay its journal into per-trial state.

The journal (``journal.jsonl``) is the truth while a search runs and after a driver dies, so
``daskhpo status`` and ``daskhpo report`` read it, and resuming a search starts from the same
replay. Replaying applies each record the way the Tuner applied the fact it journals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.journal import read_journal
from daskhpo.results import Result
from daskhpo.space import SearchSpace
from daskhpo.trial import Trial, TrialStatus
from daskhpo.tuner import ReportRecord


@dataclass
class JournalView:
    """What a journal says so far: the trials, their reports, and whether the search ended."""

    trials: dict[int, Trial] = field(default_factory=dict)
    reports: list[ReportRecord] = field(default_factory=list)
    last_event_time: dict[int, float] = field(default_factory=dict)  # per trial
    ended: bool = False  # an "end" record is the last word (a later record reopens it)
    stop_reason: str | None = None
    interrupted: bool = False
    last_time: float | None = None  # seconds since the driver started, of the latest record
    records: int = 0


def _trial(view: JournalView, record: Mapping[str, Any]) -> Trial:
    trial_id = int(record["trial_id"])
    trial = view.trials.get(trial_id)
    if trial is None:  # a record without its "created" (journal cut short at the start)
        trial = Trial(trial_id=trial_id, config={})
        view.trials[trial_id] = trial
    return trial


def _apply(view: JournalView, record: Mapping[str, Any]) -> None:
    """Apply one record, mirroring what the Tuner did when it wrote it."""
    event = record["event"]
    time = record.get("time")
    if isinstance(time, (int, float)):
        view.last_time = float(time)
    if event == "end":
        view.ended = True
        view.stop_reason = record.get("reason")
        return
    view.ended = False
    if event == "interrupted":
        view.interrupted = True
        return
    if "trial_id" not in record:
        return  # an event this version does not know; newer journals may add some
    if event == "created":
        view.trials[int(record["trial_id"])] = Trial(
            trial_id=int(record["trial_id"]),
            config=dict(record.get("config") or {}),
            budget=record.get("budget"),
            checkpoint_trial_id=record.get("checkpoint_trial_id"),
            created_at=float(time or 0.0),
        )
    trial = _trial(view, record)
    if isinstance(time, (int, float)):
        view.last_event_time[trial.trial_id] = float(time)
    attempt = record.get("attempt")
    if isinstance(attempt, int):
        trial.attempt = attempt
    if event in ("created", "submitted"):
        trial.status = TrialStatus.PENDING
    elif event == "resumed":
        trial.config = dict(record.get("config") or trial.config)
        trial.budget = record.get("budget")
        trial.checkpoint_trial_id = record.get("checkpoint_trial_id")
        trial.status = TrialStatus.PENDING
    elif event == "started":
        trial.status = TrialStatus.RUNNING
        trial.worker = record.get("worker")
        if trial.started_at is None and time is not None:
            trial.started_at = float(time)
    elif event == "reported":
        metrics = dict(record.get("metrics") or {})
        step = float(record.get("step", 0.0))
        view.reports.append(
            ReportRecord(trial.trial_id, trial.attempt, float(time or 0.0), step, metrics)
        )
        trial.last_metrics = metrics
        trial.last_step = step
        if trial.status is TrialStatus.PENDING:
            trial.status = TrialStatus.RUNNING
    elif event in ("completed", "stopped", "paused"):
        if event == "completed":
            trial.last_metrics.update(record.get("metrics") or {})
        trial.status = {
            "completed": TrialStatus.COMPLETED,
            "stopped": TrialStatus.STOPPED,
            "paused": TrialStatus.PAUSED,
        }[event]
        trial.worker = record.get("worker") or trial.worker
        trial.ended_at = None if time is None else float(time)
    elif event == "failed":
        trial.user_failures += 1
        trial.error = record.get("error")
        _end_or_retry(trial, record, time)
    elif event == "lost":
        if record.get("started", True):
            trial.infra_failures += 1
        if not record.get("retry", False):
            trial.error = (
                f"lost its worker {trial.infra_failures} times (last: {record.get('reason')})"
            )
        _end_or_retry(trial, record, time)
    elif event == "cancelled":
        trial.status = TrialStatus.CANCELLED


def _end_or_retry(trial: Trial, record: Mapping[str, Any], time: Any) -> None:
    if record.get("retry", False):
        trial.attempt += 1  # the next "submitted" record carries the same number
        trial.status = TrialStatus.PENDING
    else:
        trial.status = TrialStatus.FAILED
        trial.ended_at = None if time is None else float(time)


def replay(records: Iterable[Mapping[str, Any]]) -> JournalView:
    """Fold journal records, in order, into a :class:`JournalView`."""
    view = JournalView()
    for record in records:
        view.records += 1
        _apply(view, record)
    return view


def trial_states(records: Iterable[Mapping[str, Any]]) -> dict[int, Trial]:
    """Per-trial state after ``records``: status, attempt, config, last metrics, times."""
    return replay(records).trials


@dataclass(frozen=True)
class ExperimentInfo:
    """The parts of ``experiment.json`` that reading a directory needs."""

    metric: str
    mode: str
    config_names: list[str]
    domain_names: list[str]  # the sampled parameters (the others are constants)
    num_trials: int | None


def read_info(experiment_dir: Path) -> ExperimentInfo:
    """Read ``experiment.json``; a ValueError says what is missing and how to fix it."""
    data = ExperimentDir(experiment_dir).read_info()
    raw_space = data.get("space")
    space: dict[str, Any] = raw_space if isinstance(raw_space, dict) else {}
    try:
        domain_names = list(SearchSpace.from_dict(space).domains) if space else []
    except (ValueError, TypeError):
        domain_names = list(space)
    num_trials = data.get("num_trials")
    return ExperimentInfo(
        metric=data["metric"],
        mode=data.get("mode", "min"),
        config_names=list(space),
        domain_names=domain_names,
        num_trials=num_trials if isinstance(num_trials, int) else None,
    )


def read_view(experiment_dir: Path) -> JournalView:
    """Replay ``journal.jsonl`` of a directory (an empty view if nothing was journaled yet)."""
    path = ExperimentDir(experiment_dir).journal_path
    if not path.is_file():
        return JournalView()
    return replay(read_journal(path))


def result_from_view(view: JournalView, info: ExperimentInfo, experiment_dir: Path) -> Result:
    """A :class:`Result` built from a replayed journal (the search may still be running)."""
    return Result(
        trials_list=list(view.trials.values()),
        reports_list=list(view.reports),
        metric=info.metric,
        mode=info.mode,
        config_names=info.config_names,
        experiment_dir=experiment_dir,
        stop_reason=view.stop_reason,
        interrupted=view.interrupted,
    )


def best_rows(trials: pd.DataFrame, metric: str, mode: str, n: int) -> pd.DataFrame:
    """The ``n`` completed trials with the best ``metric``, best first."""
    if metric not in trials.columns or "status" not in trials.columns:
        return trials.iloc[0:0]
    done = trials[trials["status"] == TrialStatus.COMPLETED.value]
    values = pd.to_numeric(done[metric], errors="coerce")
    done = done.assign(_value=values).dropna(subset=["_value"])
    done = done.sort_values(["_value", "trial_id"], ascending=[mode == "min", True], kind="stable")
    return done.drop(columns="_value").head(n)


def trials_table(experiment_dir: Path, info: ExperimentInfo) -> tuple[pd.DataFrame, str]:
    """The trials table of a directory and where it came from.

    ``trials.csv`` once the search has finished (and the journal has not grown since);
    otherwise replayed from the journal, so a running search or one whose driver died shows
    the same columns.
    """
    directory = ExperimentDir(experiment_dir)
    csv, journal = directory.trials_csv, directory.journal_path
    if csv.is_file() and (not journal.is_file() or csv.stat().st_mtime >= journal.stat().st_mtime):
        return pd.read_csv(csv), str(csv)
    view = read_view(experiment_dir)
    return result_from_view(view, info, experiment_dir).trials, str(journal)
