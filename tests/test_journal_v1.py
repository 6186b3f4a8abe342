"""Journals of schema version 1 read forever: the committed ``tests/data/journal-v1`` (written by
``tests/data/make_journal_v1.py``), and that journal torn at the end or cut at the start."""

from __future__ import annotations

import collections
import csv
import shutil
from pathlib import Path
from typing import Any

import pytest

from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.view import ExperimentView, read_info
from daskhpo.trial import TrialStatus

DATA = Path(__file__).resolve().parent / "data" / "journal-v1"


def _csv_rows() -> dict[int, dict[str, str]]:
    """The trials table the driver of that search wrote when it ended."""
    with ExperimentDir(DATA).trials_csv.open(newline="", encoding="utf-8") as f:
        return {int(row["trial_id"]): row for row in csv.DictReader(f)}


def _same(cell: str, value: Any) -> bool:
    if value is None:
        return cell == ""
    if isinstance(value, float):
        return float(cell) == pytest.approx(value)
    return cell == str(value)


@pytest.fixture(scope="module")
def view() -> ExperimentView:
    return ExperimentView.from_directory(DATA)


def test_the_experiment_settings(view: ExperimentView) -> None:
    info = read_info(DATA)
    assert (info.metric, info.mode, info.num_trials) == ("loss", "min", 60)
    assert info.domain_names == ["x", "long"]  # epoch_time is a constant
    assert view.info == info
    assert view.version == 1  # no header line: version 1


def test_how_the_search_ended(view: ExperimentView) -> None:
    assert view.ended
    assert view.stop_reason == "time budget of 5 s used"
    assert not view.interrupted
    assert view.last_time == pytest.approx(5.063704678000022)
    assert view.records == 416  # every line of the journal


def test_trials_and_statuses(view: ExperimentView) -> None:
    assert sorted(view.trials) == list(range(40))
    assert view.counts() == {"PAUSED": 33, "COMPLETED": 1, "STOPPED": 4, "CANCELLED": 2}
    stopped = [t for t, trial in view.trials.items() if trial.status is TrialStatus.STOPPED]
    assert stopped == [3, 5, 16, 20]
    assert view.trials[39].status is TrialStatus.CANCELLED
    assert view.trials[39].attempt == 0
    assert view.trials[39].started_at is not None  # it had started when the budget ran out


def test_the_view_agrees_with_the_table_the_driver_wrote(view: ExperimentView) -> None:
    rows = _csv_rows()
    assert sorted(rows) == sorted(view.trials)
    for trial_id, trial in view.trials.items():
        row = rows[trial_id]
        assert row["status"] == trial.status.value, trial_id
        for column, value in [
            ("attempt", trial.attempt),
            ("user_failures", trial.user_failures),
            ("infra_failures", trial.infra_failures),
            ("created_at", trial.created_at),
            ("start_time", trial.started_at),
            ("end_time", trial.ended_at),
            ("worker", trial.worker),
            ("last_step", trial.last_step),
            ("loss", trial.last_metrics.get("loss")),
            ("config/x", trial.config["x"]),
        ]:
            assert _same(row[column], value), (trial_id, column, row[column], value)


def test_attempts_of_a_retried_failure_and_of_promotions(view: ExperimentView) -> None:
    first, *later = view.history(1)
    assert (first.attempt, first.outcome, first.retried) == (0, "FAILED", True)
    assert "RuntimeError: trial 1 fails in its first attempt" in (first.error or "")
    assert [a.attempt for a in later] == [1]
    assert (later[0].outcome, later[0].decision, later[0].budget) == ("PAUSED", "PAUSE", 1.0)
    assert view.trials[1].user_failures == 1

    promoted = view.history(23)  # paused at rungs 1 and 3, then ran to the end
    assert [(a.attempt, a.outcome, a.budget) for a in promoted] == [
        (0, "PAUSED", 1.0),
        (1, "PAUSED", 3.0),
        (2, "COMPLETED", None),
    ]
    assert [r.step for r in promoted[1].reports] == [2.0, 3.0]
    assert promoted[2].metrics == {"loss": pytest.approx(0.14467551995420075)}
    for a in promoted:
        assert a.submitted_at is not None
        assert a.submitted_at <= (a.started_at or 0) <= (a.ended_at or 0)
        assert a.config == view.trials[23].config

    stopped = view.history(5)[-1]
    assert (stopped.decision, stopped.outcome) == ("STOP", "STOPPED")
    assert max(r.step for r in stopped.reports) > 9  # reported beyond max_resource


def test_attempts_add_up_to_the_journal(view: ExperimentView) -> None:
    ran = view.ran()
    assert len(ran) == 62  # one per "started" record
    outcomes = collections.Counter(a.outcome for a in ran)
    assert outcomes == {"PAUSED": 54, "STOPPED": 4, "FAILED": 1, "COMPLETED": 1, "CANCELLED": 2}
    assert len(view.reports) == 110
    assert sum(len(a.reports) for a in ran) == 110
    assert {a.worker for a in ran} == {"tcp://127.0.0.1:41145", "tcp://127.0.0.1:45293"}


def test_the_best_trial(view: ExperimentView) -> None:
    best = view.best_trial()
    assert best is not None
    assert best.trial_id == 23  # completed; stopped trials' lower values were at other levels
    assert view.result().best_value == pytest.approx(0.14467551995420075)


def _copy_with_journal(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "exp"
    directory.mkdir()
    shutil.copy(ExperimentDir(DATA).info_path, directory)
    ExperimentDir(directory).journal_path.write_text(text, encoding="utf-8")
    return directory


def test_a_torn_last_line_is_ignored(tmp_path: Path, view: ExperimentView) -> None:
    lines = ExperimentDir(DATA).journal_path.read_text(encoding="utf-8").splitlines(True)
    torn = "".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]  # the "end" record, half
    cut = ExperimentView.from_directory(_copy_with_journal(tmp_path, torn))
    assert cut.records == view.records - 1
    assert not cut.ended  # the driver died before it could end the search
    assert cut.counts() == view.counts()


def test_a_journal_cut_at_the_start_still_reads(tmp_path: Path, view: ExperimentView) -> None:
    text = ExperimentDir(DATA).journal_path.read_text(encoding="utf-8")
    lines = text.splitlines(True)
    keep = lines[100:]
    cut_text = lines[99][len(lines[99]) // 2 :] + "".join(keep)  # starts mid-line
    cut = ExperimentView.from_directory(_copy_with_journal(tmp_path, cut_text))
    assert cut.records == len(keep)
    assert cut.ended
    assert set(cut.trials) <= set(view.trials)
    headless = [t for t in cut.trials.values() if not t.config]
    assert headless  # their "created" was cut off
    assert len(headless) < len(cut.trials)
    for trial in cut.trials.values():
        if trial.status is not TrialStatus.PENDING:
            assert trial.status == view.trials[trial.trial_id].status
    assert cut.best_trial() is not None
