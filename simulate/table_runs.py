"""One search of the speed-up or the cost table: what it runs, on what durations.

A run draws its trials' durations from a SPEC (``duration``), or replays a learning-curve
table (``table``, a :class:`~simulate.tabulated.TabulatedWorkload`): each trial samples a
configuration of the table's grid and runs for that configuration's seconds (its ``time_s``
column, summed over the steps), reporting each step. The run functions are module-level and
their arguments frozen dataclasses, so that :func:`simulate.sweep.run_all` can send them to
other processes or a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daskhpo.registry import make_scheduler
from daskhpo.schedulers.base import Scheduler
from daskhpo.space import SearchSpace
from simulate.closed_form import closed_form_applies, closed_form_run
from simulate.cluster import ClusterSpec
from simulate.cost import Pricing
from simulate.draws import STREAM_STRAGGLER, KeyedDraws
from simulate.faults import FaultModel
from simulate.runner import run_search
from simulate.tabulated import TabulatedWorkload
from simulate.workloads import DurationModel, DurationWorkload, Workload

__all__ = ["MODES", "CostRun", "SpeedupRun", "cost_run", "scheduler_for", "speedup_run"]

MODES = ("sync", "async")


def scheduler_for(mode: str) -> Scheduler:
    """``sync``: batches of K, waiting for all (BatchScheduler); ``async``: FIFO."""
    if mode == "sync":
        return make_scheduler("batch")
    if mode == "async":
        return make_scheduler("fifo")
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


class StragglingWorkload:
    """``base`` with a fraction of its trials (drawn per trial id) ``factor`` times longer."""

    def __init__(self, base: Workload, *, seed: int, prob: float, factor: float) -> None:
        self.base, self.prob, self.factor = base, prob, factor
        self.metric, self.steps = base.metric, base.steps
        self._draws = KeyedDraws(seed, STREAM_STRAGGLER, lambda rng, n: rng.random(n))

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        value = self.base.duration(trial_id, config)
        return value * self.factor if self._draws[trial_id] < self.prob else value

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> Sequence[float]:
        return self.base.curve(trial_id, config)


def _table_space(table: TabulatedWorkload | None) -> SearchSpace | None:
    return None if table is None else table.space()


@dataclass(frozen=True)
class SpeedupRun:
    """One search of the speed-up table."""

    workers: int
    mode: str
    seed: int
    trials: int
    duration: str
    startup_s: float
    overhead_s: float
    speeds: tuple[float, ...]
    faults: FaultModel | None
    table: TabulatedWorkload | None = None
    closed_form: bool = True  # where exact (simulate.closed_form); False runs the Tuner anyway
    report_overhead_s: float = 0.0


def speedup_run(t: SpeedupRun) -> tuple[float, float]:
    """(makespan, utilization); in closed form where that is exact (:mod:`simulate.closed_form`)."""
    cluster = ClusterSpec(
        workers=t.workers, startup_s=t.startup_s, overhead_s=t.overhead_s, speeds=t.speeds,
        report_overhead_s=t.report_overhead_s,
    )  # fmt: skip
    if t.table is None:
        durations = DurationWorkload(t.duration, seed=t.seed)
        if t.closed_form and closed_form_applies(durations, cluster, t.faults):
            return closed_form_run(durations, cluster, t.trials, t.mode)
    workload: Workload = durations if t.table is None else t.table
    run = run_search(
        workload,
        cluster=cluster,
        scheduler=scheduler_for(t.mode),
        space=_table_space(t.table),
        num_trials=t.trials,
        seed=t.seed,
        faults=t.faults,
    )
    return run.makespan, run.utilization


@dataclass(frozen=True)
class CostRun:
    """One search of the cost table."""

    instances: int
    market: str
    seed: int
    trials: int
    duration: str
    straggler_prob: float
    straggler_factor: float
    startup_s: float
    overhead_s: float
    faults: FaultModel
    mode: str
    pricings: tuple[Pricing, ...]
    table: TabulatedWorkload | None = None
    report_overhead_s: float = 0.0


def _cost_workload(t: CostRun) -> Workload:
    if t.table is None:
        durations = DurationModel(
            t.duration, seed=t.seed, straggler_prob=t.straggler_prob,
            straggler_factor=t.straggler_factor,
        )  # fmt: skip
        return DurationWorkload(durations, seed=t.seed)
    if t.straggler_prob > 0 and t.straggler_factor != 1.0:
        return StragglingWorkload(
            t.table, seed=t.seed, prob=t.straggler_prob, factor=t.straggler_factor
        )
    return t.table


def cost_run(t: CostRun) -> dict[str, Any]:
    """Its makespan, bills (one per pricing), lost work, utilization and completed trials."""
    cluster = ClusterSpec(
        workers=t.instances, startup_s=t.startup_s, overhead_s=t.overhead_s, market=t.market,
        report_overhead_s=t.report_overhead_s,
    )  # fmt: skip
    run = run_search(
        _cost_workload(t),
        cluster=cluster,
        scheduler=scheduler_for(t.mode),
        space=_table_space(t.table),
        num_trials=t.trials,
        seed=t.seed,
        faults=t.faults,
    )
    return {
        "makespan": run.makespan,
        "bills": [run.bill(p) for p in t.pricings],
        "lost_work": run.backend.lost_work,
        "utilization": run.utilization,
        "completed": run.completed,
    }
