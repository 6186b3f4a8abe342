"""The cost of each report: ``ClusterSpec.report_overhead_s`` on the virtual clock, and
:func:`simulate.calibrate.report_overhead` measuring it, on simulated and on real searches."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from click.testing import CliRunner

import daskhpo as dh
from simulate.calibrate import CalibrationError, report_overhead
from simulate.cli import simulate
from simulate.cluster import ClusterSpec
from simulate.curves import CurveModel, CurveWorkload
from simulate.runner import run_search
from simulate.tabulated import TabulatedWorkload
from simulate.workloads import DurationModel, DurationWorkload
from tests import plan_objectives
from tests.sim_journals import simulated_experiment

ASHA9 = {"asha": {"max_resource": 9, "reduction_factor": 3, "grace_period": 1}}


def epochs_of(seconds: str, steps: int = 4, seed: int = 0) -> CurveWorkload:
    model = CurveModel(steps=steps, kind="power", rate=0.5, start=1.0, floor=lambda c: c["x"])
    return CurveWorkload(model, DurationModel(seconds, seed=seed), seed=seed)


def report_times(run, trial_id: int) -> list[float]:
    return [r.time for r in run.tuner.reports if r.trial_id == trial_id]


def test_each_report_costs_its_seconds_after_the_step_whatever_the_worker_speed():
    """4 epochs of 2 s (work at speed 1), 1 s to launch, 0.5 s per report: on a worker at
    half speed each epoch takes 4 s of compute and the report's 0.5 s on top."""
    run = run_search(
        epochs_of("constant:2"),
        cluster=ClusterSpec(workers=1, speeds=(0.5,), overhead_s=1.0, report_overhead_s=0.5),
        num_trials=2,
        space={"x": dh.uniform(0.0, 1.0)},
    )
    assert report_times(run, 0) == pytest.approx([5.5, 10.0, 14.5, 19.0], abs=1e-9)
    # The second trial starts when the first ends, at its last report.
    assert report_times(run, 1) == pytest.approx([24.5, 29.0, 33.5, 38.0], abs=1e-9)
    assert run.makespan == pytest.approx(38.0)


@pytest.mark.parametrize("scheduler", ["fifo", ASHA9])
def test_on_one_worker_the_report_cost_adds_its_seconds_per_report(scheduler):
    """One worker runs one attempt at a time, so the decisions do not depend on timing: the
    makespan grows by exactly the report cost times the reports made."""
    space = {"x": dh.uniform(0.0, 1.0)}

    def search(cost: float):
        return run_search(
            epochs_of("lognormal:mean=3,sigma=0.5", steps=9),
            cluster=ClusterSpec(workers=1, report_overhead_s=cost),
            scheduler=scheduler,
            num_trials=12,
            space=space,
        )

    free, costly = search(0.0), search(0.25)
    reports = free.tuner.stats.reports
    assert costly.tuner.stats.reports == reports
    assert [t.status for t in costly.tuner.trials.values()] == [
        t.status for t in free.tuner.trials.values()
    ]
    assert costly.makespan == pytest.approx(free.makespan + 0.25 * reports, rel=1e-12)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "0.5", True])
def test_a_bad_report_cost_names_the_value(bad):
    with pytest.raises(ValueError, match=r"report_overhead_s.*" + repr(bad)[:3]):
        ClusterSpec(workers=1, report_overhead_s=bad)


def test_the_report_cost_of_a_simulated_journal_is_recovered_exactly(tmp_path):
    """Simulated with 0.3 s to launch an attempt and 0.25 s per report (2 workers, ASHA: some
    attempts paused and resumed): measured against the workload it replays, 0.25 s."""
    workload = epochs_of("lognormal:mean=2,sigma=0.2", steps=9)
    directory, _ = simulated_experiment(
        tmp_path / "exp",
        workload,
        dh.SearchSpace({"x": dh.uniform(0.0, 1.0)}),
        trials=30,
        workers=ClusterSpec(workers=2, overhead_s=0.3, report_overhead_s=0.25),
        scheduler=ASHA9,
    )
    assert report_overhead(directory, workload) == pytest.approx(0.25, rel=1e-9)
    # Against a workload twice as slow, the reports would have cost less than nothing: 0.
    assert report_overhead(directory, epochs_of("lognormal:mean=4,sigma=0.2", steps=9)) == 0.0


