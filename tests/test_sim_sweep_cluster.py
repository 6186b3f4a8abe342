"""Sweeps on a described cluster (``--cluster``): the descriptions ``tune`` takes, started with
daskhpo's own cluster code, give the same tables as one process, and bad ones the same
one-line errors as ``tune``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import daskhpo
from daskhpo.cli import main
from daskhpo.errors import ClusterError, ConfigError
from daskhpo.space import uniform
from simulate.sweep import cluster_description, run_all
from simulate.tables import speedup_table

LOCAL = "{local: {n_workers: 2, threads_per_worker: 1}}"


def _square(x: int) -> int:
    return x * x


def _tune_error(cluster: Any, tmp_path: Path) -> str:
    """The message ``tune`` gives for ``cluster``."""
    with pytest.raises(ClusterError) as caught:
        daskhpo.tune(
            _square,
            {"x": uniform(0.0, 1.0)},
            metric="loss",
            num_trials=1,
            cluster=cluster,
            experiment_dir=tmp_path / "exp",
        )
    return str(caught.value)


@pytest.mark.parametrize(
    "command",
    [
        ["speedup", "--workers", "1,2", "--trials", "20", "--repeats", "2"],
        ["cost", "--instances", "1,2", "--trials", "20", "--repeats", "2"],
        ["schedulers", "--schedulers", "fifo,asha", "--trials", "20", "--repeats", "2"],
    ],
)
def test_cli_cluster_gives_the_same_bytes_as_one_process(command: list[str]):
    command = ["simulate", *command, "--format", "csv"]
    runner = CliRunner()
    one = runner.invoke(main, command)
    remote = runner.invoke(main, [*command, "--cluster", LOCAL])
    assert one.exit_code == remote.exit_code == 0, one.output + remote.output
    assert remote.output == one.output


def test_a_file_description_runs_the_table_with_the_same_result(tmp_path: Path):
    # An experiment file's cluster key is the description, as `daskhpo run` reads it.
    path = tmp_path / "experiment.yaml"
    path.write_text(f"objective: m:f\nspace: {{}}\ncluster: {LOCAL}\n", encoding="utf-8")
    cluster = cluster_description(str(path))
    assert cluster == {"local": {"n_workers": 2, "threads_per_worker": 1}}
    speed = {"workers": (1, 3), "trials": 30, "repeats": 2, "duration": "exponential:mean=60"}
    assert speedup_table(**speed, cluster=cluster).equals(speedup_table(**speed))


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("{bogus: {}}", {"bogus": {}}),
        ("nonsense", "nonsense"),
        ("{local: {gpus: 3, n_workers: 2}}", {"local": {"gpus": 3, "n_workers": 2}}),
        ('{"local": {"gpus": 1, "n_workers": 0}}', {"local": {"gpus": 1, "n_workers": 0}}),
    ],
)
def test_bad_descriptions_give_tunes_one_line_error(text: str, description: Any, tmp_path: Path):
    expected = _tune_error(description, tmp_path)
    out = CliRunner().invoke(main, ["simulate", "cost", "--trials", "5", "--cluster", text])
    assert out.exit_code == 2, out.output
    assert out.output == f"error: {expected}\n"


def test_a_missing_file_and_unreadable_yaml_are_one_line_errors():
    runner = CliRunner()
    missing = runner.invoke(main, ["simulate", "speedup", "--cluster", "nowhere/cluster.yaml"])
    assert missing.exit_code == 2
    assert missing.output.count("\n") == 1
    assert "cluster file 'nowhere/cluster.yaml' does not exist" in missing.output
    broken = runner.invoke(main, ["simulate", "speedup", "--cluster", "{local: [}"])
    assert broken.exit_code == 2
    assert broken.output.startswith("error: cluster '{local: [}' is neither a file nor YAML")


def test_an_address_and_a_cluster_together_are_refused():
    with pytest.raises(ConfigError, match="not both"):
        run_all(_square, [1, 2], address="tcp://127.0.0.1:1", cluster={"local": {}})


def test_an_unreachable_address_as_a_cluster_is_tunes_error():
    out = CliRunner().invoke(
        main, ["simulate", "speedup", "--trials", "4", "--cluster", "tcp://127.0.0.1:1"]
    )
    assert out.exit_code == 2, out.output
    assert out.output.startswith("error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'")
    assert out.output.count("\n") == 1


def test_parsing_a_description_imports_no_dask():
    code = (
        "import sys, simulate.sweep as s; "
        f"s.cluster_description({LOCAL!r}); s.cluster_description('tcp://h:8786'); "
        "print('distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
