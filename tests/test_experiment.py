"""Experiment files: validation before any cluster, objective import, shipping, journal replay."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import daskhpo as dh
from daskhpo.dask.clusters import ClusterError
from daskhpo.errors import ExperimentError, SettingsError
from daskhpo.experiment.imports import ship_modules
from daskhpo.experiment.journal import JOURNAL_NAME
from daskhpo.experiment.run import load_saved_spec, prepare_resume, prepare_run, run_experiment
from daskhpo.experiment.spec import ExperimentSpec
from daskhpo.experiment.view import ExperimentView
from daskhpo.settings import TuneSettings
from daskhpo.trial import TrialStatus
from tests import objectives

#: A scheduler address nothing listens on: an experiment that got as far as connecting would
#: fail with "cannot reach" (after a 10 s timeout) instead of the validation error expected.
UNREACHABLE = "tcp://127.0.0.1:1"
#: An address that fails at once when connected to (positive control for the above).
FAILS_FAST = "inproc://127.0.0.1/99999/1"

OBJECTIVE_MODULE = """
import os

from objhelpers import penalty

THRESHOLD = 3


def objective(config):
    return {"loss": (config["x"] - 1.0) ** 2 + penalty(config["n"]), "pid": os.getpid()}


not_a_function = 42
"""
HELPER_MODULE = """
def penalty(n):
    return 0.5 * n
"""


def experiment(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "objective": "objmod:objective",
        "space": {"x": {"uniform": [-2.0, 2.0]}, "n": {"randint": [0, 3]}, "tag": "t"},
        "metric": "loss",
        "mode": "min",
        "num_trials": 12,
        "seed": 0,
        "cluster": {"address": UNREACHABLE},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    """A directory with an objective module and its helper, on nobody's path."""
    directory = tmp_path / "exp"
    directory.mkdir()
    (directory / "objmod.py").write_text(OBJECTIVE_MODULE)
    (directory / "objhelpers.py").write_text(HELPER_MODULE)
    return directory


def write(directory: Path, data: dict[str, Any] | str) -> Path:
    path = directory / "experiment.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def fails(directory: Path, data: dict[str, Any] | str) -> str:
    """Parse and run the experiment; return the message of the ExperimentError it raises."""
    path = write(directory, data)
    with pytest.raises(ExperimentError) as info:
        run_experiment(ExperimentSpec.from_file(path), experiment_dir=directory / "run")
    message = str(info.value)
    assert "cannot reach" not in message
    return message


# --------------------------------------------------------------------------- valid files


def test_issue_example_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        textwrap.dedent(
            """\
            # experiment.yaml
            objective: quadratic:objective      # module:function
            space:
              lr: {loguniform: [1.0e-4, 1.0]}
              layers: {randint: [1, 8]}
              opt: {choice: [sgd, adam, rmsprop]}
              max_epochs: 10
            metric: loss
            mode: min
            num_trials: 200
            seed: 0
            cluster: {local: {n_workers: 2}}
            """
        ),
    )
    spec = ExperimentSpec.from_file(path)
    assert spec.objective == "quadratic:objective"
    assert spec.space == dh.SearchSpace(
        {
            "lr": dh.loguniform(1e-4, 1.0),
            "layers": dh.randint(1, 8),
            "opt": dh.choice(["sgd", "adam", "rmsprop"]),
            "max_epochs": 10,
        }
    )
    settings = spec.settings
    assert (settings.metric, settings.mode, settings.num_trials, settings.seed) == (
        "loss",
        "min",
        200,
        0,
    )
    assert spec.cluster == {"local": {"n_workers": 2}}
    assert spec.base_dir == tmp_path.resolve()


def test_all_keys_and_round_trip(exp_dir: Path) -> None:
    data = experiment(
        scheduler={"batch": {"batch_size": 2}},
        searcher="random",
        resources={"GPU": 1},
        gpus_per_trial=1,
        max_concurrent=3,
        max_retries=2,
        max_worker_losses=1,
        time_budget="1e3",  # YAML 1.1 reads 1e3 as a string
        target=0.5,
        name="my-exp",
        experiment_dir="runs/here",
    )
    spec = ExperimentSpec.from_file(write(exp_dir, data))
    assert spec.settings.time_budget == 1000.0
    assert spec.settings.resources == {"GPU": 1.0}
    assert spec.experiment_dir == exp_dir.resolve() / "runs" / "here"
    again = ExperimentSpec.from_mapping(spec.to_mapping(), base_dir=exp_dir)
    assert again.to_mapping() == spec.to_mapping()
    assert again.space == spec.space