def test_a_report_cost_needs_reports_and_steps(tmp_path):
    workload = DurationWorkload("constant:2", seed=0)
    directory, _ = simulated_experiment(
        tmp_path / "exp", workload, dh.SearchSpace({"x": dh.uniform(0.0, 1.0)}), trials=6
    )
    with pytest.raises(CalibrationError, match=r"has no steps .* learning curves"):
        report_overhead(directory, workload)
    with pytest.raises(CalibrationError, match=r"no attempt of .* reported twice.*report\(\)"):
        report_overhead(directory, epochs_of("constant:2"))


def test_the_report_cost_of_a_real_search_against_its_table(tmp_path):
    """A real search on a LocalCluster whose epochs take 40 ms of training (what its table
    records) and 60 ms more to checkpoint and report: the measured cost per report is the
    60 ms plus what reporting through daskhpo adds, and the table simulated with it predicts
    the real search's duration."""
    grid = [0.1, 0.2, 0.3, 0.4]
    steps = 5
    table = TabulatedWorkload(
        pd.DataFrame(
            [
                {"x": x, "step": s, "loss": x / s, "time_s": 0.04}
                for x in grid
                for s in range(1, steps + 1)
            ]
        )
    )
    space = {"x": dh.choice(grid), "max_epochs": steps, "step_s": 0.04, "report_s": 0.06}
    result = dh.tune(
        plan_objectives.costly_reports,
        space,
        metric="loss",
        num_trials=8,
        seed=3,
        cluster={"local": {"n_workers": 2, "threads_per_worker": 1}},
        experiment_dir=tmp_path / "real",
        progress=False,
    )
    assert len(result.trials_list) == 8
    cost = report_overhead(tmp_path / "real", table)
    assert 0.055 <= cost <= 0.12, cost
    real_span = max(r.time for r in result.reports_list) - min(
        t.created_at for t in result.trials_list
    )
    sim = run_search(
        table,
        cluster=ClusterSpec(workers=2, report_overhead_s=cost),
        space=space,
        num_trials=8,
        seed=3,
    )
    assert sim.makespan == pytest.approx(real_span, rel=0.25)
    without = run_search(table, cluster=2, space=space, num_trials=8, seed=3)
    assert abs(sim.makespan - real_span) < abs(without.makespan - real_span)


def _csv(*args: str) -> pd.DataFrame:
    result = CliRunner().invoke(simulate, [*args, "--format", "csv", "--quiet"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.output))


def test_the_commands_take_a_report_cost(tmp_path):
    """``simulate schedulers`` and ``speedup`` with ``--report-overhead-s``: on one worker
    random search's makespan grows by the cost times the reports (every epoch of every
    trial); a bad value is refused with the option's name."""
    one = ("schedulers", "--schedulers", "fifo", "--workers", "1", "--trials", "5",
           "--repeats", "1", "--target", "-1")  # fmt: skip
    free, costly = _csv(*one), _csv(*one, "--report-overhead-s", "2")
    assert costly.loc[0, "epochs_run"] == free.loc[0, "epochs_run"] == 5 * 27
    assert costly.loc[0, "makespan_s"] == pytest.approx(free.loc[0, "makespan_s"] + 2 * 5 * 27)
    launch = _csv(*one, "--overhead-s", "3")
    assert launch.loc[0, "makespan_s"] == pytest.approx(free.loc[0, "makespan_s"] + 3 * 5)
    path = tmp_path / "curves.csv"
    pd.DataFrame(
        [{"x": x, "step": s, "loss": x / s, "time_s": 1.0} for x in (0.1, 0.2) for s in (1, 2, 3)]
    ).to_csv(path, index=False)
    speed = ("speedup", "--workers", "1", "--trials", "4", "--repeats", "1", "--table",
             str(path), "--mode", "async")  # fmt: skip
    base, slow = _csv(*speed), _csv(*speed, "--report-overhead-s", "0.5")
    assert slow["makespan_s"].tolist() == pytest.approx(
        [m + 0.5 * 4 * 3 for m in base["makespan_s"]]
    )
    bad = CliRunner().invoke(simulate, [*one, "--report-overhead-s", "-1"])
    assert bad.exit_code == 2
    assert "--report-overhead-s" in bad.output
