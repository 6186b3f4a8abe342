"""The tables: speed-up of sync vs async, time and cost per instance count, time to target.

Each function runs the real Tuner with real schedulers on the SimBackend and returns a pandas
DataFrame. Repeats use seeds derived from ``seed``; inside one repeat every row sees the same
duration draws (common random numbers), so differences between rows are the schedulers' and
the cluster's, not luck's. Confidence intervals are 95 % Student-t intervals over repeats.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from daskhpo.registry import SCHEDULERS, make_scheduler
from daskhpo.schedulers.base import Scheduler
from simulate.cluster import MARKETS, ClusterSpec
from simulate.cost import Billing, Pricing
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.faults import FaultModel
from simulate.repeats import mean_ci, repeat_seed
from simulate.runner import SimRun, run_search
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

MODES = ("sync", "async")
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
SCHEDULER_COLUMNS = ["scheduler", "workers", "trials", "time_to_target_s", "reached"]


def _check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _int_list(name: str, values: int | Sequence[int]) -> list[int]:
    items = [values] if isinstance(values, (int, np.integer)) else list(values)
    if not items:
        raise ValueError(f"{name} must list at least one count, got {values!r}")
    return [_check_int(f"each of {name}", v) for v in items]


def _scheduler_for(mode: str) -> Scheduler:
    if mode == "sync":
        return make_scheduler("batch")
    if mode == "async":
        return make_scheduler("fifo")
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


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
) -> pd.DataFrame:
    """Makespan, speed-up over 1 worker, efficiency and utilization, sync vs async.

    ``sync`` runs the BatchScheduler (batches of K, wait for all), ``async`` the FIFO
    scheduler (a new trial whenever a slot frees), both through the real Tuner.
    """
    counts = _int_list("workers", workers)
    trials = _check_int("trials", trials)
    repeats = _check_int("repeats", repeats)
    modes = list(modes)
    for m in modes:
        _scheduler_for(m)
    if not modes:
        raise ValueError(f"modes must name at least one of {MODES}")
    DurationModel(duration)  # fail fast on a bad SPEC

    def one(k: int, mode: str, r: int) -> SimRun:
        s = repeat_seed(seed, r)
        cluster = ClusterSpec(workers=k, startup_s=startup_s, overhead_s=overhead_s, speeds=speeds)
        return run_search(
            DurationWorkload(duration, seed=s),
            cluster=cluster,
            scheduler=_scheduler_for(mode),
            num_trials=trials,
            seed=s,
            faults=faults,
        )

    results: dict[tuple[int, str, int], tuple[float, float]] = {}
    for k in sorted({1, *counts}):
        for mode in modes:
            for r in range(repeats):
                run = one(k, mode, r)
                results[k, mode, r] = (run.makespan, run.utilization)
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
) -> pd.DataFrame:
    """Time and money per instance count and market (on-demand or spot).

    Every instance is billed from its request (start-up included) until the search ends or
    the instance is lost; idle time is billed. Preemptions (per spot instance-hour) hit spot
    instances only; lost work is redone from the last checkpoint (``checkpoint_interval_s``,
    or from scratch without one) and lost instances are replaced.
    """
    counts = _int_list("instances", instances)
    trials = _check_int("trials", trials)
    repeats = _check_int("repeats", repeats)
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
    _scheduler_for(mode)
    DurationModel(duration)

    rows: list[dict[str, Any]] = []
    for k in counts:
        for market in markets:
            runs = []
            for r in range(repeats):
                s = repeat_seed(seed, r)
                durations = DurationModel(
                    duration,
                    seed=s,
                    straggler_prob=straggler_prob,
                    straggler_factor=straggler_factor,
                )
                cluster = ClusterSpec(
                    workers=k, startup_s=startup_s, overhead_s=overhead_s, market=market
                )
                runs.append(
                    run_search(
                        DurationWorkload(durations, seed=s),
                        cluster=cluster,
                        scheduler=_scheduler_for(mode),
                        num_trials=trials,
                        seed=s,
                        faults=faults,
                    )
                )
            for pricing in pricings:
                bills = [run.bill(pricing) for run in runs]
                rows.append(
                    {
                        "instances": k,
                        "market": market,
                        "trials": trials,
                        "makespan_h": float(np.mean([run.makespan for run in runs])) / 3600.0,
                        "instance_hours": float(np.mean([b.instance_hours for b in bills])),
                        "cost_usd": float(np.mean([b.cost_usd for b in bills])),
                        "price_usd_per_h": pricing.hourly(market),
                        "on_demand_usd_per_h": pricing.on_demand,
                        "billed_hours": float(np.mean([b.billed_hours for b in bills])),
                        "instances_used": float(np.mean([b.instances for b in bills])),
                        "lost_work_h": float(np.mean([run.backend.lost_work for run in runs]))
                        / 3600.0,
                        "utilization": float(np.mean([run.utilization for run in runs])),
                        "completed": float(np.mean([run.completed for run in runs])),
                        "repeats": repeats,
                    }
                )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- schedulers

_DEFAULT_SCHEDULERS = ("fifo", "sha", "hyperband", "asha", "async_hyperband")


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
) -> pd.DataFrame:
    """Time until some trial reports ``target`` (random search vs SHA, ASHA, Hyperband...).

    Trials follow synthetic learning curves over :data:`SYNTHETIC_SPACE` (one report per
    epoch). Without ``target`` it is the ``target_quantile`` of the final losses of the
    space. A search that never gets there counts as not reached (``time_to_target_s`` is the
    mean over the repeats that did; NaN if none did).
    """
    workers = _check_int("workers", workers)
    trials = _check_int("trials", trials)
    repeats = _check_int("repeats", repeats)
    if not (0.0 < target_quantile < 1.0):
        raise ValueError(f"target_quantile must be in (0, 1), got {target_quantile!r}")
    probe = CurveWorkload(curve, epoch, seed=0)
    steps = probe.steps
    if target is None:
        finals = probe.final_values(SYNTHETIC_SPACE, 10_000, np.random.default_rng([seed, 99]))
        target = float(np.quantile(finals, target_quantile))
    specs = [_scheduler_spec(v, steps) for v in (schedulers or default_schedulers())]
    rows: list[dict[str, Any]] = []
    for label, spec in specs:
        times: list[float] = []
        best: list[float] = []
        epochs: list[float] = []
        makespans: list[float] = []
        for r in range(repeats):
            s = repeat_seed(seed, r)
            run = run_search(
                CurveWorkload(curve, epoch, seed=s),
                cluster=workers,
                scheduler=spec,
                space=SYNTHETIC_SPACE,
                num_trials=trials,
                seed=s,
                target=target,
            )
            reached = run.tuner.best_value is not None and run.tuner.best_value <= target
            if reached:
                times.append(run.makespan)
            best.append(math.nan if run.tuner.best_value is None else run.tuner.best_value)
            epochs.append(float(run.tuner.stats.reports))
            makespans.append(run.makespan)
        rows.append(
            {
                "scheduler": label,
                "workers": workers,
                "trials": trials,
                "time_to_target_s": float(np.mean(times)) if times else math.nan,
                "reached": len(times) / repeats,
                "target": target,
                "best_value": float(np.nanmean(best)),
                "epochs_run": float(np.mean(epochs)),
                "makespan_s": float(np.mean(makespans)),
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
) -> dict[str, SimRun]:
    """Small recorded runs (one per mode, same durations) for a worker Gantt chart."""
    workers = _check_int("workers", workers)
    trials = _check_int("trials", trials)
    s = repeat_seed(seed, 0)
    return {
        mode: run_search(
            DurationWorkload(duration, seed=s),
            cluster=workers,
            scheduler=_scheduler_for(mode),
            num_trials=trials,
            seed=s,
            record=True,
        )
        for mode in modes
    }
