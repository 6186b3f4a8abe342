"""Decisions take effect at the rung, on a real LocalCluster with worker processes.

The objective (``tests.sched_objectives.trainer``) records in its checkpoint directory every
epoch it actually computed, so the tests see what the workers did, not only what was
reported. Without the wait at milestones every stopped trial computes one epoch past its rung.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import daskhpo as dh
from daskhpo import records as rec
from daskhpo.dask.backend import trial_dir
from daskhpo.experiment.journal import JOURNAL_NAME
from daskhpo.tuner import Tuner, TunerStats
from tests.journal_lines import journal_lines
from tests.sched_objectives import load_checkpoint, trainer

pytestmark = pytest.mark.slow


class Stats:
    """Keeps the Tuner's counters at the end of the search."""

    def __init__(self) -> None:
        self.stats: TunerStats | None = None

    def on_step(self, tuner: Tuner) -> None:
        pass

    def on_end(self, tuner: Tuner) -> None:
        self.stats = tuner.stats


class SlowAtRungs(Stats):
    """Holds the driver back for ``delay`` s at each report on a rung, before it answers."""

    def __init__(self, rungs: tuple[float, ...], delay: float) -> None:
        super().__init__()
        self.rungs = rungs
        self.delay = delay

    def on_record(self, record: rec.Record) -> None:
        if isinstance(record, rec.Reported) and record.step in self.rungs:
            time.sleep(self.delay)


def executed(experiment_dir: Path, trial_id: int) -> list[tuple[int, int]]:
    """(attempt, epoch) of every epoch the trial computed."""
    ck = load_checkpoint(trial_dir(experiment_dir, trial_id))
    return [(a, e) for t, a, e in ck["executed"] if t == trial_id]


def journal(experiment_dir: Path) -> list[dict[str, Any]]:
    return journal_lines(experiment_dir / JOURNAL_NAME)


def decided_steps(experiment_dir: Path) -> dict[tuple[int, int], tuple[str, float]]:
    """(trial, attempt) -> (decision, step of the report it was made at)."""
    last: dict[tuple[int, int], float] = {}
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for r in journal(experiment_dir):
        key = (r.get("trial_id"), r.get("attempt"))
        if r["event"] == "reported":
            last[key] = r["step"]  # type: ignore[index]
        elif r["event"] == "decided":
            out[key] = (r["decision"], last[key])  # type: ignore[index]
    return out


def test_a_trial_stopped_at_a_rung_computes_no_epoch_beyond_it(dask_client, tmp_path):
    space = {"lr": dh.loguniform(1e-4, 1.0), "epochs": 9, "epoch_time": 0.05}
    probe = Stats()
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=8,
        seed=2,
        scheduler={"asha": {"max_resource": 9, "grace_period": 1, "reduction_factor": 3}},
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
        callbacks=[probe],
        verdict_timeout=5.0,  # a loaded machine still answers well within this
    )
    stopped = [t.trial_id for t in result.trials_list if t.status is dh.TrialStatus.STOPPED]
    assert stopped, "ASHA stopped nothing"
    decided = decided_steps(tmp_path)
    reports = result.reports
    for trial_id in stopped:
        decision, at = decided[(trial_id, 0)]
        assert decision == "STOP"
        assert at in (1.0, 3.0)
        ran = [e for _, e in executed(tmp_path, trial_id)]
        assert ran == list(range(1, int(at) + 1)), f"trial {trial_id} ran past its rung {at}"
        assert reports[reports["trial_id"] == trial_id]["step"].max() == at
    assert probe.stats is not None
    assert probe.stats.verdict_waits >= len(stopped)
    assert probe.stats.verdict_timeouts == 0
    assert list(result.trials["verdict_timeouts"]) == [0] * len(result.trials)


def test_a_pbt_pause_at_its_perturbation_step_reports_nothing_beyond_it(dask_client, tmp_path):
    space = {"lr": dh.loguniform(1e-3, 1.0), "epochs": 8, "epoch_time": 0.03}
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=6,
        seed=1,
        scheduler={"pbt": {"perturbation_interval": 2, "population_size": 4}},
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
        verdict_timeout=5.0,
    )
    pauses = {k: at for k, (d, at) in decided_steps(tmp_path).items() if d == "PAUSE"}
    assert pauses, "PBT paused nothing"
    reported: dict[tuple[int, int], float] = {}
    for r in journal(tmp_path):
        if r["event"] == "reported":
            key = (r["trial_id"], r["attempt"])
            reported[key] = max(reported.get(key, 0.0), r["step"])
    for (trial_id, attempt), at in pauses.items():
        assert reported[(trial_id, attempt)] == at, f"trial {trial_id} went on past {at}"
    assert result.count("COMPLETED") >= 1


def test_a_verdict_that_does_not_come_in_time_lets_the_trial_go_on_and_is_counted(
    dask_client, tmp_path
):
    space = {"lr": dh.loguniform(1e-4, 1.0), "epochs": 4, "epoch_time": 0.02}
    slow = SlowAtRungs((1.0,), delay=0.4)
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=4,
        seed=0,
        scheduler={"asha": {"max_resource": 4, "grace_period": 1, "reduction_factor": 2}},
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
        callbacks=[slow],
        verdict_timeout=0.05,
    )
    assert slow.stats is not None
    assert slow.stats.verdict_timeouts >= 1
    assert slow.stats.verdict_timeouts <= slow.stats.verdict_waits
    timeouts = result.trials.set_index("trial_id")["verdict_timeouts"]
    assert timeouts.sum() == slow.stats.verdict_timeouts
    for trial_id in timeouts[timeouts > 0].index:
        # it did not wait for the late verdict at its first rung: it computed epoch 2
        assert (0, 2) in executed(tmp_path, int(trial_id))


def test_fifo_reports_never_wait(dask_client, tmp_path):
    probe = Stats()
    result = dh.tune(
        trainer,
        {"lr": dh.loguniform(1e-4, 1.0), "epochs": 3, "epoch_time": 0.0},
        metric="loss",
        num_trials=4,
        seed=0,
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
        callbacks=[probe],
    )
    assert result.count("COMPLETED") == 4
    assert probe.stats is not None
    assert probe.stats.reports == 12
    assert (probe.stats.verdict_waits, probe.stats.verdict_timeouts) == (0, 0)