def test_overrides(exp_dir: Path) -> None:
    spec = ExperimentSpec.from_file(write(exp_dir, experiment(cluster={"local": {"n_workers": 3}})))
    changed = spec.with_overrides(trials=5, workers=2)
    assert changed.settings.num_trials == 5
    assert changed.cluster == {"local": {"n_workers": 2}}
    default_cluster = ExperimentSpec.from_file(write(exp_dir, experiment(cluster="local")))
    assert default_cluster.with_overrides(workers=1).cluster == {"local": {"n_workers": 1}}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"num_trial": 20},
            ["unknown key 'num_trial'", "did you mean 'num_trials'?", "Known keys:", "seed"],
        ),
        ({"colour": "red"}, ["unknown key 'colour'", "Known keys:"]),
        ({"num_trials": 0}, ["num_trials", "positive integer", "got 0"]),
        ({"num_trials": "20"}, ["num_trials", "got '20' (str)"]),
        ({"num_trials": None}, ["num_trials is missing"]),
        ({"mode": "maximum"}, ["mode", "'maximum'", "'min' or 'max'"]),
        ({"metric": ""}, ["metric", "non-empty string"]),
        ({"objective": "objmod.objective"}, ["'module:function'", "'objmod.objective'"]),
        ({"objective": None}, ["required key 'objective' is missing"]),
        (
            {"space": {"x": {"logunifrm": [1, 2]}}},
            ["space", "parameter 'x'", "unknown domain 'logunifrm'", "did you mean 'loguniform'"],
        ),
        ({"space": {"x": {"uniform": [2.0, 1.0]}}}, ["parameter 'x'", "low=2.0, high=1.0"]),
        ({"space": {"x": {"loguniform": [0, 1]}}}, ["parameter 'x'", "low=0"]),
        ({"space": {"x": {"choice": []}}}, ["parameter 'x'", "choice", "at least one value"]),
        ({"cluster": {"mainframe": {}}}, ["cluster", "'mainframe'", "local"]),
        ({"cluster": {"local": {"n_workers": 0}}}, ["cluster.local.n_workers", "got 0"]),
        ({"scheduler": "fifoo"}, ["scheduler", "'fifoo'", "did you mean 'fifo'"]),
        ({"searcher": {"random": {"nope": 1}}}, ["searcher", "'random'"]),
        ({"resources": {"GPU": -1}}, ["resources", "'GPU'", "-1"]),
        ({"resources": {"GPU": 1}, "gpus_per_trial": 2}, ["gpus_per_trial=2", "contradicts"]),
        ({"seed": -3}, ["seed", "-3"]),
        ({"max_retries": 1.5}, ["max_retries", "1.5"]),
        ({"time_budget": "soon"}, ["time_budget", "'soon'"]),
        ({"name": "a/b"}, ["name", "'a/b'"]),
    ],
)
def test_bad_keys_fail_before_any_cluster(
    exp_dir: Path, change: dict[str, Any], expected: list[str]
) -> None:
    data = experiment()
    data.update(change)
    message = fails(exp_dir, {k: v for k, v in data.items() if v is not None})
    assert str(exp_dir / "experiment.yaml") in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("queue_depth", -1),
        ("max_worker_losses", "x"),
        ("startup_timeout", 0),
        ("target", "inf"),
        ("trial_timeout", -5),
    ],
)
def test_settings_are_checked_by_tune_settings(exp_dir: Path, key: str, value: Any) -> None:
    """The file's settings get TuneSettings' own message, with the file in front."""
    with pytest.raises(SettingsError) as expected:
        TuneSettings(metric="loss", **{key: float(value) if key == "target" else value})
    message = fails(exp_dir, experiment(**{key: value}))
    assert message.startswith(f"{exp_dir / 'experiment.yaml'}: {expected.value}")


