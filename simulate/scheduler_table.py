"""The scheduler table: time to target for random search vs SHA, ASHA, Hyperband..., on
synthetic learning curves or on a table of real ones
(:class:`simulate.tabulated.TabulatedWorkload`).

Each repeat seeds every scheduler alike (common random numbers), so differences between rows
are the schedulers', not luck's; the runs go through :func:`simulate.sweep.run_all`, so
``jobs`` processes or a Dask cluster give the same table as one process.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daskhpo.registry import SCHEDULERS, make_scheduler
from daskhpo.space import SearchSpace
from simulate.cluster import ClusterSpec
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.repeats import repeat_seed
from simulate.runner import run_search
from simulate.sweep import Progress, run_all
from simulate.tabulated import TabulatedWorkload

__all__ = ["SCHEDULER_COLUMNS", "check_int", "default_schedulers", "scheduler_table"]

SCHEDULER_COLUMNS = ["scheduler", "workers", "trials", "time_to_target_s", "reached"]
_DEFAULT_SCHEDULERS = ("fifo", "sha", "hyperband", "asha", "async_hyperband")


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """A whole number (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def default_schedulers() -> list[str]:
    """The schedulers compared by default: random search (fifo) and whichever of SHA, ASHA
    and Hyperband are registered."""
    return [name for name in _DEFAULT_SCHEDULERS if name in SCHEDULERS]


def _scheduler_spec(value: Any, steps: int) -> tuple[str, Any]:
    """A label and a make_scheduler argument; multi-fidelity ones get ``max_resource``."""
    if isinstance(value, Mapping):
        return str(next(iter(value), "?")), value
    if not isinstance(value, str):
        raise ValueError(f"schedulers are names or one-key mappings, got {value!r}")
    name = value.strip().lower()
    factory = SCHEDULERS.get(name)
    if factory is None:
        make_scheduler(name)  # raises the registry's error, with suggestions
    try:
        params = inspect.signature(factory).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "max_resource" in params:
        return name, {name: {"max_resource": steps}}
    return name, name


@dataclass(frozen=True)
class _SchedulerRun:
    spec: Any
    seed: int
    trials: int
    target: float
    curve: str
    epoch: str
    table: TabulatedWorkload | None
    cluster: ClusterSpec


def _scheduler_run(t: _SchedulerRun) -> tuple[bool, float, float, float]:
    """One search: (reached the target, makespan, best value or NaN, reports)."""
    if t.table is not None:
        workload: Any = t.table
        space: SearchSpace = t.table.space()
    else:
        workload, space = CurveWorkload(t.curve, t.epoch, seed=t.seed), SYNTHETIC_SPACE
    run = run_search(
        workload,
        cluster=t.cluster,
        scheduler=t.spec,
        space=space,
        num_trials=t.trials,
        seed=t.seed,
        target=t.target,
    )
    best = run.tuner.best_value
    reached = best is not None and best <= t.target
    return reached, run.makespan, math.nan if best is None else best, float(run.tuner.stats.reports)


def scheduler_table(
    schedulers: Sequence[Any] | None = None,
    *,
    workers: int = 4,
    trials: int = 200,
    curve: str = "power:steps=27,noise=0.01",
    epoch: str = "lognormal:mean=10,sigma=0.3",
    target: float | None = None,
    target_quantile: float = 0.01,
    repeats: int = 3,
    seed: int = 0,
    table: TabulatedWorkload | str | Path | None = None,
    jobs: int = 1,
    address: str | None = None,
    cluster: Any = None,
    progress: Progress | None = None,
    overhead_s: float = 0.0,
    report_overhead_s: float = 0.0,
) -> pd.DataFrame:
    """Time until some trial reports ``target`` (random search vs SHA, ASHA, Hyperband...).

    Trials follow synthetic learning curves over :data:`SYNTHETIC_SPACE` (one report per
    epoch), or replay ``table`` (a :class:`TabulatedWorkload`, or the path of a CSV/Parquet
    file) over the space of its grid. Without ``target`` it is the ``target_quantile`` of the
    final losses of the space (of the table's configurations). A search that never gets there
    counts as not reached (``time_to_target_s`` is the mean over the repeats that did; NaN if
    none did). Each trial spends ``overhead_s`` before its first epoch and each report
    ``report_overhead_s`` after its epoch (:class:`~simulate.cluster.ClusterSpec`).
    """
    workers = check_int("workers", workers)
    simulated = ClusterSpec(
        workers=workers, overhead_s=overhead_s, report_overhead_s=report_overhead_s
    )
    trials = check_int("trials", trials)
    repeats = check_int("repeats", repeats)
    if not (0.0 < target_quantile < 1.0):
        raise ValueError(f"target_quantile must be in (0, 1), got {target_quantile!r}")
    tabulated = (
        table if isinstance(table, TabulatedWorkload) or table is None else TabulatedWorkload(table)
    )
    if tabulated is not None:
        steps = tabulated.steps
        finals = np.asarray(tabulated.final_values())
    else:
        probe = CurveWorkload(curve, epoch, seed=0)
        steps = probe.steps
        finals = probe.final_values(SYNTHETIC_SPACE, 10_000, np.random.default_rng([seed, 99]))
    if target is None:
        target = float(np.quantile(finals, target_quantile))
    specs = [_scheduler_spec(v, steps) for v in (schedulers or default_schedulers())]
    tasks = [
        _SchedulerRun(
            scheduler, repeat_seed(seed, r), trials, target, curve, epoch, tabulated, simulated
        )
        for _, scheduler in specs
        for r in range(repeats)
    ]
    done = run_all(
        _scheduler_run, tasks, jobs=jobs, address=address, cluster=cluster, progress=progress
    )
    rows: list[dict[str, Any]] = []
    for i, (label, _) in enumerate(specs):
        runs = done[i * repeats : (i + 1) * repeats]
        times = [makespan for reached, makespan, _, _ in runs if reached]
        rows.append(
            {
                "scheduler": label,
                "workers": workers,
                "trials": trials,
                "time_to_target_s": float(np.mean(times)) if times else math.nan,
                "reached": len(times) / repeats,
                "target": target,
                "best_value": float(np.nanmean([run[2] for run in runs])),
                "epochs_run": float(np.mean([run[3] for run in runs])),
                "makespan_s": float(np.mean([run[1] for run in runs])),
                "repeats": repeats,
            }
        )
    return pd.DataFrame(rows)
