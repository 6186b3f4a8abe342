"""The torch example trains for real, checkpoints, and resumes after a kill or a promotion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest

import daskhpo as dh
from tests.journal_lines import journal_lines

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from daskhpo.examples import torch_classifier as tc  # noqa: E402

GOOD = {"lr": 0.05, "momentum": 0.9, "hidden": 32, "batch_size": 16}


def _steps_by_attempt(reports: pd.DataFrame, trial_id: int) -> dict[int, list[float]]:
    mine = reports[reports["trial_id"] == trial_id].sort_values("time")
    return {int(a): list(g["step"]) for a, g in mine.groupby("attempt")}


@pytest.mark.slow
def test_trains_well_above_chance_and_checkpoints(dask_client, tmp_path):
    result = dh.tune(
        tc.train,
        {**GOOD, "hidden": dh.choice([32, 64]), "max_epochs": 6},
        metric="val_loss",
        num_trials=2,
        seed=0,
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    df = result.trials
    assert list(df["status"]) == ["COMPLETED", "COMPLETED"]
    assert (df["accuracy"] > 0.8).all()  # chance is 0.1 on ten digits
    for trial_id in (0, 1):
        steps = _steps_by_attempt(result.reports, trial_id)
        assert steps == {0: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
        curve = result.reports[result.reports["trial_id"] == trial_id]["val_loss"]
        assert curve.iloc[-1] < curve.iloc[0]
        saved = torch.load(
            tmp_path / "trials" / f"trial_{trial_id:05d}" / tc.CHECKPOINT_NAME, weights_only=False
        )
        assert saved["epoch"] == 6
        assert set(saved) >= {"model", "optimizer", "torch_rng", "numpy_rng"}


class KillWhenCheckpointed(threading.Thread):
    """SIGKILLs the worker running trial 0 once the trial has saved a checkpoint."""

    def __init__(self, client, checkpoint: Path) -> None:
        super().__init__(daemon=True)
        self.client, self.checkpoint = client, checkpoint
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while self.killed is None and not self.stop.wait(0.01):
            if not self.checkpoint.exists():
                continue
            try:
                busy = [
                    addr
                    for addr, keys in self.client.processing().items()
                    if any(str(k).startswith("daskhpo-trial-0-0-") for k in keys)
                ]
                pids = self.client.run(os.getpid, workers=busy) if busy else {}
            except Exception:  # a worker changing state right now: look again
                continue
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)
                self.killed = pid


@pytest.mark.slow
def test_resumes_from_its_checkpoint_after_a_worker_is_sigkilled(own_cluster, tmp_path):
    config = {**GOOD, "max_epochs": 24}
    own_cluster.run(tc.load_data)  # import torch and read the data on both workers at once
    killer = KillWhenCheckpointed(
        own_cluster, tmp_path / "trials" / "trial_00000" / tc.CHECKPOINT_NAME
    )
    killer.start()
    try:
        result = dh.tune(
            tc.train,
            config,
            metric="val_loss",
            num_trials=1,
            seed=0,
            client=own_cluster,
            experiment_dir=tmp_path,
            progress=False,
        )
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed is not None
    row = result.trials.iloc[0]
    assert row["status"] == "COMPLETED"
    assert (row["attempt"], row["infra_failures"], row["user_failures"]) == (1, 1, 0)
    # The new attempt started after the checkpointed epoch, not from scratch...
    resumed_from = int(row["resumed_from"])
    assert 1 <= resumed_from < 24
    steps = _steps_by_attempt(result.reports, 0)
    assert steps[1] == [float(s) for s in range(resumed_from + 1, 25)]
    assert max(steps[0]) >= resumed_from
    # ... and the checkpoint held everything: the model ends exactly where an uninterrupted
    # run of the same trial ends (same weights, optimizer momentum, data order).
    with warnings.catch_warnings():  # run by hand: daskhpo says so, once per process
        warnings.filterwarnings("ignore", message=".*outside a trial", category=UserWarning)
        uninterrupted = tc.train(dict(config))
    assert uninterrupted["resumed_from"] == 0
    assert row["val_loss"] == pytest.approx(uninterrupted["val_loss"], rel=1e-6)
    assert row["accuracy"] == pytest.approx(uninterrupted["accuracy"])


def test_promoted_trials_continue_from_their_checkpoints(dask_client, tmp_path):
    result = dh.tune(
        tc.train,
        {**tc.SPACE, "max_epochs": 9},
        metric="val_loss",
        num_trials=9,
        seed=1,
        scheduler=tc.make_scheduler("asha-promotion", max_epochs=9, population=9),
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    df = result.trials.set_index("trial_id")
    promoted = df[df["attempt"] >= 1]
    assert len(promoted) >= 3  # the top third of rung 1 went on to rung 3
    for trial_id in promoted.index:
        steps = _steps_by_attempt(result.reports, trial_id)
        for attempt in range(1, int(df.loc[trial_id, "attempt"]) + 1):
            # Each promotion picks up after the epoch it paused at.
            assert steps[attempt][0] == steps[attempt - 1][-1] + 1
    # ASHA promotes whoever is in the top third of a rung when a slot frees, so one or more
    # trials reach the last epoch; each did so in an attempt that trained epochs 4 to 9.
    finished = df[df["last_step"] == 9]
    assert len(finished) >= 1
    assert (finished["resumed_from"] == 3).all()
    assert (finished["attempt"] == 2).all()
    assert set(df.drop(finished.index)["status"]) == {"PAUSED"}


def test_asha_stopping_ends_poor_trials_early(dask_client, tmp_path):
    result = dh.tune(
        tc.train,
        {**tc.SPACE, "max_epochs": 9},
        metric="val_loss",
        num_trials=9,
        seed=2,
        scheduler=tc.make_scheduler("asha", max_epochs=9, population=9),
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    df = result.trials
    early = df[(df["status"] == "STOPPED") & (df["last_step"] < 9)]
    assert len(early) >= 3  # poor trials end at a rung, before their last epoch
    assert (df["last_step"] == 9).any()  # and the good ones train on


def test_pbt_exploits_resume_from_the_donors_checkpoint(dask_client, tmp_path):
    result = dh.tune(
        tc.train,
        {**tc.SPACE, "max_epochs": 8},
        metric="val_loss",
        num_trials=4,
        seed=3,
        scheduler=tc.make_scheduler("pbt", max_epochs=8, population=4),
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    records = journal_lines(tmp_path / "journal.jsonl")
    exploits = [
        r for r in records if r["event"] == "resumed" and r["checkpoint_trial_id"] is not None
    ]
    assert exploits
    for record in exploits:
        steps = _steps_by_attempt(result.reports, record["trial_id"]).get(record["attempt"])
        # The exploited attempt starts from the donor's epoch, not from scratch (it reports
        # nothing when the donor had already trained every epoch).
        assert steps is None or steps[0] > 1, record
    assert result.count("COMPLETED") == 4


def test_command_line_runs_a_promotion_search(dask_client, tmp_path, capsys):
    address = dask_client.scheduler.address
    args = ["--scheduler", "asha-promotion", "--trials", "3", "--epochs", "3"]
    plot = tmp_path / "report.png"
    result = tc.main(
        [
            *args,
            "--cluster",
            address,
            "--dir",
            str(tmp_path / "exp"),
            "--quiet",
            "--plot",
            str(plot),
        ]
    )
    out = capsys.readouterr().out
    assert "Result(3 trials" in out
    assert plot.stat().st_size > 10_000
    assert f"experiment directory: {tmp_path / 'exp'}" in out
    assert result.best_config is not None
    assert (tmp_path / "exp" / "trials.csv").is_file()


def test_the_module_runs_as_a_script():
    out = subprocess.run(
        [sys.executable, "-m", "daskhpo.examples.torch_classifier", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "--scheduler {asha,asha-promotion,pbt,fifo}" in out.stdout


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(SystemExit):
        tc.main(["--trials", "0"])
    with pytest.raises(SystemExit):
        tc.main(["--cluster", "tcp://127.0.0.1:1", "--workers", "2"])
    with pytest.raises(ValueError, match="'hyperband'"):
        tc.make_scheduler("hyperband", max_epochs=9, population=4)
