"""The experiment directory: its files, its creation, its saved settings, resumability."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import daskhpo as dh
from daskhpo.errors import ExperimentError, NotResumableError
from daskhpo.experiment.directory import (
    EXPERIMENT_JSON,
    EXPERIMENT_YAML,
    JOURNAL,
    REPORTS_CSV,
    TRIALS_CSV,
    ExperimentDir,
)
from daskhpo.settings import TuneSettings

SPACE = dh.SearchSpace({"x": dh.uniform(0.0, 1.0), "n": 3})
REPO = Path(__file__).resolve().parent.parent


def test_file_names() -> None:
    d = ExperimentDir(Path("/x"))
    assert d.info_path == Path("/x") / EXPERIMENT_JSON == Path("/x/experiment.json")
    assert d.spec_path == Path("/x/experiment.yaml") == Path("/x") / EXPERIMENT_YAML
    assert d.journal_path == Path("/x/journal.jsonl") == Path("/x") / JOURNAL
    assert (d.trials_csv, d.reports_csv) == (Path("/x") / TRIALS_CSV, Path("/x") / REPORTS_CSV)
    assert d.trial_dir(7) == Path("/x/trials/trial_00007")


def test_the_dask_backend_puts_checkpoints_where_the_directory_says(tmp_path: Path) -> None:
    from daskhpo.dask.backend import trial_dir

    assert trial_dir(tmp_path, 42) == ExperimentDir(tmp_path).trial_dir(42)


def test_no_other_module_spells_the_file_names() -> None:
    names = [EXPERIMENT_JSON, EXPERIMENT_YAML, JOURNAL, TRIALS_CSV, REPORTS_CSV]
    owner = REPO / "daskhpo" / "experiment" / "directory.py"
    offenders = []
    for path in sorted((REPO / "daskhpo").rglob("*.py")):
        if path == owner:
            continue
        code = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if f'"{n}"' in code]
    assert not offenders


def test_create_makes_the_directory_and_refuses_an_existing_experiment(tmp_path: Path) -> None:
    d = ExperimentDir.create(tmp_path / "a" / "b")
    assert d.path.is_dir()
    assert d.made == (tmp_path / "a" / "b", tmp_path / "a")
    d.journal_path.write_text("{}\n")
    with pytest.raises(ExperimentError, match="already holds an experiment"):
        ExperimentDir.create(tmp_path / "a" / "b")


def test_create_unique_never_reuses_a_directory(tmp_path: Path) -> None:
    first = ExperimentDir.create_unique(tmp_path / "runs", "exp")
    second = ExperimentDir.create_unique(tmp_path / "runs", "exp")
    assert (first.path.name, second.path.name) == ("exp", "exp-2")


def test_a_directory_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ExperimentError, match="is not writable"):
        ExperimentDir.create(blocker / "exp")


def test_discard_removes_what_create_made_unless_a_search_began(tmp_path: Path) -> None:
    d = ExperimentDir.create(tmp_path / "new" / "exp")
    d.write_info(TuneSettings(metric="loss", seed=1), SPACE)
    d.spec_path.write_text("objective: a:b\n")
    d.discard()
    assert not (tmp_path / "new").exists()

    kept = ExperimentDir.create(tmp_path / "kept")
    kept.write_info(TuneSettings(metric="loss", seed=1), SPACE)
    kept.journal_path.write_text("")  # opened once the cluster answered
    kept.discard()
    assert kept.info_path.is_file()

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    theirs = ExperimentDir.create(tmp_path / "mine")
    theirs.write_info(TuneSettings(metric="loss", seed=1), SPACE)
    theirs.discard()
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_info_round_trip_and_resumability(tmp_path: Path) -> None:
    d = ExperimentDir.create(tmp_path)
    settings = TuneSettings(metric="loss", mode="max", num_trials=5, seed=11, max_retries=2)
    d.write_info(settings, SPACE)
    d.journal_path.write_text("")
    info = d.read_info()
    assert (info["metric"], info["mode"], info["num_trials"], info["seed"]) == (
        "loss",
        "max",
        5,
        11,
    )
    assert info["space"] == json.loads(json.dumps(SPACE.to_dict()))
    assert info["max_retries"] == 2
    assert ExperimentDir.existing(tmp_path) == d
    assert d.check_resumable(settings.replace(seed=None), SPACE) == 11
    other = dh.SearchSpace({"x": dh.uniform(0.0, 2.0), "n": 3})
    with pytest.raises(NotResumableError) as info_error:
        d.check_resumable(settings.replace(metric="acc", mode="min", seed=3), other)
    message = str(info_error.value)
    for part in ("metric 'loss' -> 'acc'", "mode 'max' -> 'min'", "space changed", "seed 11 -> 3"):
        assert part in message


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("missing", "it does not exist"),
        ("empty", "it has no experiment.json and journal.jsonl"),
        ("file", "it is a file"),
    ],
)
def test_existing_names_what_is_missing(tmp_path: Path, kind: str, what: str) -> None:
    path = tmp_path / kind
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("")
    with pytest.raises(NotResumableError, match="is not a daskhpo experiment directory") as info:
        ExperimentDir.existing(path)
    assert what in str(info.value)


def test_reading_a_directory_that_daskhpo_did_not_write(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"has no experiment\.json"):
        ExperimentDir(tmp_path).read_info()
    (tmp_path / EXPERIMENT_JSON).write_text("{not json")
    with pytest.raises(ExperimentError, match="cannot read"):
        ExperimentDir(tmp_path).read_info()
    (tmp_path / EXPERIMENT_JSON).write_text('{"mode": "min"}')
    with pytest.raises(ExperimentError, match="does not name a metric"):
        ExperimentDir(tmp_path).read_info()


def test_importing_the_directory_module_is_light() -> None:
    code = (
        "import sys, daskhpo.experiment.directory; "
        "print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
