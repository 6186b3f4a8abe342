"""The tables: speed-up of sync vs async, time and cost per instance count, time to target.

Each function runs the real Tuner with real schedulers on the SimBackend and returns a pandas
DataFrame. Repeats use seeds derived from ``seed``; inside one repeat every row sees the same
duration draws (common random numbers), so differences between rows are the schedulers' and
the cluster's, not luck's. Confidence intervals are 95 % Student-t intervals over repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulate.cluster import MARKETS, ClusterSpec
from simulate.cost import Billing, Pricing
from simulate.faults import FaultModel
from simulate.repeats import mean_ci, repeat_seed
from simulate.runner import SimRun, run_search
from simulate.scheduler_table import (
    SCHEDULER_COLUMNS,
    check_int,
    default_schedulers,
    scheduler_table,
)
from simulate.sweep import Progress, run_all
from simulate.table_runs import MODES, CostRun, SpeedupRun, cost_run, scheduler_for, speedup_run
from simulate.tabulated import TabulatedWorkload
from simulate.workloads import DurationModel, DurationWorkload

__all__ = [
    "COST_COLUMNS",
    "MODES",
    "SCHEDULER_COLUMNS",
    "SPEEDUP_COLUMNS",
    "cost_table",
    "default_schedulers",
    "scheduler_table",
    "speedup_table",
]

SPEEDUP_COLUMNS = [
    "workers",
    "mode",
    "trials",
    "makespan_s",
    "speedup",
    "efficiency",
    "utilization",
]
COST_COLUMNS = ["instances", "market", "trials", "makespan_h", "instance_hours", "cost_usd"]


def _int_list(name: str, values: int | Sequence[int]) -> list[int]:
    items = [values] if isinstance(values, (int, np.integer)) else list(values)
    if not items:
        raise ValueError(f"{name} must list at least one count, got {values!r}")
    return [check_int(f"each of {name}", v) for v in items]


def _tabulated(table: TabulatedWorkload | str | Path | None) -> TabulatedWorkload | None:
    if table is None or isinstance(table, TabulatedWorkload):
        return table
    return TabulatedWorkload(table)


# --------------------------------------------------------------------------- speed-up


def speedup_table(
    workers: int | Sequence[int] = (1, 2, 4, 8),
    *,
    trials: int = 1000,
    modes: Sequence[str] = MODES,
    duration: str = "exponential:mean=60",
    repeats: int = 5,
    seed: int = 0,
    startup_s: float = 0.0,
    overhead_s: float = 0.0,
    speeds: Sequence[float] = (1.0,),
    faults: FaultModel | None = None,
    table: TabulatedWorkload | str | Path | None = None,
    jobs: int = 1,
    address: str | None = None,
    cluster: Any = None,
    progress: Progress | None = None,
    closed_form: bool = True,
    report_overhead_s: float = 0.0,
) -> pd.DataFrame:
    """Makespan, speed-up over 1 worker, efficiency and utilization, sync vs async.

    ``sync`` runs the BatchScheduler (batches of K, wait for all), ``async`` the FIFO
    scheduler (a new trial whenever a slot frees), both through the real Tuner, except that
    rows where its decisions cannot depend on timing (no reports, configuration-independent
    durations, no faults, alike workers) are computed in closed form to the same bits
    (:mod:`simulate.closed_form`); ``closed_form=False`` simulates those too. ``table`` (a
    learning-curve table, or its file) replaces ``duration``: trials sample its grid and run
    for its seconds, each report taking ``report_overhead_s`` more. ``jobs`` processes (or a
    Dask cluster: ``address``, ``cluster``) run the searches; the table is the same.
    """
    counts = _int_list("workers", workers)
    trials = check_int("trials", trials)
    repeats = check_int("repeats", repeats)
    modes = list(modes)
    for m in modes:
        scheduler_for(m)
    if not modes:
        raise ValueError(f"modes must name at least one of {MODES}")
    tabulated = _tabulated(table)
    # Fail fast on bad seconds, before any search runs (ClusterSpec is where they are checked).
    ClusterSpec(startup_s=startup_s, overhead_s=overhead_s, report_overhead_s=report_overhead_s)
    if tabulated is None:
        DurationModel(duration)  # fail fast on a bad SPEC

    tasks = [
        SpeedupRun(k, mode, repeat_seed(seed, r), trials, duration, startup_s, overhead_s,
                   tuple(speeds), faults, tabulated, closed_form, report_overhead_s)
        for k in sorted({1, *counts})
        for mode in modes
        for r in range(repeats)
    ]  # fmt: skip
    done = run_all(
        speedup_run, tasks, jobs=jobs, address=address, cluster=cluster, progress=progress
    )
    results: dict[tuple[int, str, int], tuple[float, float]] = {
        (t.workers, t.mode, i % repeats): res
        for i, (t, res) in enumerate(zip(tasks, done, strict=True))
    }
    rows: list[dict[str, Any]] = []
    for k in counts:
        for mode in modes:
            makespans = [results[k, mode, r][0] for r in range(repeats)]
            speedups = [results[1, mode, r][0] / results[k, mode, r][0] for r in range(repeats)]
            utils = [results[k, mode, r][1] for r in range(repeats)]
            mk, mk_lo, mk_hi = mean_ci(makespans)
            sp, sp_lo, sp_hi = mean_ci(speedups)
            rows.append(
                {
                    "workers": k,
                    "mode": mode,
                    "trials": trials,
                    "makespan_s": mk,
                    "speedup": sp,
                    "efficiency": sp / k,
                    "utilization": float(np.mean(utils)),
                    "makespan_s_ci_low": mk_lo,
                    "makespan_s_ci_high": mk_hi,
                    "speedup_ci_low": sp_lo,
                    "speedup_ci_high": sp_hi,
                    "repeats": repeats,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- cost


def cost_table(
    instances: int | Sequence[int] = (1, 10, 100),
    *,
    markets: Sequence[str] = MARKETS,
    trials: int = 1000,
    duration: str = "constant:60",
    price: float | Sequence[float] = 0.09,
    spot_discount: float = 0.8,
    billing: str | Billing = "second",
    startup_s: float = 0.0,
    overhead_s: float = 0.0,
    preemption_rate: float = 0.0,
    grace_s: float = 120.0,
    failure_rate: float = 0.0,
    walltime_s: float | None = None,
    checkpoint_interval_s: float | None = None,
    straggler_prob: float = 0.0,
    straggler_factor: float = 1.0,
    mode: str = "async",
    repeats: int = 1,
    seed: int = 0,
    table: TabulatedWorkload | str | Path | None = None,
    jobs: int = 1,
    address: str | None = None,
    cluster: Any = None,
    progress: Progress | None = None,
    report_overhead_s: float = 0.0,
) -> pd.DataFrame:
    """Time and money per instance count and market (on-demand or spot).

    Every instance is billed from its request (start-up included) until the search ends or
    the instance is lost; idle time is billed. Preemptions (per spot instance-hour) hit spot
    instances only; lost work is redone from the last checkpoint (``checkpoint_interval_s``,
    or from scratch without one) and lost instances are replaced. ``table`` replaces
    ``duration`` as in :func:`speedup_table`.
    """
    counts = _int_list("instances", instances)
    trials = check_int("trials", trials)
    repeats = check_int("repeats", repeats)
    prices = [price] if isinstance(price, (int, float)) else list(price)
    if not prices:
        raise ValueError("price must give at least one price per instance-hour")
    the_billing = billing if isinstance(billing, Billing) else Billing.parse(billing)
    pricings = [Pricing(p, spot_discount, the_billing) for p in prices]  # validates prices
    markets = list(markets)
    if not markets:
        raise ValueError(f"markets must name at least one of {MARKETS}")
    for market in markets:
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
    faults = FaultModel(
        failure_rate=failure_rate,
        preemption_rate=preemption_rate,
        grace_s=grace_s,
        walltime_s=walltime_s,
        checkpoint_interval_s=checkpoint_interval_s,
    )
    scheduler_for(mode)
    DurationModel(duration, straggler_prob=straggler_prob, straggler_factor=straggler_factor)
    tabulated = _tabulated(table)
    # Fail fast on bad seconds, before any search runs (ClusterSpec is where they are checked).
    ClusterSpec(startup_s=startup_s, overhead_s=overhead_s, report_overhead_s=report_overhead_s)

    tasks = [
        CostRun(k, market, repeat_seed(seed, r), trials, duration, straggler_prob,
                straggler_factor, startup_s, overhead_s, faults, mode, tuple(pricings), tabulated,
                report_overhead_s)
        for k in counts
        for market in markets
        for r in range(repeats)
    ]  # fmt: skip
    done = run_all(cost_run, tasks, jobs=jobs, address=address, cluster=cluster, progress=progress)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(tasks), repeats):
        task, runs = tasks[start], done[start : start + repeats]
        for p, pricing in enumerate(pricings):
            bills = [run["bills"][p] for run in runs]
            rows.append(
                {
                    "instances": task.instances,
                    "market": task.market,
                    "trials": trials,
                    "makespan_h": float(np.mean([run["makespan"] for run in runs])) / 3600.0,
                    "instance_hours": float(np.mean([b.instance_hours for b in bills])),
                    "cost_usd": float(np.mean([b.cost_usd for b in bills])),
                    "price_usd_per_h": pricing.hourly(task.market),
                    "on_demand_usd_per_h": pricing.on_demand,
                    "billed_hours": float(np.mean([b.billed_hours for b in bills])),
                    "instances_used": float(np.mean([b.instances for b in bills])),
                    "lost_work_h": float(np.mean([run["lost_work"] for run in runs])) / 3600.0,
                    "utilization": float(np.mean([run["utilization"] for run in runs])),
                    "completed": float(np.mean([run["completed"] for run in runs])),
                    "repeats": repeats,
                }
            )
    return pd.DataFrame(rows)


def gantt_runs(
    workers: int = 4,
    *,
    trials: int = 20,
    duration: str = "exponential:mean=60",
    seed: int = 0,
    modes: Sequence[str] = MODES,
    table: TabulatedWorkload | str | Path | None = None,
) -> dict[str, SimRun]:
    """Small recorded runs (one per mode, same durations) for a worker Gantt chart."""
    workers = check_int("workers", workers)
    trials = check_int("trials", trials)
    s = repeat_seed(seed, 0)
    tabulated = _tabulated(table)
    return {
        mode: run_search(
            DurationWorkload(duration, seed=s) if tabulated is None else tabulated,
            cluster=workers,
            scheduler=scheduler_for(mode),
            space=None if tabulated is None else tabulated.space(),
            num_trials=trials,
            seed=s,
            record=True,
        )
        for mode in modes
    }
