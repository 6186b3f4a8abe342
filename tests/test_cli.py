"""The daskhpo command: fast checks with click's CliRunner, real runs in subprocesses."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from daskhpo import records
from daskhpo.cli.main import _Commands, main
from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.journal import JOURNAL_NAME, Journal
from daskhpo.experiment.spec import ExperimentError
from daskhpo.results import trials_frame

OBJECTIVE = """
from scaling import scale


def objective(config):
    return scale * (config["x"] - 0.5) ** 2 + config["n"]


def always_fails(config):
    raise RuntimeError(f"objective failed for x={config['x']:.3f}")
"""


def write_experiment(directory: Path, **overrides: object) -> Path:
    """An objective module, its helper, and an experiment file, in a directory of their own."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mymodel.py").write_text(OBJECTIVE)
    (directory / "scaling.py").write_text("scale = 2.0\n")
    data: dict[str, object] = {
        "objective": "mymodel:objective",
        "space": {"x": {"uniform": [0.0, 1.0]}, "n": {"randint": [0, 2]}, "epochs": 3},
        "metric": "loss",
        "num_trials": 200,
        "seed": 1,
        "cluster": {"local": {"n_workers": 1}},
    }
    data.update(overrides)
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_bad_input(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert "\n\n" not in message  # one paragraph
    for part in expected:
        assert part in message


# --------------------------------------------------------------------------- bad input


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "demo", "status", "report"):
        assert f"  {command} " in result.output
    has_simulate = importlib.util.find_spec("simulate.cli") is not None
    assert ("  simulate " in result.output) == has_simulate


def test_missing_experiment_file(tmp_path: Path) -> None:
    assert_bad_input(invoke("run", tmp_path / "nope.yaml"), "error:", "nope.yaml", "does not exist")


def test_unknown_key(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, num_trails=3)
    assert_bad_input(invoke("run", path), "unknown key 'num_trails'", "did you mean 'num_trials'")


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("objective: a:b\nspace:\n  x: {uniform: [0, 1]\nmetric: loss\n")
    assert_bad_input(invoke("run", path), str(path), "invalid YAML at line 4")


def test_objective_that_does_not_import(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, objective="mymodle:objective")
    assert_bad_input(invoke("run", path), "module 'mymodle' not found", str(tmp_path))


def test_bad_overrides(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    assert_bad_input(invoke("run", path, "--trials", "0"), "--trials", "got 0")
    not_a_number = invoke("run", path, "--trials", "many")  # click's own usage error
    assert not_a_number.exit_code == 2
    assert "'many' is not a valid integer" in not_a_number.stderr
    remote = write_experiment(tmp_path / "remote", cluster={"address": "tcp://127.0.0.1:1"})
    assert_bad_input(invoke("run", remote, "--workers", "2"), "--workers 2", "'address'")


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, mode="maximise")
    result = invoke("--debug", "run", path)
    assert isinstance(result.exception, ExperimentError)
    assert "'maximise'" in str(result.exception)


def test_status_and_report_need_an_experiment_directory(tmp_path: Path) -> None:
    assert_bad_input(invoke("status", tmp_path / "nothing"), "is not a directory")
    assert_bad_input(invoke("report", tmp_path), "not an experiment directory", "experiment.json")


