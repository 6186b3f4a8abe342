"""The tables and the ``simulate`` CLI: classic cost table, closed forms, formats, bad input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from simulate.cli import COST_VIEW, SPEEDUP_VIEW, simulate
from simulate.tables import (
    COST_COLUMNS,
    SCHEDULER_COLUMNS,
    SPEEDUP_COLUMNS,
    cost_table,
    scheduler_table,
    speedup_table,
)
from simulate.text_table import column_format


def _harmonic(k: int) -> float:
    return sum(1.0 / i for i in range(1, k + 1))


def test_classic_cost_table():
    table = cost_table([1, 10, 100], price=[0.09, 0.90], trials=1000, duration="constant:60")
    assert list(table.columns[: len(COST_COLUMNS)]) == COST_COLUMNS
    rows = {
        (r.instances, r.market, r.on_demand_usd_per_h): r for r in table.itertuples(index=False)
    }
    assert rows[1, "on-demand", 0.09].makespan_h == pytest.approx(16.667, abs=1e-3)
    assert rows[10, "on-demand", 0.09].makespan_h == pytest.approx(1.667, abs=1e-3)
    assert rows[10, "spot", 0.09].makespan_h == pytest.approx(1.667, abs=1e-3)
    assert rows[100, "spot", 0.09].makespan_h * 60 == pytest.approx(10.0)
    for k in (1, 10, 100):
        assert rows[k, "on-demand", 0.09].cost_usd == pytest.approx(1.50)
        assert rows[k, "on-demand", 0.90].cost_usd == pytest.approx(15.0)
        assert rows[k, "spot", 0.09].cost_usd == pytest.approx(0.30)
        assert rows[k, "spot", 0.90].cost_usd == pytest.approx(3.0)
        assert rows[k, "spot", 0.09].instance_hours == pytest.approx(1000 / 60)


def test_what_the_naive_table_leaves_out_costs_more():
    naive = cost_table([100], markets=["spot"])
    real = cost_table(
        [100],
        markets=["spot"],
        startup_s=120,
        billing="hour",
        preemption_rate=0.5,
        grace_s=30,
        straggler_prob=0.02,
        straggler_factor=10,
    )
    assert real.loc[0, "makespan_h"] > naive.loc[0, "makespan_h"]
    assert real.loc[0, "cost_usd"] > 5 * naive.loc[0, "cost_usd"]  # hourly billing of 100
    assert real.loc[0, "completed"] == 1000
    assert real.loc[0, "instances_used"] >= 100


def test_async_speedup_is_exactly_k_for_constant_durations():
    table = speedup_table([1, 2, 4, 8], trials=64, duration="constant:60", repeats=1)
    asyn = table[table["mode"] == "async"]
    assert list(asyn["speedup"]) == [1.0, 2.0, 4.0, 8.0]
    assert list(asyn["utilization"]) == [1.0, 1.0, 1.0, 1.0]
    assert list(table.columns[: len(SPEEDUP_COLUMNS)]) == SPEEDUP_COLUMNS


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_sync_over_async_is_the_harmonic_number_for_exponential_durations(workers):
    table = speedup_table([workers], trials=4000, duration="exponential:mean=60", repeats=1)
    by_mode = table.set_index("mode")["makespan_s"]
    assert by_mode["sync"] / by_mode["async"] == pytest.approx(_harmonic(workers), rel=0.06)


def test_async_utilization_is_one_minus_the_tail():
    k, n = 8, 400
    table = speedup_table([k], trials=n, modes=["async"], repeats=20, seed=1)
    expected = n / (n + k * (_harmonic(k) - 1))  # idle only in the last max-of-K
    assert table.loc[0, "utilization"] == pytest.approx(expected, abs=0.01)
    assert (
        table.loc[0, "speedup_ci_low"] < table.loc[0, "speedup"] < table.loc[0, "speedup_ci_high"]
    )


def test_scheduler_table_compares_what_is_registered():
    table = scheduler_table(trials=40, repeats=1, workers=2, target=0.2)
    assert list(table.columns[:5]) == [
        "scheduler",
        "workers",
        "trials",
        "time_to_target_s",
        "reached",
    ]
    assert table.loc[0, "scheduler"] == "fifo"
    assert (table["reached"] == 1.0).all()
    with pytest.raises(ValueError, match="unknown scheduler 'nope'"):
        scheduler_table(["nope"])


def test_bad_table_arguments_name_the_value():
    with pytest.raises(ValueError, match="each of workers must be a whole number >= 1, got 0"):
        speedup_table([0, 2])
    with pytest.raises(ValueError, match="mode must be one of"):
        speedup_table([2], modes=["parallel"])
    with pytest.raises(ValueError, match=r"price \(USD per instance-hour\) must be >= 0, got -1"):
        cost_table([1], price=-1.0)
    with pytest.raises(ValueError, match="spot_discount"):
        cost_table([1], spot_discount=1.5)
    with pytest.raises(ValueError, match="preemption_rate must be >= 0"):
        cost_table([1], preemption_rate=-2)
    with pytest.raises(ValueError, match="unknown billing 'daily'"):
        cost_table([1], billing="daily")


# --------------------------------------------------------------------------- CLI


def _cli(*args: str):
    result = CliRunner().invoke(simulate, list(args))
    return result


def test_cli_speedup_csv_has_the_columns_scripts_use_and_is_byte_identical():
    args = ("speedup", "--workers", "1,2,4", "--trials", "40", "--repeats", "2", "--seed", "3",
            "--format", "csv")  # fmt: skip
    first, second = _cli(*args), _cli(*args)
    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == second.stdout_bytes
    table = pd.read_csv(io.StringIO(first.output))
    assert list(table.columns[: len(SPEEDUP_COLUMNS)]) == SPEEDUP_COLUMNS
    assert set(table["mode"]) == {"sync", "async"}
    other_seed = _cli(*args[:-3], "4", "--format", "csv")
    assert other_seed.stdout_bytes != first.stdout_bytes


def test_cli_cost_json_and_table():
    result = _cli("cost", "--instances", "1,10", "--market", "spot", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["instances"] for r in rows] == [1, 10]
    assert rows[0]["cost_usd"] == pytest.approx(0.30)
    table = _cli("cost", "--instances", "100", "--market", "on-demand", "--price", "0.9")
    assert table.exit_code == 0
    assert "instance_hours" in table.output
    assert "on-demand" in table.output


def test_cli_schedulers_runs():
    result = _cli("schedulers", "--schedulers", "fifo", "--trials", "20", "--repeats", "1",
                  "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("scheduler,workers,trials,time_to_target_s,reached")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("speedup", "--workers", "1,two"), "'two' in '1,two' is not one"),
        (("speedup", "--workers", "0,2"), "workers must be >= 1, got 0"),
        (("speedup", "--duration", "weibull:mean=3"), "unknown duration distribution 'weibull'"),
        (("speedup", "--mode", "sync,parallel"), "'parallel' is not one of sync, async"),
        (("cost", "--price", "-0.1"), "'-0.1' in '-0.1' must be a number >= 0"),
        (("cost", "--preemption-rate", "-1"), "preemption_rate must be >= 0"),
        (("cost", "--market", "spot,reserved"), "'reserved' is not one of on-demand, spot"),
        (("cost", "--stragglers", "often"), "PROBABILITY:FACTOR"),
    ],
)
def test_cli_bad_input_names_the_value(args, message):
    result = _cli(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_plots(tmp_path):
    pytest.importorskip("matplotlib")
    for args in (
        ("speedup", "--workers", "1,2", "--trials", "12", "--repeats", "1"),
        ("cost", "--instances", "1,10"),
        ("schedulers", "--schedulers", "fifo", "--trials", "10", "--repeats", "1"),
    ):
        out = tmp_path / f"{args[0]}.png"
        result = _cli(*args, "--plot", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_never_imports_distributed():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import simulate.cli, simulate.plots\n"
        "from simulate.tables import speedup_table, cost_table, scheduler_table\n"
        "speedup_table([1, 2], trials=10, repeats=1)\n"
        "cost_table([1, 2], trials=10, preemption_rate=1.0)\n"
        "scheduler_table(trials=10, repeats=1)\n"
        "r = CliRunner().invoke(simulate.cli.simulate, ['cost', '--trials', '5'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('distributed' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def _format_of(cell: str) -> tuple[object, ...]:
    """How a printed cell is written: fixed-point (decimals, percent sign), scientific, text."""
    fixed = re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.(\d+))?(%?)", cell)
    if fixed:
        return ("fixed", len(fixed.group(3) or ""), fixed.group(4))
    if re.fullmatch(r"-?\d\.\d+e[+-]\d+", cell):
        return ("scientific", len(cell.split("e")[0].split(".")[1]))
    return ("text",)


def _columns(text: str) -> dict[str, list[str]]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    assert all(len(row) == len(header) for row in rows), text
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


def _assert_one_format_per_numeric_column(text: str) -> None:
    for name, cells in _columns(text).items():
        formats = {_format_of(c) for c in cells if c != "-"}  # "-": no value
        if formats != {("text",)}:
            assert len(formats) <= 1, (name, cells)


@pytest.mark.parametrize(
    ("args", "view"),
    [
        (("speedup", "--trials", "200", "--repeats", "2"), SPEEDUP_VIEW),
        (("speedup", "--workers", "1,16,256", "--trials", "3000", "--repeats", "3",
          "--duration", "lognormal:mean=60,sigma=1.5", "--overhead-s", "0.5"), SPEEDUP_VIEW),
        (("cost", "--trials", "200"), COST_VIEW),
        (("cost", "--instances", "1,10,1000", "--price", "0.09,3.06", "--trials", "2000",
          "--preemption-rate", "2", "--startup-s", "90"), COST_VIEW),
    ],
)  # fmt: skip
def test_terminal_tables_fit_100_columns_with_one_format_per_column(args, view):
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100, result.output
    assert list(_columns(result.output)) == view
    _assert_one_format_per_numeric_column(result.output)


def test_wide_tables_show_every_column_each_in_one_format():
    args = ("speedup", "--workers", "1,2,4,8", "--trials", "200", "--repeats", "2")
    wide = _cli(*args, "--wide")
    assert wide.exit_code == 0, wide.output
    csv = pd.read_csv(io.StringIO(_cli(*args, "--format", "csv").output))
    assert list(_columns(wide.output)) == list(csv.columns)
    _assert_one_format_per_numeric_column(wide.output)
    schedulers = _cli("schedulers", "--schedulers", "fifo,asha", "--trials", "20",
                      "--repeats", "1", "--wide")  # fmt: skip
    assert schedulers.exit_code == 0, schedulers.output
    assert list(_columns(schedulers.output))[: len(SCHEDULER_COLUMNS)] == SCHEDULER_COLUMNS
    _assert_one_format_per_numeric_column(schedulers.output)


def test_a_column_format_comes_from_all_its_values():
    show = column_format("makespan_s", [11587.2, 8570.4, 1498.0])
    assert [show(v) for v in (11587.2, 1498.0)] == ["11,587", "1,498"]
    show = column_format("makespan_h", [3.3333, 0.033333])
    assert [show(v) for v in (3.3333, 0.033333, float("nan"))] == ["3.33330", "0.03333", "-"]
    show = column_format("utilization", [0.5, 1.0])
    assert show(0.9984) == "99.8%"
    show = column_format("cost_usd", [1e-9, 2.0])
    assert [show(v) for v in (1e-9, 2.0)] == ["1.000e-09", "2.000e+00"]
