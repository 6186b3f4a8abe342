"""Multi-fidelity schedulers end to end on a real LocalCluster with worker processes.

The objective (``tests.sched_objectives.trainer``) sleeps per epoch and keeps its progress,
and a record of every epoch it actually ran, in its checkpoint directory. The tests read
those files and the journal to check that stops, pauses, promotions and PBT exploits did
to the worker processes what the scheduler decided.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest

import daskhpo as dh
from daskhpo.dask.backend import trial_dir
from daskhpo.experiment.journal import JOURNAL_NAME
from tests.journal_lines import journal_lines
from tests.sched_objectives import load_checkpoint, trainer

pytestmark = pytest.mark.slow


def checkpoint(experiment_dir: Path, trial_id: int) -> dict[str, Any]:
    return load_checkpoint(trial_dir(experiment_dir, trial_id))


def journal(experiment_dir: Path) -> list[dict[str, Any]]:
    return journal_lines(experiment_dir / JOURNAL_NAME)


def test_a_stopped_trial_really_stops(dask_client, tmp_path):
    space = {"lr": dh.loguniform(1e-4, 1.0), "epochs": 20, "epoch_time": 0.05}
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=8,
        seed=2,
        scheduler={"asha": {"max_resource": 20, "grace_period": 2, "reduction_factor": 3}},
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    records = journal(tmp_path)
    decided_at: dict[int, float] = {}
    last_step: dict[int, float] = {}
    for r in records:
        if r["event"] == "reported":
            last_step[r["trial_id"]] = r["step"]
        elif r["event"] == "decided" and r["decision"] == "STOP":
            decided_at[r["trial_id"]] = last_step[r["trial_id"]]
    stopped = [t.trial_id for t in result.trials_list if t.status is dh.TrialStatus.STOPPED]
    assert stopped, "ASHA stopped nothing"
    reports = result.reports
    for trial_id in stopped:
        ran = [e for _, _, e in checkpoint(tmp_path, trial_id)["executed"]]
        decision = decided_at[trial_id]
        assert ran == list(range(1, len(ran) + 1))
        # the STOP reached the worker (it is read at each report) long before the last epoch;
        # how quickly is a latency, measured in benchmarks/, not asserted here
        assert decision <= ran[-1] < 20
        assert reports[reports["trial_id"] == trial_id]["step"].max() == ran[-1]
    assert result.count("COMPLETED") >= 1


def test_asha_promotion_resumes_paused_trials_from_their_checkpoints(dask_client, tmp_path):
    space = {"lr": dh.loguniform(1e-4, 1.0), "epochs": 9, "epoch_time": 0.02}
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=9,
        seed=0,
        scheduler={"asha": {"max_resource": 9, "reduction_factor": 3, "variant": "promotion"}},
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    trials = result.trials_list
    assert len(trials) == 9
    promoted = [t for t in trials if t.attempt > 0]
    assert promoted, "nothing was promoted"
    assert any(t.status is dh.TrialStatus.COMPLETED for t in promoted)
    for trial in trials:
        ck = checkpoint(tmp_path, trial.trial_id)
        ran = [(attempt, epoch) for _, attempt, epoch in ck["executed"]]
        epochs = [e for _, e in ran]
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {trial.trial_id} redid {ran}"
        assert [a for a, _ in ran] == sorted(a for a, _ in ran)
        # each attempt ran from its start rung to its budget: 0 -> 1, 1 -> 3, 2 -> 9
        per_attempt = collections.Counter(a for a, _ in ran)
        assert per_attempt[0] == 1
        if trial.attempt >= 1:
            assert per_attempt[1] == 2
        if trial.status is dh.TrialStatus.COMPLETED:
            assert epochs[-1] == 9
        else:
            assert trial.status is dh.TrialStatus.PAUSED
    resumed = [r for r in journal(tmp_path) if r["event"] == "resumed"]
    assert {r["budget"] for r in resumed} <= {3.0, None}
    assert len(resumed) == sum(t.attempt for t in trials)


def test_pbt_copies_a_donors_checkpoint_and_explores_its_config(dask_client, tmp_path):
    space = {"lr": dh.loguniform(1e-4, 1.0), "epochs": 12, "epoch_time": 0.03}
    result = dh.tune(
        trainer,
        space,
        metric="loss",
        num_trials=4,
        seed=1,
        scheduler={
            "pbt": {
                "perturbation_interval": 3,
                "population_size": 4,
                "resample_probability": 0.0,
                "max_resource": 12,  # no exploit at the last epoch: the trial completes
            }
        },
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    assert len(result.trials_list) == 4
    assert all(t.status is dh.TrialStatus.COMPLETED for t in result.trials_list)
    config_of: dict[int, dict[str, Any]] = {}
    exploits = []
    for r in journal(tmp_path):
        if r["event"] in ("created", "resumed"):
            donor = r.get("checkpoint_trial_id")
            if donor is not None:
                ratio = r["config"]["lr"] / config_of[donor]["lr"]
                assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2)
                exploits.append((r["trial_id"], r["attempt"], donor))
            config_of[r["trial_id"]] = r["config"]
    assert exploits, "PBT exploited nothing"
    last_exploit = {trial_id: (attempt, donor) for trial_id, attempt, donor in exploits}
    for trial in result.trials_list:
        ck = checkpoint(tmp_path, trial.trial_id)
        # one unbroken chain of epochs 1..12 through the lineage: an exploited trial went on
        # from the donor's epoch, neither from scratch nor from its own last epoch
        assert [e for _, _, e in ck["executed"]] == list(range(1, 13))
        assert ck["lineage"][-1] == trial.trial_id
        if trial.trial_id in last_exploit:
            attempt, donor = last_exploit[trial.trial_id]
            assert donor in ck["lineage"][:-1]
            ran = [e for who, a, e in ck["executed"] if (who, a) == (trial.trial_id, attempt)]
            assert not ran or ran[0] > 1  # it started from the donor's epoch, not epoch 1


EXPERIMENT = """
objective: tests.sched_objectives:trainer
space:
  lr: {loguniform: [1.0e-4, 1.0]}
  epochs: 9
  epoch_time: 0.01
metric: loss
num_trials: 9
seed: 3
scheduler: {asha: {resource: epoch, max_resource: 9, reduction_factor: 3}}
searcher: {optuna: {sampler: tpe}}
"""


def test_an_experiment_file_with_asha_on_epochs_and_optuna_tpe(dask_client, tmp_path):
    pytest.importorskip("optuna", reason="the optuna extra is not installed")
    from daskhpo.experiment.spec import ExperimentSpec

    path = tmp_path / "asha.yaml"
    path.write_text(EXPERIMENT)
    spec = ExperimentSpec.from_file(path, base_dir=Path.cwd())
    result = spec.run(client=dask_client, experiment_dir=tmp_path / "run", progress=False)
    assert len(result.trials_list) == 9
    statuses = collections.Counter(t.status.value for t in result.trials_list)
    assert statuses["STOPPED"] >= 1
    assert statuses["COMPLETED"] >= 1
    reports = result.reports
    for trial in result.trials_list:
        last = reports[reports["trial_id"] == trial.trial_id]["epoch"].max()
        if trial.status is dh.TrialStatus.STOPPED:
            # stopped at a rung (epoch 1 or 3), the STOP landing within an epoch or two
            assert 1 <= last <= 5
