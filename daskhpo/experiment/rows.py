"""An experiment's trials table as plain rows (dicts), without pandas.

``daskhpo status`` and ``daskhpo report`` print tables of a few rows; building them from the
view or from the trials CSV in plain Python keeps those commands quick, where importing
pandas alone would take most of a second.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.view import ExperimentInfo, ExperimentView
from daskhpo.results import trials_table
from daskhpo.trial import TrialStatus

Row = dict[str, Any]


def view_rows(view: ExperimentView) -> list[Row]:
    """One row per trial of ``view`` (the columns of the trials CSV), by trial id."""
    info = view.info
    names = info.config_names if info is not None else []
    metrics = [info.metric] if info is not None else []
    _, rows = trials_table(view.trials.values(), names, metrics)
    return rows


def _cell(text: str) -> Any:
    """A CSV field as the value it was written from: empty is None, numbers are numbers."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def read_csv_rows(path: Path) -> list[Row]:
    """The rows of a trials CSV the driver wrote, with numbers parsed."""
    with path.open(newline="", encoding="utf-8") as file:
        return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(file)]


def trial_rows(experiment_dir: Path, info: ExperimentInfo) -> tuple[list[Row], Path]:
    """The trials of a directory and the file they came from.

    The trials CSV once the search has finished (and the journal has not grown since);
    otherwise replayed from the journal, so a running search, or one whose driver died,
    shows the same columns.
    """
    directory = ExperimentDir(experiment_dir)
    table, journal = directory.trials_csv, directory.journal_path
    if table.is_file() and (
        not journal.is_file() or table.stat().st_mtime >= journal.stat().st_mtime
    ):
        return read_csv_rows(table), table
    view = ExperimentView.from_journal(journal, info) if journal.is_file() else ExperimentView(info)
    return view_rows(view), journal


def _value(row: Row, metric: str) -> float | None:
    value = row.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def best_rows(rows: list[Row], metric: str, mode: str, n: int) -> list[Row]:
    """The ``n`` completed trials with the best ``metric``, best first (ties by trial id)."""
    done = [
        (value, row)
        for row in rows
        if row.get("status") == TrialStatus.COMPLETED.value
        and (value := _value(row, metric)) is not None
    ]
    sign = 1.0 if mode == "min" else -1.0
    done.sort(key=lambda pair: (sign * pair[0], pair[1]["trial_id"]))
    return [row for _, row in done[:n]]
