"""Speed-up rows in closed form: equal, to the last bit, to the Tuner-driven simulation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from simulate.cli import simulate
from simulate.closed_form import closed_form_applies, closed_form_run
from simulate.cluster import ClusterSpec
from simulate.faults import FaultModel
from simulate.runner import run_search
from simulate.table_runs import SpeedupRun, scheduler_for, speedup_run
from simulate.workloads import DurationWorkload

SPECS = (
    "constant:60",
    "constant:0",
    "lognormal:mean=60,sigma=1",
    "exponential:mean=30",
    "uniform:low=1,high=100",
    "gamma:mean=20,cv=0.5",
)


def _simulated(
    spec: str, seed: int, trials: int, mode: str, cluster: ClusterSpec
) -> tuple[float, float]:
    run = run_search(
        DurationWorkload(spec, seed=seed),
        cluster=cluster,
        scheduler=scheduler_for(mode),
        num_trials=trials,
        seed=seed,
    )
    return run.makespan, run.utilization


@settings(max_examples=150, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    seed=st.integers(0, 2**31 - 1),
    trials=st.integers(1, 80),
    mode=st.sampled_from(("sync", "async")),
    workers=st.integers(1, 9),
    slots=st.integers(1, 3),
    startup=st.sampled_from((0.0, 0.5, 90.0, 1e-3)),
    overhead=st.sampled_from((0.0, 1.0, 7.25, 1e-4)),
    speed=st.sampled_from((1.0, 0.5, 3.0, 1.7)),
)
def test_the_closed_form_is_the_simulated_search_to_the_last_bit(
    spec: str, seed: int, trials: int, mode: str, workers: int, slots: int,
    startup: float, overhead: float, speed: float,
) -> None:  # fmt: skip
    cluster = ClusterSpec(
        workers=workers, slots=slots, startup_s=startup, overhead_s=overhead, speeds=(speed,)
    )
    workload = DurationWorkload(spec, seed=seed)
    assert closed_form_applies(workload, cluster, None)
    expected = _simulated(spec, seed, trials, mode, cluster)
    assert closed_form_run(workload, cluster, trials, mode) == expected


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_speedup_run_takes_the_closed_form_with_the_same_answer(mode: str) -> None:
    spec = "lognormal:mean=60,sigma=1"
    task = SpeedupRun(
        workers=64, mode=mode, seed=3, trials=2000, duration=spec,
        startup_s=30.0, overhead_s=2.0, speeds=(1.0,), faults=FaultModel(),
    )  # fmt: skip
    cluster = ClusterSpec(workers=64, startup_s=30.0, overhead_s=2.0)
    assert speedup_run(task) == _simulated(spec, 3, 2000, mode, cluster)


def test_an_unknown_mode_is_named() -> None:
    with pytest.raises(ValueError, match="'fast'"):
        closed_form_run(DurationWorkload("constant:1"), ClusterSpec(), 3, "fast")


@pytest.mark.parametrize(
    ("spec", "cluster", "faults", "why"),
    [
        ("constant:60", ClusterSpec(workers=2, speeds=(1.0, 2.0)), None, "unequal speeds"),
        ("constant:60", ClusterSpec(workers=((0.0, 1), (100.0, 2))), None, "a schedule"),
        ("constant:60", ClusterSpec(workers=4), FaultModel(failure_rate=1.0), "failures"),
        ("constant:60", ClusterSpec(workers=1), FaultModel(walltime_s=600.0), "walltime"),
        ("proportional:param=x,scale=2", ClusterSpec(workers=1), None, "config durations"),
    ],
)
def test_anything_that_can_reorder_or_interrupt_trials_is_simulated(
    spec: str, cluster: ClusterSpec, faults: FaultModel | None, why: str
) -> None:
    assert not closed_form_applies(DurationWorkload(spec, seed=0), cluster, faults), why


def test_speeds_beyond_the_worker_count_do_not_matter() -> None:
    cluster = ClusterSpec(workers=2, speeds=(2.0, 2.0, 5.0))
    assert closed_form_applies(DurationWorkload("constant:1"), cluster, None)


def test_a_fault_model_with_nothing_active_keeps_the_closed_form() -> None:
    faults = FaultModel(checkpoint_interval_s=60.0)
    assert closed_form_applies(DurationWorkload("constant:60", seed=0), ClusterSpec(), faults)


def test_run_tuner_prints_the_same_table_bytes() -> None:
    args = ["speedup", "--workers", "1,3,40", "--trials", "600", "--repeats", "2",
            "--duration", "exponential:mean=60", "--startup-s", "5", "--overhead-s", "1.5",
            "--speeds", "2", "--format", "csv", "--quiet"]  # fmt: skip
    closed = CliRunner().invoke(simulate, args)
    tuner = CliRunner().invoke(simulate, [*args, "--run-tuner"])
    assert closed.exit_code == 0, closed.output
    assert tuner.exit_code == 0, tuner.output
    assert closed.stdout_bytes == tuner.stdout_bytes
