"""What a search leaves behind: trials and reports as DataFrames, the best trial, exports.

pandas loads when a DataFrame is first asked for: the tables as plain rows
(:func:`trials_table`, :func:`reports_table`) and the CSV files need none, so reading an
experiment (``daskhpo status``) stays quick.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhpo.trial import Trial, TrialStatus, better

if TYPE_CHECKING:
    import pandas as pd

    from daskhpo.tuner import ReportRecord

#: Columns every trials table starts with, in this order; then ``config/<name>`` per
#: hyperparameter, then the metrics.
TRIAL_COLUMNS = [
    "trial_id",
    "status",
    "attempt",
    "user_failures",
    "infra_failures",
    "verdict_timeouts",
    "created_at",
    "start_time",
    "end_time",
    "duration_s",
    "worker",
    "last_step",
    "error",
]


def trials_table(
    trials: Iterable[Trial], config_names: Sequence[str], metric_names: Sequence[str] = ()
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the trials table (see :func:`trials_frame`)."""
    trials = list(trials)
    rows: list[dict[str, Any]] = []
    metrics_seen: dict[str, None] = dict.fromkeys(metric_names)
    for t in trials:
        for name in t.last_metrics:
            metrics_seen.setdefault(name, None)
    for t in sorted(trials, key=lambda t: t.trial_id):
        duration = (
            t.ended_at - t.started_at
            if t.ended_at is not None and t.started_at is not None
            else None
        )
        row: dict[str, Any] = {
            "trial_id": t.trial_id,
            "status": t.status.value,
            "attempt": t.attempt,
            "user_failures": t.user_failures,
            "infra_failures": t.infra_failures,
            "verdict_timeouts": t.verdict_timeouts,
            "created_at": t.created_at,
            "start_time": t.started_at,
            "end_time": t.ended_at,
            "duration_s": duration,
            "worker": t.worker,
            "last_step": t.last_step,
            "error": t.error,
        }
        for name in config_names:
            value = t.config.get(name)
            row[f"config/{name}"] = value if _scalar(value) else repr(value)
        for name in metrics_seen:
            row[name] = t.last_metrics.get(name)
        rows.append(row)
    columns = [*TRIAL_COLUMNS, *(f"config/{n}" for n in config_names), *metrics_seen]
    return columns, rows


def trials_frame(
    trials: Iterable[Trial], config_names: Sequence[str], metric_names: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per trial: status, attempts, times, ``config/<name>`` and metric columns."""
    import pandas as pd

    columns, rows = trials_table(trials, config_names, metric_names)
    return pd.DataFrame(rows, columns=columns)


def reports_table(reports: Iterable[ReportRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the reports table (see :func:`reports_frame`)."""
    rows = [
        {"trial_id": r.trial_id, "attempt": r.attempt, "time": r.time, "step": r.step, **r.metrics}
        for r in reports
    ]
    columns: dict[str, None] = dict.fromkeys(["trial_id", "attempt", "time", "step"])
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns), rows


def reports_frame(reports: Iterable[ReportRecord]) -> pd.DataFrame:
    """One row per intermediate report: trial, attempt, time, step and each metric."""
    import pandas as pd

    columns, rows = reports_table(reports)
    return pd.DataFrame(rows, columns=columns)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    """A table as CSV the way pandas writes it (missing values empty), without building a
    DataFrame: a search's results are on disk at once even where pandas is cold."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_value(row.get(column)) for column in columns] for row in rows)
    return path


def _csv_value(value: Any) -> Any:
    """NaN and missing values are written as empty fields, as pandas writes them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


@dataclass
class Result:
    """The outcome of a search. ``trials`` and ``reports`` are pandas DataFrames."""

    trials_list: list[Trial]
    reports_list: list[ReportRecord]
    metric: str
    mode: str
    config_names: list[str]
    experiment_dir: Path | None = None
    stop_reason: str | None = None
    interrupted: bool = False
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial (see :data:`TRIAL_COLUMNS`)."""
        if "trials" not in self._frames:
            self._frames["trials"] = trials_frame(
                self.trials_list, self.config_names, [self.metric]
            )
        return self._frames["trials"]

    @property
    def reports(self) -> pd.DataFrame:
        """One row per intermediate report (long format)."""
        if "reports" not in self._frames:
            self._frames["reports"] = reports_frame(self.reports_list)
        return self._frames["reports"]

    @property
    def best_trial(self) -> Trial | None:
        """The completed trial with the best final metric.

        Like Optuna's ``best_trial``, trials stopped or paused by a scheduler do not count:
        their last values were measured at a lower fidelity. Only when no trial completed
        does the best last value of a stopped or paused trial stand in.
        """
        return self._best_of({TrialStatus.COMPLETED}) or self._best_of(
            {TrialStatus.STOPPED, TrialStatus.PAUSED}
        )

    def _best_of(self, statuses: set[TrialStatus]) -> Trial | None:
        best: Trial | None = None
        best_value: float | None = None
        for t in self.trials_list:
            if t.status not in statuses:
                continue
            value = t.metric_value(self.metric)
            if value is not None and (best_value is None or better(value, best_value, self.mode)):
                best, best_value = t, value
        return best

    @property
    def best_config(self) -> dict[str, Any] | None:
        best = self.best_trial
        return None if best is None else dict(best.config)

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.metric_value(self.metric)

    def count(self, status: TrialStatus | str) -> int:
        """How many trials ended with ``status``."""
        wanted = TrialStatus(status)
        return sum(1 for t in self.trials_list if t.status is wanted)

    def to_csv(self, path: str | Path) -> Path:
        """Write the trials table as CSV."""
        columns, rows = trials_table(self.trials_list, self.config_names, [self.metric])
        return write_csv(Path(path), columns, rows)

    def reports_to_csv(self, path: str | Path) -> Path:
        """Write the reports table as CSV."""
        columns, rows = reports_table(self.reports_list)
        return write_csv(Path(path), columns, rows)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the trials table as Parquet (needs pyarrow: ``pip install daskhpo[parquet]``)."""
        path = Path(path)
        try:
            self.trials.to_parquet(path, index=False)
        except ImportError as exc:
            raise ImportError(
                "writing Parquet needs pyarrow: pip install 'daskhpo[parquet]'"
            ) from exc
        return path

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{s.value.lower()}={self.count(s)}" for s in TrialStatus if self.count(s)
        )
        return (
            f"Result({len(self.trials_list)} trials: {counts}; best {self.metric}="
            f"{self.best_value!r})"
        )
