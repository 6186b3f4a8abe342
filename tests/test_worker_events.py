"""Trials' start and end events: sent by daskhpo's worker plugin, or by the trial itself on a
worker without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import daskhpo as dh
from daskhpo.dask.backend import DaskBackend
from daskhpo.dask.worker import events
from tests import objectives
from tests.journal_lines import journal_lines


def _has_plugin(dask_worker: Any) -> bool:
    return events.PLUGIN_NAME in dask_worker.plugins


def _search(client: Any, directory: Path) -> dh.Result:
    return dh.tune(
        objectives.sleepy,
        {"x": dh.uniform(-1, 1), "sleep": 0.05},
        metric="loss",
        num_trials=6,
        seed=0,
        client=client,
        experiment_dir=directory,
        progress=False,
    )


def _check_events(result: dh.Result, directory: Path) -> None:
    df = result.trials
    assert list(df["status"]) == ["COMPLETED"] * 6
    assert df["worker"].str.startswith("tcp://").all()
    assert (df["start_time"] < df["end_time"]).all()
    kinds = [r["event"] for r in journal_lines(directory / "journal.jsonl")]
    assert kinds.count("started") == kinds.count("completed") == 6


def test_the_worker_plugin_sends_start_and_end(own_cluster, tmp_path):
    result = _search(own_cluster, tmp_path)
    assert all(own_cluster.run(_has_plugin).values())
    _check_events(result, tmp_path)


def test_without_the_plugin_trials_send_their_own_events(own_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(DaskBackend, "register_plugin", lambda self: None)
    result = _search(own_cluster, tmp_path)
    assert not any(own_cluster.run(_has_plugin).values())
    _check_events(result, tmp_path)


def test_a_trial_key_names_its_search_topic():
    key = events.trial_key(12, 3, "ab12cd34")
    assert key.startswith(events.KEY_PREFIX)
    assert events.topic_of(key) == "daskhpo-ab12cd34"
