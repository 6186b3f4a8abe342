"""tune() end to end on a real LocalCluster with worker processes."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import daskhpo as dh
from tests import objectives

SPACE = {
    "lr": dh.loguniform(1e-4, 1.0),
    "layers": dh.randint(1, 8),
    "opt": dh.choice(["sgd", "adam", "rmsprop"]),
    "max_epochs": 10,
}


def test_random_search_runs_every_trial_and_finds_the_best(dask_client, tmp_path):
    result = dh.tune(
        objectives.quadratic,
        SPACE,
        metric="loss",
        num_trials=40,
        seed=0,
        client=dask_client,
        experiment_dir=tmp_path,
    )
    df = result.trials
    assert len(df) == 40
    assert set(df["status"]) == {"COMPLETED"}
    assert df["loss"].min() == pytest.approx(result.best_value)
    assert result.best_config is not None
    assert result.best_config["max_epochs"] == 10
    assert {
        "trial_id",
        "status",
        "attempt",
        "config/lr",
        "config/opt",
        "loss",
        "start_time",
        "end_time",
        "worker",
    } <= set(df.columns)
    assert df["worker"].notna().all()
    on_disk = pd.read_csv(tmp_path / "trials.csv")
    assert list(on_disk.columns) == list(df.columns)
    assert len(on_disk) == 40
    # Written without pandas, read back the same as pandas' own CSV of the table.
    pd.testing.assert_frame_equal(on_disk, pd.read_csv(io.StringIO(df.to_csv(index=False))))
    reports = pd.read_csv(tmp_path / "reports.csv")
    assert list(reports.columns) == list(result.reports.columns)


def test_same_seed_same_configurations(dask_client):
    a = dh.tune(
        objectives.quadratic, SPACE, metric="loss", num_trials=12, seed=7, client=dask_client
    )
    b = dh.tune(
        objectives.quadratic, SPACE, metric="loss", num_trials=12, seed=7, client=dask_client
    )
    assert [t.config for t in a.trials_list] == [t.config for t in b.trials_list]


def test_objective_that_raises_is_recorded_and_the_search_goes_on(dask_client):
    space = {"x": dh.choice([-1, 1, 2])}
    result = dh.tune(
        objectives.raises_if_negative, space, metric="x", num_trials=15, seed=1, client=dask_client
    )
    df = result.trials
    failed = df[df["status"] == "FAILED"]
    assert len(failed) > 0
    assert failed["error"].str.contains("RuntimeError: negative x").all()
    assert (df[df["status"] == "COMPLETED"]["x"] > 0).all()


@pytest.mark.parametrize(
    ("objective", "message"),
    [(objectives.returns_nan, "finite number"), (objectives.returns_string, "return a number")],
)
def test_unusable_results_are_user_failures(dask_client, objective, message):
    result = dh.tune(
        objective, {"x": dh.uniform(0, 1)}, metric="loss", num_trials=3, seed=0, client=dask_client
    )
    assert result.count("FAILED") == 3
    assert result.trials["error"].str.contains(message).all()


def test_grid_search_defaults_num_trials_to_the_grid(dask_client):
    space = {"a": dh.grid([1, 2, 3]), "b": dh.grid(["x", "y"]), "c": dh.uniform(0, 1)}
    result = dh.tune(
        lambda c: c["a"] + c["c"], space, metric="v", num_trials=None, seed=0, client=dask_client
    )
    points = [(t.config["a"], t.config["b"]) for t in result.trials_list]
    assert points == [(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]


def test_batch_mode_waits_for_each_batch(dask_client):
    space = {"x": dh.uniform(0, 1), "sleep": dh.choice([0.01, 0.2])}
    result = dh.tune(
        objectives.sleepy,
        space,
        metric="loss",
        num_trials=8,
        seed=3,
        scheduler="batch",
        client=dask_client,
    )
    trials = sorted(result.trials_list, key=lambda t: t.trial_id)
    assert all(t.status is dh.TrialStatus.COMPLETED for t in trials)
    # batches of 2 (the capacity): no trial of batch k+1 is created before batch k ended
    for k in range(1, 4):
        batch_end = max(t.ended_at for t in trials[2 * (k - 1) : 2 * k])
        assert min(t.created_at for t in trials[2 * k : 2 * k + 2]) >= batch_end


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": ""}, "metric"),
        ({"mode": "minimize"}, "mode must be 'min' or 'max'"),
        ({"num_trials": 0}, "num_trials must be a positive integer"),
        ({"num_trials": None}, "num_trials is required"),
        ({"scheduler": "ashaa"}, "unknown scheduler"),
        ({"resources": {"GPU": -1}}, "positive number"),
        ({"time_budget": -5}, "time_budget"),
    ],
)
def test_bad_arguments_fail_before_any_cluster(kwargs, message):
    args = {"metric": "loss", "num_trials": 3, "cluster": "tcp://127.0.0.1:1"} | kwargs
    with pytest.raises(ValueError, match=message):
        dh.tune(objectives.quadratic, SPACE, **args)


def test_resources_no_worker_has_fail_clearly(dask_client):
    with pytest.raises(RuntimeError, match="no worker can run a trial that needs") as info:
        dh.tune(
            objectives.quadratic,
            SPACE,
            metric="loss",
            num_trials=2,
            resources={"GPU": 1},
            client=dask_client,
        )
    message = str(info.value)
    assert "{'GPU': 1.0}" in message
    assert "offering:" in message  # what the workers have
    assert message.count("Start workers that offer these resources") == 1  # the advice, once


def test_every_worker_is_kept_busy(dask_client):
    space = {"x": dh.uniform(0, 1), "sleep": 0.1}
    result = dh.tune(
        objectives.sleepy, space, metric="loss", num_trials=10, seed=0, client=dask_client
    )
    df = result.trials
    assert df["worker"].nunique() == 2
    assert df.groupby("worker").size().min() >= 2  # both shared the work, none sat idle


def _readme_quickstart() -> str:
    """The README's Python quickstart, exactly as written there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    found = re.search(r"## Quickstart \(Python\)\n\n```python\n(.*?)```", readme, re.S)
    assert found is not None, "the README has no Python quickstart"
    return found.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_the_readme_quickstart_runs_as_a_script_without_a_main_guard(tmp_path, how):
    # Worker processes are spawned; were they to run the script again (its main module), each
    # would start a cluster of its own and crash, and a script read from stdin has no file.
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = _readme_quickstart()
    assert "__main__" not in code
    script = tmp_path / "quickstart.py"
    script.write_text(code + 'print("best value", result.best_value)\n')
    root = str(Path(__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    if how == "file":
        done = subprocess.run(
            [sys.executable, script.name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    else:
        with script.open() as stdin:
            done = subprocess.run(
                [sys.executable, "-"],
                stdin=stdin,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "best value" in done.stdout


def test_an_objective_importing_a_missing_module_says_which_and_how_to_fix_it(
    dask_client, tmp_path
):
    result = dh.tune(
        objectives.imports_a_missing_module,
        {"x": dh.uniform(0, 1)},
        metric="loss",
        num_trials=2,
        max_retries=0,
        client=dask_client,
        experiment_dir=tmp_path,
        progress=False,
    )
    assert result.count("FAILED") == 2
    for error in result.trials["error"]:
        last = error.strip().splitlines()[-1]  # what a short view of the error shows
        assert "imports 'daskhpo_test_no_such_package'" in last
        assert "cannot import: install the package that provides it" in last
        assert "pip install daskhpo_test_no_such_package" in last
        assert "ModuleNotFoundError" in error  # the traceback stays, above


def test_report_and_checkpoint_dir_outside_a_trial_warn_once(monkeypatch):
    import warnings

    from daskhpo.dask.worker import reporting

    monkeypatch.setattr(reporting, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            dh.report(step, loss=1.0)
            assert dh.checkpoint_dir().is_dir()
    messages = [str(w.message) for w in caught]
    assert all(w.category is UserWarning for w in caught)
    assert len(messages) == 2, messages
    report, checkpoint = messages  # in the order of the first calls
    assert report.startswith("daskhpo.report() was called outside a trial")
    assert "metrics go nowhere" in report
    assert checkpoint.startswith("daskhpo.checkpoint_dir() was called outside a trial")
    assert "new temporary directory" in checkpoint
    assert {w.filename for w in caught} == {__file__}  # points at the caller's line
