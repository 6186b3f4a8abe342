"""The tabulated workload: replay of a learning-curve table (CSV, Parquet), its nearest-point
lookup, its errors for malformed tables, and ``daskhpo simulate schedulers --table``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from daskhpo.errors import ConfigError
from simulate.cli import simulate
from simulate.runner import run_search
from simulate.tables import cost_table, scheduler_table, speedup_table
from simulate.tabulated import TabulatedWorkload

DIGITS = Path(__file__).resolve().parent.parent / "simulate" / "data" / "digits_curves.csv"


def small_table() -> pd.DataFrame:
    """Two learning rates x two optimizers, three steps each, with per-step seconds."""
    rows = []
    for lr in (0.01, 0.1):
        for opt in ("sgd", "adam"):
            for step in (1, 2, 3):
                loss = (1.0 if opt == "sgd" else 0.5) / step + lr
                rows.append({"lr": lr, "opt": opt, "step": step, "loss": loss, "time_s": 2.0})
    return pd.DataFrame(rows)


def test_replays_each_configuration_of_the_table():
    workload = TabulatedWorkload(small_table())
    assert workload.config_columns == ["lr", "opt"]
    assert workload.steps == 3
    config = {"lr": 0.1, "opt": "adam"}
    assert workload.curve(0, config) == pytest.approx([0.6, 0.35, 0.1 + 0.5 / 3])
    assert workload.duration(0, config) == 6.0  # the steps' seconds, summed
    space = workload.space()
    assert set(space.names) == {"lr", "opt"}
    rng = np.random.default_rng(0)
    for _ in range(20):  # the table's own space never falls off the grid
        sampled = space.sample(rng)
        assert workload.lookup(sampled) == (sampled["lr"], sampled["opt"])


def test_an_off_grid_configuration_replays_the_nearest_one():
    workload = TabulatedWorkload(small_table())
    # 0.02 is nearer 0.01 than 0.1 on the log scale? The span is one decade (not > 10x), so
    # the scale is linear: 0.02 is nearest 0.01; 0.08 is nearest 0.1.
    assert workload.lookup({"lr": 0.02, "opt": "sgd"}) == (0.01, "sgd")
    assert workload.lookup({"lr": 0.08, "opt": "adam"}) == (0.1, "adam")
    assert workload.curve(1, {"lr": 0.08, "opt": "adam"}) == workload.curve(
        2, {"lr": 0.1, "opt": "adam"}
    )
    # An unknown category matches none: the numeric column decides, ties go to the first.
    assert workload.lookup({"lr": 0.1, "opt": "rmsprop"}) == (0.1, "sgd")


def test_log_scale_for_columns_spanning_decades():
    rows = [
        {"lr": lr, "step": 1, "loss": lr} for lr in (1e-4, 1e-2, 1.0)
    ]  # 1e-3 is nearer 1e-4 on a log scale (1 decade vs 1), nearer 1e-2 on a linear one
    workload = TabulatedWorkload(pd.DataFrame(rows))
    assert workload.lookup({"lr": 2e-4})[0] == 1e-4  # type: ignore[index]
    assert workload.lookup({"lr": 0.005})[0] == 1e-2  # type: ignore[index]


def test_off_grid_error_refuses_a_configuration_not_in_the_table():
    workload = TabulatedWorkload(small_table(), off_grid="error")
    assert workload.lookup({"lr": 0.1, "opt": "sgd"}) == (0.1, "sgd")
    with pytest.raises(ConfigError, match=r"not on the grid .*off_grid='nearest'"):
        workload.lookup({"lr": 0.05, "opt": "sgd"})
    with pytest.raises(ConfigError, match=r"lacks the table's columns \['opt'\]"):
        workload.lookup({"lr": 0.1})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns=["step"]), r"has no 'step' column"),
        (lambda t: t.drop(columns=["loss"]), r"has no 'loss' column"),
        (lambda t: t.iloc[0:0], r"has no rows"),
        (lambda t: t.assign(step=t["step"].astype(str).replace("2", "two")), r"'step' must be num"),
        (lambda t: t.assign(step=t["step"] - 0.5), r"whole numbers >= 1"),
        (lambda t: t.assign(loss=t["loss"].astype(object).where(t.index != 3, "x")), r"'loss'"),
        (lambda t: t[t["step"] != 1], r"steps must run 1, 2, \.\.\., N"),
        (lambda t: t.drop(index=[2]), r"configuration .* has steps \[1, 2\], not each of 1\.\.3"),
        (lambda t: t.assign(time_s=-1.0), r"'time_s' must be >= 0"),
        (lambda t: t[["step", "loss"]], r"needs configuration columns"),
    ],
)
def test_malformed_tables_are_refused_naming_the_column(change, message):
    with pytest.raises(ConfigError, match=message):
        TabulatedWorkload(change(small_table()))


def test_reads_csv_and_parquet_alike_and_names_a_bad_file(tmp_path):
    table = small_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_parquet(tmp_path / "t.parquet", index=False)
    csv, parquet = (TabulatedWorkload(tmp_path / name) for name in ("t.csv", "t.parquet"))
    config = {"lr": 0.01, "opt": "sgd"}
    assert csv.curve(0, config) == parquet.curve(0, config)
    with pytest.raises(ConfigError, match=r"'.*missing\.csv' does not exist"):
        TabulatedWorkload(tmp_path / "missing.csv")
    (tmp_path / "t.txt").write_text("lr,step,loss\n")
    with pytest.raises(ConfigError, match=r"suffix '\.txt'; use \.csv or \.parquet"):
        TabulatedWorkload(tmp_path / "t.txt")
    (tmp_path / "bad.csv").write_text("lr,step,loss\n0.1,1,0.5\n")
    with pytest.raises(ConfigError, match=r"'.*bad\.csv' has no 'epoch' column"):
        TabulatedWorkload(tmp_path / "bad.csv", step="epoch")


def test_a_search_replays_the_table_through_the_real_tuner():
    workload = TabulatedWorkload(small_table())
    run = run_search(
        workload, cluster=2, scheduler="fifo", space=workload.space(), num_trials=6, seed=1
    )
    assert run.tuner.best_value == pytest.approx(min(workload.final_values()))
    assert {r.step for r in run.tuner.reports} == {1, 2, 3}


def test_the_shipped_digits_table_is_real_and_ranks_schedulers():
    workload = TabulatedWorkload(DIGITS)
    assert workload.metric == "val_loss"
    assert workload.config_columns == ["lr", "momentum", "hidden", "batch_size"]
    assert len(workload.final_values()) >= 50
    assert workload.steps >= 9
    assert DIGITS.stat().st_size < 1_000_000
    table = scheduler_table(["fifo", "asha"], table=workload, trials=30, repeats=2)
    assert list(table["scheduler"]) == ["fifo", "asha"]
    assert (table["best_value"] >= min(workload.final_values()) - 1e-12).all()


def test_cli_schedulers_table_and_its_error():
    runner = CliRunner()
    args = ["schedulers", "--table", str(DIGITS), "--schedulers", "fifo,asha", "--trials", "20"]
    result = runner.invoke(simulate, [*args, "--repeats", "1", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("scheduler,workers,trials")
    bad = runner.invoke(simulate, ["schedulers", "--table", "no/such.csv"])
    assert bad.exit_code == 2
    assert "'no/such.csv' does not exist" in bad.output


def test_speedup_and_cost_tables_take_durations_from_the_table():
    # Every configuration of the small table runs 3 steps of 2 s: 6 s a trial.
    speed = speedup_table((1, 2, 4), trials=8, repeats=1, table=small_table())
    assert list(speed["makespan_s"]) == pytest.approx([48.0, 48.0, 24.0, 24.0, 12.0, 12.0])
    assert list(speed["speedup"]) == pytest.approx([1, 1, 2, 2, 4, 4])
    cost = cost_table((1, 2), markets=["on-demand"], trials=8, table=small_table())
    assert list(cost["makespan_h"] * 3600) == pytest.approx([48.0, 24.0])
    # Per-configuration seconds: the 1-worker makespan is the sum of the sampled trials'.
    varied = small_table().assign(time_s=lambda t: t["lr"] * 100)  # 1 s or 10 s a step
    one = speedup_table(1, trials=8, modes=["async"], repeats=1, table=varied)
    assert one["makespan_s"].iloc[0] in {3.0 * a + 30.0 * (8 - a) for a in range(9)}
    assert 24.0 < one["makespan_s"].iloc[0] < 240.0


def test_table_stragglers_lengthen_the_cost_table_and_parallel_runs_agree():
    base = {"instances": (1, 3), "markets": ["on-demand"], "trials": 20, "table": DIGITS}
    plain = cost_table(**base, repeats=2)
    slow = cost_table(**base, repeats=2, straggler_prob=0.5, straggler_factor=10.0)
    assert (slow["makespan_h"] > 2 * plain["makespan_h"]).all()
    assert cost_table(**base, repeats=2, jobs=2).equals(plain)


def test_cli_speedup_and_cost_take_a_table():
    runner = CliRunner()
    for command in (["speedup", "--workers", "1,2"], ["cost", "--instances", "1,2"]):
        args = [*command, "--table", str(DIGITS), "--trials", "12", "--format", "csv"]
        result = runner.invoke(simulate, [*args, "--repeats", "1"])
        assert result.exit_code == 0, result.output
        bad = runner.invoke(simulate, [*command, "--table", "no/such.csv"])
        assert bad.exit_code == 2
        assert "'no/such.csv' does not exist" in bad.output
