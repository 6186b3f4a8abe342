"""The benchmark harness: one command that measures, compares and reports side by side.

The report's arithmetic is checked on runs given here; the command itself runs one quick
workload end to end in fresh interpreters, as it does for the full table.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """The harness's modules, imported the way ``run.py`` imports them (by file name)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return {name: importlib.import_module(name) for name in ("catalogue", "report", "run")}


def _outcome(bench: dict[str, ModuleType], name: str, walls: list[float], busy: float = 0.0) -> Any:
    case = next(c for c in bench["catalogue"].CASES if c.name == name)
    runs = [bench["report"].Run(wall=w, extras={}, busy=busy) for w in walls]
    return bench["report"].Outcome(case, runs=runs)


def _row(lines: list[str], label: str) -> list[str]:
    row = next(line for line in lines if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_a_workload_table_gives_medians_spreads_ratios_and_the_goals(bench):
    outcomes = [
        _outcome(bench, "w1_dask_map", [1.0, 0.9, 1.1]),
        _outcome(bench, "w1_daskhpo", [1.2, 1.3, 1.1]),
        _outcome(bench, "w1_ray_reuse", [21.0, 20.0, 22.0], busy=0.4),
    ]
    lines = bench["report"].section("W1", outcomes, 0.15)

    # label | median | min–max | runs | ÷ floor | ÷ daskhpo | notes
    assert _row(lines, "Dask client.map + gather")[1:5] == ["1.00", "0.90–1.10", "3", "1.00"]
    assert _row(lines, "daskhpo tune (FIFO)")[1:6] == ["1.20", "1.10–1.30", "3", "1.20", "—"]
    ray = _row(lines, "Ray Tune, actor reuse")
    assert ray[1:6] == ["21.00", "20.00–22.00", "3", "21.00", "17.50"]
    assert "3 run(s) disturbed" in ray[6]
    assert "- Goal: daskhpo ≤ 1.25× the Dask floor: 1.20× — met" in lines
    assert any(line.startswith("- Goal: Ray Tune") and "17.5×" in line for line in lines)


def test_a_goal_daskhpo_does_not_reach_is_reported_missed(bench):
    outcomes = [
        _outcome(bench, "w1_dask_map", [1.0, 1.0, 1.0]),
        _outcome(bench, "w1_daskhpo", [1.4, 1.3, 1.5]),
    ]
    lines = bench["report"].section("W1", outcomes, 0.15)
    assert "- Goal: daskhpo ≤ 1.25× the Dask floor: 1.40× — **missed**" in lines


def test_a_peer_that_is_not_installed_is_skipped_with_a_message(bench, monkeypatch):
    monkeypatch.setitem(bench["catalogue"].PEERS, "ray", ("no_such_module_daskhpo", "Ray Tune"))
    outcomes = bench["run"].plan(["W1"], ["ray"])
    ray = [o for o in outcomes if o.case.peer == "ray"]
    assert ray
    assert all("Ray Tune is not installed" in (o.skipped or "") for o in ray)
    assert all(o.skipped is None for o in outcomes if o.case.peer is None)
    table = bench["report"].section("W1", outcomes, 0.15)
    assert "Ray Tune is not installed" in _row(table, "Ray Tune, actor reuse")[-1]


def test_one_command_measures_a_workload_in_fresh_interpreters_and_writes_the_table(tmp_path):
    out = tmp_path / "results.md"
    command = [sys.executable, str(BENCHMARKS / "run.py"), "--only", "W3", "--peers", "none"]
    command += ["--repeats", "2", "--quiet-wait", "0", "--noisy-retries", "0", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    lines = text.splitlines()
    assert "- cores: " in text  # the machine it ran on
    assert "- dask / distributed: " in text
    for label in (
        "daskhpo tune, same trials without reports",
        "Dask client.map + worker log_event per report",
        "daskhpo tune, daskhpo.report() x 20",
    ):
        cells = _row(lines, label)
        assert cells[3] == "2"  # runs
        low, high = (float(x) for x in cells[2].split("–"))
        assert 0 < low <= float(cells[1]) <= high
    assert any(line.startswith("- Goal: daskhpo with reports ≤ 1.2 s") for line in lines)
    assert "W1" not in {line.split()[1] for line in lines if line.startswith("### ")}


def test_every_deliberate_break_of_the_mutation_check_still_finds_its_code():
    # A refactor that moves the code a break patches must update benchmarks/mutants.py too.
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "mutants.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "anchors found" in done.stdout