def test_optional_commands_absent_or_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "brokencmds.py").write_text("raise RuntimeError('bug in the module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lazy = {**_Commands.lazy, "ghost": "no_such_package_xyz.cli:ghost", "broken": "brokencmds:c"}
    monkeypatch.setattr(_Commands, "lazy", lazy)
    help_text = invoke("--help").output
    assert "ghost" not in help_text
    assert "  broken " in help_text
    assert "  run " in help_text  # a broken optional command does not take the others down
    assert invoke("ghost").exit_code == 2  # no such command
    broken = invoke("broken")
    assert broken.exit_code == 1
    assert "failed to load: RuntimeError: bug in the module" in broken.stderr


def test_an_unexpected_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    @click.command("crash")
    def crash() -> None:
        raise KeyError("a bug, not bad input")

    monkeypatch.setitem(main.commands, "crash", crash)
    result = invoke("crash")
    assert isinstance(result.exception, KeyError)  # not turned into a one-line message
    assert result.exit_code == 1


def test_resume_of_a_directory_that_is_no_experiment(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for directory in (tmp_path / "empty", tmp_path / "missing"):
        result = invoke("resume", directory)
        assert_bad_input(result, str(directory), "is not a daskhpo experiment directory")
        assert "experiment.yaml" not in result.stderr
        assert "experiment file" not in result.stderr


def test_a_cluster_that_does_not_answer_leaves_no_directory(tmp_path: Path) -> None:
    path = write_experiment(tmp_path / "exp", cluster={"address": "inproc://127.0.0.1/9/1"})
    result = invoke("run", path, "--dir", tmp_path / "runs" / "out", "--quiet")
    assert result.exit_code != 0
    assert "cannot reach" in str(result.exception or "") + result.stderr
    assert not (tmp_path / "runs").exists()  # not even the parent it made


# --------------------------------------------------------------------------- status / report


def fake_running_search(directory: Path) -> None:
    """An experiment directory as a running search leaves it: a journal, no trials.csv."""
    directory.mkdir()
    space = {"x": {"uniform": [0.0, 1.0]}, "epochs": 3}
    (directory / "experiment.json").write_text(
        f'{{"metric": "loss", "mode": "min", "num_trials": 10, "space": {space!r}}}'.replace(
            "'", '"'
        )
    )
    journal = Journal(directory / JOURNAL_NAME)
    for trial_id, x in enumerate([0.25, 0.75, 0.5]):
        config = {"x": x, "epochs": 3}
        journal.append(records.Created(time=0.1 * trial_id, trial_id=trial_id, config=config))
        journal.append(records.Submitted(time=0.1 * trial_id, trial_id=trial_id, attempt=0))
        journal.append(records.Started(time=0.2, trial_id=trial_id, attempt=0, worker="tcp://w:1"))
    journal.append(records.Completed(time=1.0, trial_id=0, attempt=0, metrics={"loss": 0.3}))
    journal.append(records.Completed(time=1.5, trial_id=1, attempt=0, metrics={"loss": 0.1}))
    journal.append(records.Reported(time=1.6, trial_id=2, attempt=0, step=1, metrics={"loss": 0.7}))
    journal.close()


def test_status_of_a_running_search(tmp_path: Path) -> None:
    fake_running_search(tmp_path / "exp")
    with ExperimentDir(tmp_path / "exp").lock():  # a driver runs it (this process)
        result = invoke("status", tmp_path / "exp")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"running (driver pid {os.getpid()} on host" in out
    assert "Trials: 3 of 10 created; running 1, completed 2" in out
    assert "Best loss = 0.1 (trial 1): x=0.75" in out
    assert "epochs=" not in out  # constants are not hyperparameters worth a column
    stopped = invoke("status", tmp_path / "exp").stdout  # nobody holds the lock now
    assert "stopped before its end (no driver holds it)" in stopped
    assert "daskhpo resume" in stopped


def test_report_falls_back_to_the_journal(tmp_path: Path) -> None:
    fake_running_search(tmp_path / "exp")
    result = invoke("report", tmp_path / "exp", "--top", "1")
    assert result.exit_code == 0, result.output
    assert f"3 trials from {tmp_path / 'exp' / JOURNAL_NAME}" in result.stdout
    assert "Best 1 (min)" in result.stdout
    assert "0.75" in result.stdout  # trial 1's x
    assert "0.25" not in result.stdout  # trial 0 is second best: not in the top 1


# --------------------------------------------------------------------------- real runs


def daskhpo(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command in a fresh interpreter, as a user would."""
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "daskhpo.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_bad_input_in_a_real_process_is_one_line(tmp_path: Path) -> None:
    """What a user sees in a terminal: one line naming the bad value, exit 2, no traceback."""
    bad_file = write_experiment(tmp_path / "a", num_trials=0)
    no_module = write_experiment(tmp_path / "b", objective="no_such_module_here:objective")
    for path, named in [(bad_file, "got 0"), (no_module, "'no_such_module_here' not found")]:
        done = daskhpo("run", path, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr  # one line
        assert done.stderr.startswith(f"error: {path}: ")
        assert named in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "daskhpo-runs").exists()


#: Modules that ``daskhpo --help`` and ``daskhpo status`` must not load: they take most of a
#: second to import, or start the cluster runtime.
HEAVY = ("pandas", "matplotlib", "distributed", "simulate", "rich")


def _loaded_by(*args: str | Path) -> list[str]:
    code = (
        "import sys\n"
        "from daskhpo.cli.main import main\n"
        f"main({[str(a) for a in args]!r}, standalone_mode=False)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return eval(done.stderr.strip().splitlines()[-1])  # our own print


def test_help_imports_nothing_heavy() -> None:
    assert _loaded_by("--help") == []


def test_status_of_a_search_needs_no_pandas(tmp_path: Path) -> None:
    fake_running_search(tmp_path / "exp")
    assert _loaded_by("status", tmp_path / "exp") == ["rich"]
    assert _loaded_by("report", tmp_path / "exp") == ["rich"]


@pytest.mark.slow
def test_run_status_report_in_subprocesses(tmp_path: Path) -> None:
    # The objective sits in exp/, which is not the working directory nor on any path.
    path = write_experiment(tmp_path / "exp")
    done = daskhpo("run", path, "--trials", "20", "--workers", "2", "--dir", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out_dir = tmp_path / "out"
    assert f"Results: {out_dir}" in done.stdout
    assert "Best 5 trials (min)" in done.stdout
    trials = pd.read_csv(out_dir / "trials.csv")
    expected = trials_frame([], ["x", "n", "epochs"], ["loss"]).columns
    assert list(trials.columns) == list(expected)
    assert len(trials) == 20
    assert set(trials["status"]) == {"COMPLETED"}
    assert trials["loss"].tolist() == pytest.approx(
        (2.0 * (trials["config/x"] - 0.5) ** 2 + trials["config/n"]).tolist()
    )
    assert trials["worker"].nunique() == 2
    saved = yaml.safe_load((out_dir / "experiment.yaml").read_text())
    assert saved["num_trials"] == 20
    assert saved["cluster"] == {"local": {"n_workers": 2}}

    status = daskhpo("status", "out", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "finished (nothing left to run)" in status.stdout
    assert "Trials: 20 of 20 created; completed 20" in status.stdout

    report = daskhpo("report", "out", "--top", "1", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    best = trials.loc[trials["loss"].idxmin()]
    assert f"20 trials from {Path('out') / 'trials.csv'}" in report.stdout
    rows = re.findall(r"^│\s*(\d+) │", report.stdout, flags=re.MULTILINE)
    assert rows == [str(best["trial_id"])]

    plotted = daskhpo("report", "out", "--plot", "report.png", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_in_a_subprocess(tmp_path: Path) -> None:
    done = daskhpo("demo", "--trials", "20", "--dir", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(tmp_path / "demo" / "trials.csv")
    assert len(trials) == 20
    assert set(trials["status"]) == {"COMPLETED"}
    assert {"config/lr", "config/layers", "config/opt", "config/max_epochs", "loss"} <= set(
        trials.columns
    )
    assert f"{trials['loss'].min():.6g}" in done.stdout


@pytest.mark.slow
def test_a_search_where_every_trial_fails_exits_1(tmp_path: Path) -> None:
    path = write_experiment(tmp_path / "exp", objective="mymodel:always_fails")
    result = invoke("run", path, "--trials", "3", "--dir", tmp_path / "out", "--quiet")
    assert result.exit_code == 1, result.output
    assert "no trial completed" in result.stderr
    assert "RuntimeError: objective failed for x=" in result.stderr
    assert "failed 3" in result.stdout
