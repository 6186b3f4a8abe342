"""The objective check when no worker is there yet (SLURM jobs still queued, an adaptive
cluster at zero): the search waits for workers instead of timing out, and a worker that cannot
load the objective still stops the search with one clear error, not failed trials."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import daskhpo as dh
from tests import objectives

pytestmark = pytest.mark.slow


@pytest.fixture
def adaptive_from_zero() -> Iterator[object]:
    """A LocalCluster with no worker that starts up to two once there is work."""
    from daskhpo.dask.clusters import start_local_cluster

    cluster = start_local_cluster({"n_workers": 0})
    # Its first decision comes after 2 s: longer than the check timeout the tests set.
    cluster.adapt(minimum=0, maximum=2, interval="2s", wait_count=50)
    try:
        yield cluster
    finally:
        cluster.close()


def _events(experiment_dir: Path) -> list[str]:
    with (experiment_dir / "journal.jsonl").open() as f:
        return [json.loads(line)["event"] for line in f]


def test_a_search_waits_for_workers_that_are_on_their_way(
    adaptive_from_zero, tmp_path, monkeypatch
):
    # The check's timeout counts from the first worker's arrival, not from the start.
    monkeypatch.setattr("daskhpo.dask.objective_check.CHECK_TIMEOUT", 1.0)
    result = dh.tune(
        objectives.quadratic,
        {"lr": dh.loguniform(1e-4, 1.0), "layers": dh.randint(1, 8)},
        metric="loss",
        num_trials=6,
        seed=0,
        cluster=adaptive_from_zero,
        experiment_dir=tmp_path / "exp",
        progress=False,
    )
    assert result.count("COMPLETED") == 6


def test_a_late_worker_that_cannot_load_the_objective_stops_the_search_clearly(
    adaptive_from_zero, tmp_path, monkeypatch
):
    # Loaded from a file, not from sys.path: the workers (spawned later, with the driver's
    # sys.path) cannot import it.
    path = tmp_path / "late_objective.py"
    path.write_text("def objective(config):\n    return 1.0\n")
    spec = importlib.util.spec_from_file_location("late_objective", path)
    assert spec is not None
    assert spec.loader is not None
    late_objective = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "late_objective", late_objective)
    spec.loader.exec_module(late_objective)
    monkeypatch.setattr("daskhpo.dask.objective_check.CHECK_TIMEOUT", 1.0)

    with pytest.raises(RuntimeError, match="cannot load the objective 'objective'"):
        dh.tune(
            late_objective.objective,
            {"x": dh.uniform(0, 1)},
            metric="loss",
            num_trials=20,
            cluster=adaptive_from_zero,
            experiment_dir=tmp_path / "exp",
            progress=False,
        )
    events = _events(tmp_path / "exp")
    assert "failed" not in events
    assert "completed" not in events
    assert events[-1] == "end"
