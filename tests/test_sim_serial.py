"""The speed-up table's one-worker baseline: the closed form equals the simulated search."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulate.cluster import ClusterSpec
from simulate.faults import FaultModel
from simulate.runner import run_search
from simulate.serial import serial_applies, serial_run
from simulate.table_runs import SpeedupRun, scheduler_for, speedup_run
from simulate.workloads import DurationWorkload

SPECS = (
    "constant:60",
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


@settings(max_examples=40, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    seed=st.integers(0, 2**31 - 1),
    trials=st.integers(1, 60),
    mode=st.sampled_from(("sync", "async")),
    startup=st.sampled_from((0.0, 0.5, 90.0, 1e-3)),
    overhead=st.sampled_from((0.0, 1.0, 7.25, 1e-4)),
    speed=st.sampled_from((1.0, 0.5, 3.0, 1.7)),
)
def test_the_closed_form_is_the_simulated_search_to_the_last_bit(
    spec: str, seed: int, trials: int, mode: str, startup: float, overhead: float, speed: float
) -> None:
    cluster = ClusterSpec(workers=1, startup_s=startup, overhead_s=overhead, speeds=(speed,))
    workload = DurationWorkload(spec, seed=seed)
    assert serial_applies(workload, cluster, None)
    assert serial_run(workload, cluster, trials) == _simulated(spec, seed, trials, mode, cluster)


def test_speedup_run_takes_the_closed_form_with_the_same_answer() -> None:
    task = SpeedupRun(
        workers=1,
        mode="async",
        seed=3,
        trials=200,
        duration="lognormal:mean=60,sigma=1",
        startup_s=30.0,
        overhead_s=2.0,
        speeds=(1.0,),
        faults=FaultModel(),
    )
    cluster = ClusterSpec(workers=1, startup_s=30.0, overhead_s=2.0)
    assert speedup_run(task) == _simulated(task.duration, 3, 200, "async", cluster)


@pytest.mark.parametrize(
    ("spec", "cluster", "faults", "why"),
    [
        ("constant:60", ClusterSpec(workers=2), None, "two workers overlap"),
        ("constant:60", ClusterSpec(workers=1, slots=2), None, "two slots overlap"),
        ("constant:60", ClusterSpec(workers=((0.0, 1), (100.0, 2))), None, "a schedule"),
        ("constant:60", ClusterSpec(workers=1), FaultModel(failure_rate=1.0), "failures"),
        ("constant:60", ClusterSpec(workers=1), FaultModel(walltime_s=600.0), "walltime"),
        ("proportional:param=x,scale=2", ClusterSpec(workers=1), None, "config durations"),
    ],
)
def test_anything_that_can_reorder_or_interrupt_trials_is_simulated(
    spec: str, cluster: ClusterSpec, faults: FaultModel | None, why: str
) -> None:
    assert not serial_applies(DurationWorkload(spec, seed=0), cluster, faults), why


def test_a_fault_model_with_nothing_active_keeps_the_closed_form() -> None:
    faults = FaultModel(checkpoint_interval_s=60.0)
    assert serial_applies(DurationWorkload("constant:60", seed=0), ClusterSpec(), faults)