def test_the_spec_holds_tune_settings(exp_dir: Path) -> None:
    spec = ExperimentSpec.from_file(
        write(exp_dir, experiment(queue_depth=2, gpus_per_trial=1, trial_timeout=600))
    )
    assert spec.settings == TuneSettings(
        metric="loss",
        mode="min",
        num_trials=12,
        seed=0,
        queue_depth=2,
        gpus_per_trial=1,
        trial_timeout=600,
    )
    assert spec.settings.resources == {"GPU": 1.0}
    assert spec.to_mapping()["queue_depth"] == 2
    assert "max_retries" not in spec.to_mapping()  # defaults are left out of the saved copy


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("objective: a:b\nspace:\n  x: [1, 2\nmetric: loss\n", 4, ""),
        ("objective: a:b\nmetric: loss\n  num_trials: 3\n", 3, "mapping values"),
        ("objective: a:b\nmetric: loss\nmetric: acc\n", 3, "'metric' appears twice"),
    ],
)
def test_malformed_yaml_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    message = fails(tmp_path, text)
    assert str(tmp_path / "experiment.yaml") in message
    assert f"line {line}," in message
    assert problem in message


def test_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="does not exist"):
        ExperimentSpec.from_file(tmp_path / "nope.yaml")
    assert "is empty" in fails(tmp_path, "# nothing\n")
    assert "must be a mapping" in fails(tmp_path, "- a\n- b\n")


def test_objective_module_not_found(exp_dir: Path) -> None:
    message = fails(exp_dir, experiment(objective="nosuchmodule:objective"))
    assert "module 'nosuchmodule' not found" in message
    assert str(exp_dir.resolve()) in message  # where it looked
    assert "nosuchmodule.py" in message  # how to fix it


def test_objective_module_with_missing_dependency(exp_dir: Path) -> None:
    (exp_dir / "needsdep.py").write_text("import not_installed_anywhere_xyz\n")
    message = fails(exp_dir, experiment(objective="needsdep:objective"))
    assert "'needsdep' was found" in message
    assert "'not_installed_anywhere_xyz', which is not installed" in message


def test_objective_module_that_raises(exp_dir: Path) -> None:
    (exp_dir / "broken.py").write_text("x = 1 +\n")
    message = fails(exp_dir, experiment(objective="broken:objective"))
    assert "'broken' raised SyntaxError" in message


def test_objective_function_missing_lists_callables(exp_dir: Path) -> None:
    message = fails(exp_dir, experiment(objective="objmod:objectiv"))
    assert "has no attribute 'objectiv'" in message
    assert "public callables: objective." in message  # penalty is imported, not listed
    assert "Did you mean 'objective'?" in message


def test_objective_not_callable(exp_dir: Path) -> None:
    message = fails(exp_dir, experiment(objective="objmod:not_a_function"))
    assert "'objmod:not_a_function' is not callable" in message
    assert "42" in message


def test_workers_override_needs_a_local_cluster(exp_dir: Path) -> None:
    spec = ExperimentSpec.from_file(write(exp_dir, experiment()))
    with pytest.raises(ExperimentError, match=r"--workers 2 .* 'address' cluster"):
        run_experiment(spec, workers=2)
    with pytest.raises(ExperimentError, match="--trials must be a positive integer, got 0"):
        run_experiment(spec, trials=0)


def test_existing_search_directory_is_refused(exp_dir: Path) -> None:
    run = exp_dir / "run"
    run.mkdir()
    (run / JOURNAL_NAME).write_text("")
    message = fails(exp_dir, experiment())
    assert f"{run} already holds a search" in message


