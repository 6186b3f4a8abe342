"""Parallel sweeps: the tables are the same with ``--jobs N`` as with one process, and the
progress line shows only on a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from click.testing import CliRunner

from daskhpo.errors import ConfigError
from simulate.cli import simulate
from simulate.sweep import ProgressLine, run_all
from simulate.tables import cost_table, scheduler_table, speedup_table


def _square(x: int) -> int:
    return x * x


def test_run_all_keeps_the_order_of_the_tasks_and_counts_progress():
    seen: list[tuple[int, int]] = []
    assert run_all(_square, list(range(7)), jobs=3, progress=lambda d, t: seen.append((d, t))) == [
        x * x for x in range(7)
    ]
    assert [d for d, _ in seen] == list(range(1, 8))
    assert {t for _, t in seen} == {7}
    with pytest.raises(ConfigError, match="jobs must be a whole number >= 1"):
        run_all(_square, [1], jobs=0)


def test_tables_are_identical_with_two_processes():
    speed = {"workers": (1, 3), "trials": 40, "repeats": 2, "duration": "exponential:mean=60"}
    assert speedup_table(**speed, jobs=2).equals(speedup_table(**speed))
    cost = {"instances": (2, 5), "trials": 30, "repeats": 2, "preemption_rate": 0.5}
    assert cost_table(**cost, jobs=2).equals(cost_table(**cost))
    sched = {"trials": 30, "repeats": 2, "workers": 3}
    assert scheduler_table(["fifo", "asha"], **sched, jobs=2).equals(
        scheduler_table(["fifo", "asha"], **sched)
    )


@pytest.mark.parametrize(
    "command",
    [
        ["speedup", "--workers", "1,2", "--trials", "20", "--repeats", "2"],
        ["cost", "--instances", "1,2", "--trials", "20", "--repeats", "2"],
        ["schedulers", "--schedulers", "fifo,asha", "--trials", "20", "--repeats", "2"],
    ],
)
def test_cli_jobs_gives_the_same_bytes(command):
    runner = CliRunner()
    one = runner.invoke(simulate, [*command, "--format", "csv"])
    two = runner.invoke(simulate, [*command, "--format", "csv", "--jobs", "2"])
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    assert one.output == two.output


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal_and_not_when_quiet():
    tty = _Tty()
    line = ProgressLine("speedup", stream=tty)
    line(1, 4)
    line(4, 4)
    line.close()
    text = tty.getvalue()
    assert "\rspeedup: runs 1/4" in text
    assert "left" in text
    assert "runs 4/4" in text
    for stream, quiet in ((io.StringIO(), False), (_Tty(), True)):
        silent = ProgressLine("speedup", stream=stream, quiet=quiet)
        silent(1, 2)
        silent.close()
        assert stream.getvalue() == ""


def test_the_sweep_runner_and_the_commands_do_not_import_distributed():
    code = (
        "import sys, simulate.sweep, simulate.tables, simulate.cli, simulate.tabulated; "
        "print('distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_address_runs_the_table_on_a_dask_cluster_with_the_same_result():
    from distributed import LocalCluster

    sched = {"trials": 30, "repeats": 2, "workers": 3}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        remote = scheduler_table(["fifo", "asha"], **sched, address=cluster.scheduler_address)
    assert remote.equals(scheduler_table(["fifo", "asha"], **sched))


def test_address_with_no_scheduler_there_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no Dask scheduler answers at 'tcp://127.0.0.1:1'"):
        run_all(_square, [1, 2], address="tcp://127.0.0.1:1")
