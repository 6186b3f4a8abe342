"""Journals of simulated searches, laid out as ``tune()`` lays out an experiment directory.

The records come through the real Tuner's journal, so they have every record a real driver
writes, on a clock whose every duration is known.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daskhpo.experiment.journal import Journal
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.cluster import ClusterSpec


def simulated_experiment(
    directory: Path,
    workload: Any,
    space: SearchSpace,
    *,
    trials: int,
    workers: int | ClusterSpec = 2,
    scheduler: Any = "fifo",
    seed: int = 0,
) -> tuple[Path, float]:
    """Run a search on the simulator with a journal, as ``tune()`` would lay it out; returns
    the directory and the simulated makespan."""
    directory.mkdir(parents=True, exist_ok=True)
    backend = SimBackend(workload, workers, seed=seed)
    journal = Journal(directory / "journal.jsonl")
    tuner = Tuner(
        settings=TuneSettings(metric=workload.metric, num_trials=trials, seed=seed),
        backend=backend,
        space=space,
        scheduler=make_scheduler(scheduler),
        searcher=make_searcher(None, space),
        journal=journal,
    )
    tuner.run()
    backend.close()
    journal.close()
    info = {
        "metric": workload.metric,
        "mode": "min",
        "space": space.to_dict(),
        "num_trials": trials,
        "seed": seed,
        "resources": {},
    }
    (directory / "experiment.json").write_text(json.dumps(info))
    if scheduler != "fifo":  # as `daskhpo run` keeps it
        (directory / "experiment.yaml").write_text(json.dumps({"scheduler": scheduler}))
    assert backend.end_time is not None
    return directory, backend.end_time