def test_valid_experiment_does_reach_the_cluster(exp_dir: Path) -> None:
    """The positive control: a correct file gets as far as connecting, so the tests above
    prove that validation stopped them first."""
    spec = ExperimentSpec.from_file(write(exp_dir, experiment(cluster={"address": FAILS_FAST})))
    with pytest.raises(ClusterError, match="cannot reach"):
        run_experiment(spec, experiment_dir=exp_dir / "run", progress=False)
    assert not (exp_dir / "run").exists()  # a search that never began leaves nothing behind

    prepare_run(spec, experiment_dir=exp_dir / "run")  # what `daskhpo run` writes first
    saved = load_saved_spec(exp_dir / "run")
    assert saved.to_mapping() == spec.to_mapping()
    assert saved.base_dir == exp_dir.resolve()
    with pytest.raises(ExperimentError, match="is not a daskhpo experiment directory"):
        prepare_resume(exp_dir / "run")  # prepared, but no search began there
    with pytest.raises(ExperimentError, match="is not a daskhpo experiment directory"):
        prepare_resume(exp_dir.parent)  # nothing ran there: not an experiment at all
    with pytest.raises(ExperimentError, match="does not exist"):
        prepare_resume(exp_dir / "never-made")


def test_default_experiment_directory(exp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(exp_dir)
    spec = ExperimentSpec.from_file(write(exp_dir, experiment()))
    first = prepare_run(spec).experiment_dir
    second = prepare_run(spec).experiment_dir  # maybe within the same second: still distinct
    assert first != second
    for run in (first, second):
        assert run.parent == exp_dir.resolve() / "daskhpo-runs"
        assert re.fullmatch(r"experiment-\d{8}-\d{6}(-2)?", run.name), run.name
        assert (run / "experiment.yaml").is_file()
    named = prepare_run(dataclasses.replace(spec, name="sweep 1")).experiment_dir
    assert named.name.startswith("sweep-1-")


# --------------------------------------------------------------------------- objective on workers


@pytest.mark.slow
def test_objective_beside_the_file_runs_on_worker_processes(dask_client, exp_dir: Path) -> None:
    def can_import() -> bool:
        return importlib.util.find_spec("objmod") is not None

    assert not any(dask_client.run(can_import).values())  # the workers do not have it
    spec = ExperimentSpec.from_file(write(exp_dir, experiment(cluster=None)))
    result = run_experiment(
        spec, client=dask_client, experiment_dir=exp_dir / "run", progress=False
    )
    df = result.trials
    assert list(df["status"]) == ["COMPLETED"] * 12, df["error"].dropna().tolist()
    expected = (df["config/x"] - 1.0) ** 2 + 0.5 * df["config/n"]
    assert df["loss"].tolist() == pytest.approx(expected.tolist())
    assert os.getpid() not in set(df["pid"])  # ran in the worker processes
    assert not any(dask_client.run(can_import).values())
    on_disk = pd.read_csv(exp_dir / "run" / "trials.csv")
    assert list(on_disk.columns) == list(df.columns)
    again = prepare_resume(exp_dir / "run")  # what `daskhpo resume` starts from
    assert again.experiment_dir == (exp_dir / "run").resolve()
    assert again.spec.to_mapping() == spec.to_mapping()
    assert again.objective({"x": 3.0, "n": 0})["loss"] == 4.0


def test_sibling_modules_are_shipped_by_value(exp_dir: Path) -> None:
    spec = ExperimentSpec.from_file(write(exp_dir, experiment()))
    prepared = prepare_run(spec, experiment_dir=exp_dir / "run")
    assert {"objmod", "objhelpers"} <= set(ship_modules(exp_dir))
    assert prepared.objective({"x": 1.0, "n": 2})["loss"] == 1.0


def test_installed_packages_are_never_shipped() -> None:
    project_root = Path(dh.__file__).resolve().parent.parent
    shipped = ship_modules(project_root)
    assert not [name for name in shipped if name.partition(".")[0] in ("daskhpo", "tests")]


def test_same_module_name_in_two_experiments(tmp_path: Path) -> None:
    functions = []
    for value in (1.0, 2.0):
        directory = tmp_path / f"e{value:g}"
        directory.mkdir()
        (directory / "samename.py").write_text(f"def objective(config):\n    return {value}\n")
        spec = ExperimentSpec.from_file(
            write(directory, experiment(objective="samename:objective"))
        )
        functions.append(spec.load_objective())
    assert [f({}) for f in functions] == [1.0, 2.0]


# --------------------------------------------------------------------------- journal replay


def test_replay_of_synthetic_records() -> None:
    records = [
        {"event": "created", "time": 0.0, "trial_id": 0, "config": {"x": 1}},
        {"event": "submitted", "time": 0.0, "trial_id": 0, "attempt": 0},
        {"event": "created", "time": 0.0, "trial_id": 1, "config": {"x": 2}},
        {"event": "submitted", "time": 0.0, "trial_id": 1, "attempt": 0},
        {"event": "created", "time": 0.1, "trial_id": 2, "config": {"x": 3}},
        {"event": "submitted", "time": 0.1, "trial_id": 2, "attempt": 0},
        {"event": "started", "time": 0.2, "trial_id": 0, "attempt": 0, "worker": "w0"},
        {"event": "started", "time": 0.2, "trial_id": 1, "attempt": 0, "worker": "w1"},
        {"event": "reported", "time": 0.3, "trial_id": 0, "attempt": 0, "step": 1,
         "metrics": {"loss": 5.0}},
        {"event": "decided", "time": 0.3, "trial_id": 0, "attempt": 0, "decision": "STOP"},
        {"event": "stopped", "time": 0.4, "trial_id": 0, "attempt": 0, "worker": "w0"},
        {"event": "failed", "time": 0.5, "trial_id": 1, "attempt": 0, "kind": "user",
         "error": "Traceback: boom", "retry": True},
        {"event": "submitted", "time": 0.5, "trial_id": 1, "attempt": 1},
        {"event": "started", "time": 0.6, "trial_id": 1, "attempt": 1, "worker": "w1"},
        {"event": "lost", "time": 0.7, "trial_id": 1, "attempt": 1, "reason": "KilledWorker",
         "started": True, "retry": True},
        {"event": "submitted", "time": 0.7, "trial_id": 1, "attempt": 2},
        {"event": "started", "time": 0.8, "trial_id": 1, "attempt": 2, "worker": "w0"},
        {"event": "completed", "time": 0.9, "trial_id": 1, "attempt": 2,
         "metrics": {"loss": 1.5}, "worker": "w0"},
    ]  # fmt: skip
    view = ExperimentView.from_records(records)
    t0, t1, t2 = (view.trials[i] for i in range(3))
    assert (t0.status, t0.last_metrics, t0.last_step) == (TrialStatus.STOPPED, {"loss": 5.0}, 1.0)
    assert (t1.status, t1.attempt, t1.user_failures, t1.infra_failures) == (
        TrialStatus.COMPLETED, 2, 1, 1,
    )  # fmt: skip
    assert (t1.started_at, t1.ended_at, t1.worker, t1.error) == (0.2, 0.9, "w0", "Traceback: boom")
    assert t2.status is TrialStatus.PENDING
    assert not view.ended
    assert max(view.last_event_time, key=view.last_event_time.__getitem__) == 1

    cancel = {"event": "cancelled", "time": 1.0, "trial_id": 2, "attempt": 0}
    end = {"event": "end", "time": 1.0, "reason": "time budget of 1 s used"}
    ended = ExperimentView.from_records([*records, cancel, end])
    assert ended.trials[2].status is TrialStatus.CANCELLED
    assert (ended.ended, ended.stop_reason, ended.last_time) == (
        True,
        "time budget of 1 s used",
        1.0,
    )


@pytest.mark.slow
def test_replay_matches_the_result_of_a_real_search(dask_client, tmp_path: Path) -> None:
    result = dh.tune(
        objectives.raises_if_negative,
        {"x": dh.uniform(-1.0, 1.0)},
        metric="loss",
        num_trials=16,
        max_retries=1,
        seed=3,
        client=dask_client,
        experiment_dir=tmp_path,
    )
    assert result.count("FAILED") > 0
    assert result.count("COMPLETED") > 0
    states = ExperimentView.from_journal(tmp_path / JOURNAL_NAME).trials
    assert sorted(states) == [t.trial_id for t in result.trials_list]
    for trial in result.trials_list:
        state = states[trial.trial_id]
        assert state.status is trial.status
        assert state.config == trial.config
        assert state.attempt == trial.attempt
        assert state.user_failures == trial.user_failures
        assert state.last_metrics == trial.last_metrics
        assert state.worker == trial.worker
        assert state.error == trial.error
