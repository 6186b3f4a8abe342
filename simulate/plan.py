"""Plan before you pay: predict time and cost of a search from one that ran for real.

:func:`plan` calibrates the simulator from an experiment directory (see
:mod:`simulate.calibrate`), then runs the requested searches — worker counts, schedulers,
on-demand or spot — through the real Tuner and schedulers on the virtual clock, and returns a
table with predicted makespan, instance-hours, cost, utilization and the best metric, each
with a 90 % band. The band combines two sources: repeated simulation (different draws of
configurations and noise) and the fit itself (each repeat is also run on a calibration
refitted to resampled trials). :func:`recommend` turns the table into one plain sentence.

Inside one repeat every row sees the same draws (common random numbers), so differences
between rows are the setting's, not luck's.
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

from daskhpo.registry import SCHEDULERS, make_scheduler, make_searcher
from daskhpo.trial import TrialStatus, better, check_mode
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.calibrate import Calibration, calibrate
from simulate.cluster import MARKETS, ClusterSpec
from simulate.cost import Billing, Pricing
from simulate.faults import FaultModel
from simulate.runner import SimRun, fast_gc
from simulate.tables import repeat_seed

__all__ = [
    "PLAN_COLUMNS",
    "PlanResult",
    "describe",
    "human_time",
    "plan",
    "plan_figure",
    "recommend",
    "simulate_plan",
]

#: The columns scripts can rely on (more follow them).
PLAN_COLUMNS = [
    "scheduler",
    "workers",
    "market",
    "trials",
    "makespan_s",
    "makespan_s_low",
    "makespan_s_high",
    "makespan_h",
    "instance_hours",
    "instance_hours_low",
    "instance_hours_high",
    "cost_usd",
    "cost_usd_low",
    "cost_usd_high",
    "utilization",
    "utilization_low",
    "utilization_high",
    "best_value",
    "best_value_low",
    "best_value_high",
]
#: z of a two-sided 90 % normal band.
_Z90 = 1.6449
#: Points of the best-metric-over-time curves.
_GRID = 41
#: Schedulers that never look at intermediate reports.
_NO_REPORTS = ("fifo", "batch")


@dataclass
class PlanResult:
    """What :func:`simulate_plan` returns: the table, the best metric over time, the fit."""

    table: pd.DataFrame
    trajectories: pd.DataFrame
    calibration: Calibration

    def recommend(self, deadline_h: float | None = None) -> str:
        return recommend(self.table, deadline_h=deadline_h)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _name_of(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(next(iter(spec), "?")).lower()
    return str(spec).strip().lower()


def _scheduler_specs(
    schedulers: Sequence[Any] | None, cal: Calibration, steps: int
) -> list[tuple[str, Any]]:
    """A label and a make_scheduler argument per requested scheduler.

    A name that is the experiment's own scheduler takes its options; other multi-fidelity
    names get ``max_resource`` = the steps of a full run.
    """
    own = cal.scheduler
    wanted = list(schedulers) if schedulers else [own if own is not None else "fifo"]
    specs: list[tuple[str, Any]] = []
    for value in wanted:
        if not isinstance(value, (str, Mapping)):
            raise ValueError(
                f"schedulers are names or one-key mappings like {{'asha': {{...}}}}, got "
                f"{value!r}: every simulated run builds a fresh scheduler from them"
            )
        name = _name_of(value)
        if isinstance(value, str) and name not in SCHEDULERS:
            make_scheduler(name)  # the registry's error, with a suggestion
        if name not in _NO_REPORTS and not steps:
            raise ValueError(
                f"scheduler {name!r} decides on intermediate reports, but no trial of the "
                "calibration run reported more than once; plan with fifo, or calibrate from a "
                "run whose objective calls daskhpo.report() each step"
            )
        spec: Any = value
        if isinstance(value, str):
            if own is not None and _name_of(own) == name:
                spec = own
            elif name not in _NO_REPORTS:
                factory = SCHEDULERS[name]
                params = inspect.signature(factory).parameters
                spec = {name: {"max_resource": steps}} if "max_resource" in params else name
            else:
                spec = name
        make_scheduler(spec)  # fail fast on bad options
        specs.append((name, spec))
    labels = [label for label, _ in specs]
    return [
        (label if labels.count(label) == 1 else _spec_label(spec), spec) for label, spec in specs
    ]


def _spec_label(spec: Any) -> str:
    if isinstance(spec, Mapping):
        name = next(iter(spec))
        options = spec[name] or {}
        inner = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
        return f"{name}({inner})"
    return str(spec)


@dataclass
class _Outcome:
    makespan: float
    instance_hours: float
    billed_hours: float
    utilization: float
    best: float
    completed: int
    lost_work: float
    trace: list[tuple[float, float]]  # (time, best so far) at each improvement


def _outcome(run: SimRun, pricing: Pricing, metric: str, mode: str) -> _Outcome:
    bill = run.bill(pricing)
    events: list[tuple[float, float]] = [
        (r.time, float(r.metrics[metric])) for r in run.tuner.reports if metric in r.metrics
    ]
    for trial in run.tuner.trials.values():
        value = trial.metric_value(metric)
        if trial.status is TrialStatus.COMPLETED and value is not None and trial.ended_at:
            events.append((trial.ended_at, value))
    events.sort(key=lambda e: e[0])
    trace: list[tuple[float, float]] = []
    for time, value in events:
        if not trace or better(value, trace[-1][1], mode):
            trace.append((time, value))
    best = run.tuner.best_value
    return _Outcome(
        makespan=run.makespan,
        instance_hours=bill.instance_hours,
        billed_hours=bill.billed_hours,
        utilization=run.utilization,
        best=math.nan if best is None else float(best),
        completed=run.completed,
        lost_work=run.backend.lost_work,
        trace=trace,
    )


def _band(
    point: Sequence[float], boot: Sequence[float]
) -> tuple[float, float, float, float, float]:
    """Mean of the point-fit runs, a 90 % band, and the simulation's and the fit's sd."""
    p = np.asarray([v for v in point if math.isfinite(v)], dtype=float)
    b = np.asarray([v for v in boot if math.isfinite(v)], dtype=float)
    if len(p) == 0:
        return math.nan, math.nan, math.nan, math.nan, math.nan
    mean = float(p.mean())
    var_sim = float(p.var(ddof=1)) if len(p) > 1 else 0.0
    var_all = float(b.var(ddof=1)) if len(b) > 1 else var_sim
    var_fit = max(0.0, var_all - var_sim)
    half = _Z90 * math.sqrt(var_sim + var_fit)
    return mean, mean - half, mean + half, math.sqrt(var_sim), math.sqrt(var_fit)


def simulate_plan(
    source: str | Path | Calibration,
    *,
    workers: int | Sequence[int] = (8, 64, 512),
    trials: int | None = None,
    schedulers: Sequence[Any] | None = None,
    markets: Sequence[str] = MARKETS,
    price: float = 0.09,
    spot_discount: float = 0.8,
    billing: str | Billing = "second",
    preemption_rate: float = 0.0,
    grace_s: float = 120.0,
    startup_s: float | None = None,
    overhead_s: float | None = None,
    steps: int | None = None,
    repeats: int = 5,
    bootstrap: bool = True,
    seed: int = 0,
    search_seed: int | None = None,
) -> PlanResult:
    """Simulate the requested searches on a workload calibrated from ``source``.

    ``source`` is an experiment directory (its journal is calibrated) or a
    :class:`~simulate.calibrate.Calibration`. ``trials`` defaults to the experiment's
    ``num_trials``; ``schedulers`` to the experiment's own (names or one-key mappings, as in
    experiment files); ``startup_s`` and ``overhead_s`` to what the run measured. Spot
    instances are preempted at ``preemption_rate`` per instance-hour (lost work is redone
    from the last report). ``bootstrap=False`` leaves the fit's uncertainty out of the bands.

    Each repeat samples new configurations, unless ``search_seed`` fixes the searcher's and
    schedulers' seed: the experiment's own seed makes the simulated search try exactly the
    configurations a real run with that seed tries (a prediction for that very search).
    """
    cal = source if isinstance(source, Calibration) else calibrate(source)
    counts = [workers] if isinstance(workers, (int, np.integer)) else list(workers)
    if not counts:
        raise ValueError("workers must list at least one worker count, e.g. [8, 64, 512]")
    counts = [_check_count("each worker count", k) for k in counts]
    n_trials = trials if trials is not None else cal.measured.get("num_trials")
    if n_trials is None:
        raise ValueError("trials is required: the experiment does not say how many it ran")
    n_trials = _check_count("trials", n_trials)
    repeats = _check_count("repeats", repeats)
    for name, value in (("seed", seed), ("search_seed", search_seed)):
        if value is None and name == "search_seed":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    the_markets = list(markets)
    if not the_markets:
        raise ValueError(f"markets must name at least one of {MARKETS}")
    for market in the_markets:
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
    rate = _check_rate("preemption_rate (per instance-hour)", preemption_rate)
    the_billing = billing if isinstance(billing, Billing) else Billing.parse(billing)
    pricing = Pricing(price, spot_discount, the_billing)
    if steps is not None:
        cal.workload(0, steps=steps)  # validates
    full_steps = cal.steps if steps is None else steps
    specs = _scheduler_specs(schedulers, cal, full_steps)
    if startup_s is not None:
        _check_rate("startup_s", startup_s)
    if overhead_s is not None:
        _check_rate("overhead_s", overhead_s)
    mode = check_mode(cal.mode)
    space = cal.search_space
    fits = cal.bootstrap(repeats, seed) if bootstrap else []

    def run_one(fitted: Calibration, spec: Any, k: int, market: str, s: int) -> _Outcome:
        queued = make_scheduler(spec).prefers_queue
        overhead = fitted.overhead_s(queued=queued) if overhead_s is None else overhead_s
        # A worker's first start, as measured, already includes one attempt's overhead.
        ready = max(0.0, fitted.startup_s - overhead) if startup_s is None else startup_s
        cluster = ClusterSpec(workers=k, startup_s=ready, overhead_s=overhead, market=market)
        faults = FaultModel(preemption_rate=rate if market == "spot" else 0.0, grace_s=grace_s)
        backend = SimBackend(fitted.workload(s, steps=steps), cluster, faults=faults, seed=s)
        tuner = Tuner(
            backend=backend,
            space=space,
            scheduler=make_scheduler(spec),
            searcher=make_searcher(fitted.searcher, space),
            metric=cal.metric,
            mode=mode,
            num_trials=n_trials,
            max_worker_losses=1_000_000,
            seed=s if search_seed is None else search_seed,
        )
        with fast_gc():
            tuner.run()
        backend.close()
        return _outcome(SimRun(tuner, backend), pricing, cal.metric, mode)

    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    for label, spec in specs:
        for k in counts:
            simulated: dict[str, tuple[list[_Outcome], list[_Outcome]]] = {}
            for market in the_markets:
                run_market = market if rate > 0 else "on-demand"  # no faults: same runs
                if run_market not in simulated:
                    point = [
                        run_one(cal, spec, k, run_market, repeat_seed(seed, r))
                        for r in range(repeats)
                    ]
                    boot = [
                        run_one(f, spec, k, run_market, repeat_seed(seed, repeats + r))
                        for r, f in enumerate(fits)
                    ]
                    simulated[run_market] = (point, boot)
                point, boot = simulated[run_market]
                preemption = rate if market == "spot" else 0.0
                rows.append(
                    _row(label, k, market, n_trials, point, boot, pricing, repeats, preemption)
                )
                curves.append(_trajectory(label, k, market, point, boot, mode))
    table = pd.DataFrame(rows)
    trajectories = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return PlanResult(table, trajectories, cal)


def _row(
    label: str,
    k: int,
    market: str,
    n_trials: int,
    point: list[_Outcome],
    boot: list[_Outcome],
    pricing: Pricing,
    repeats: int,
    preemption: float,
) -> dict[str, Any]:
    hourly = pricing.hourly(market)

    def band(values: Any) -> tuple[float, float, float, float, float]:
        return _band([values(o) for o in point], [values(o) for o in boot])

    mk, mk_lo, mk_hi, mk_sim, mk_fit = band(lambda o: o.makespan)
    ih, ih_lo, ih_hi, _, _ = band(lambda o: o.instance_hours)
    cost, cost_lo, cost_hi, _, _ = band(lambda o: o.billed_hours * hourly)
    ut, ut_lo, ut_hi, _, _ = band(lambda o: o.utilization)
    best, best_lo, best_hi, _, _ = band(lambda o: o.best)
    return {
        "scheduler": label,
        "workers": k,
        "market": market,
        "trials": n_trials,
        "makespan_s": mk,
        "makespan_s_low": max(0.0, mk_lo),
        "makespan_s_high": mk_hi,
        "makespan_h": mk / 3600.0,
        "instance_hours": ih,
        "instance_hours_low": max(0.0, ih_lo),
        "instance_hours_high": ih_hi,
        "cost_usd": cost,
        "cost_usd_low": max(0.0, cost_lo),
        "cost_usd_high": cost_hi,
        "utilization": ut,
        "utilization_low": min(1.0, max(0.0, ut_lo)),
        "utilization_high": min(1.0, max(0.0, ut_hi)),
        "best_value": best,
        "best_value_low": best_lo,
        "best_value_high": best_hi,
        "makespan_s_sim_sd": mk_sim,
        "makespan_s_fit_sd": mk_fit,
        "price_usd_per_h": hourly,
        "preemption_rate": preemption,
        "completed": float(np.mean([o.completed for o in point])),
        "lost_work_h": float(np.mean([o.lost_work for o in point])) / 3600.0,
        "repeats": repeats,
    }


def _trajectory(
    label: str, k: int, market: str, point: list[_Outcome], boot: list[_Outcome], mode: str
) -> pd.DataFrame:
    """The best value so far on a time grid: mean over point-fit runs, 5-95 % over all."""
    end = max(o.makespan for o in point + boot)
    grid = np.linspace(0.0, end, _GRID)

    def sample(o: _Outcome) -> np.ndarray[Any, np.dtype[np.float64]]:
        out = np.full(_GRID, np.nan)
        if o.trace:
            times = np.array([t for t, _ in o.trace])
            values = np.array([v for _, v in o.trace])
            idx = np.searchsorted(times, grid, side="right") - 1
            out = np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
        return out

    p = np.vstack([sample(o) for o in point])
    everything = np.vstack([p, *[sample(o)[None, :] for o in boot]])
    seen = ~np.all(np.isnan(everything), axis=0)
    mean = np.full(_GRID, np.nan)
    low = np.full(_GRID, np.nan)
    high = np.full(_GRID, np.nan)
    some = ~np.all(np.isnan(p), axis=0)
    mean[some] = np.nanmean(p[:, some], axis=0)
    low[seen] = np.nanpercentile(everything[:, seen], 5, axis=0)
    high[seen] = np.nanpercentile(everything[:, seen], 95, axis=0)
    if mode == "max":
        low, high = np.minimum(low, high), np.maximum(low, high)
    return pd.DataFrame(
        {
            "scheduler": label,
            "workers": k,
            "market": market,
            "time_s": grid,
            "best_value": mean,
            "best_value_low": low,
            "best_value_high": high,
        }
    )


def plan(source: str | Path | Calibration, **options: Any) -> pd.DataFrame:
    """The plan table (see :func:`simulate_plan` for the options)."""
    return simulate_plan(source, **options).table


# --------------------------------------------------------------------------- the verdict


def human_time(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.2 h``, ``2.1 days``."""
    if not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


def _record(frame: pd.DataFrame) -> dict[str, Any]:
    """The first row of ``frame`` as a plain dict."""
    return {str(k): v for k, v in frame.iloc[0].items()}


def _setting(row: Mapping[str, Any]) -> str:
    return f"{row['scheduler']} on {int(row['workers'])} {row['market']} worker(s)"


def _figures(row: Mapping[str, Any]) -> str:
    return (
        f"{human_time(row['makespan_s'])} ({human_time(row['makespan_s_low'])}–"
        f"{human_time(row['makespan_s_high'])}), ${row['cost_usd']:,.2f} "
        f"(${row['cost_usd_low']:,.2f}–${row['cost_usd_high']:,.2f})"
    )


def recommend(table: pd.DataFrame, *, deadline_h: float | None = None) -> str:
    """One sentence: the cheapest setting that finishes by ``deadline_h`` hours (by the top
    of its band), or the fastest one when none does; without a deadline, the cheapest and
    the fastest."""
    if table.empty:
        return "Nothing to recommend: the plan has no rows."
    rows = table.sort_values(["cost_usd", "makespan_s", "workers"], kind="stable")
    fastest = _record(table.sort_values(["makespan_s", "cost_usd"], kind="stable"))
    spot_note = ""
    if deadline_h is not None:
        hours = _check_rate("deadline_h", deadline_h)
        limit = hours * 3600.0
        ok = rows[rows["makespan_s_high"] <= limit]
        if ok.empty:
            return (
                f"No setting finishes within {human_time(limit)}; the fastest is "
                f"{_setting(fastest)}: {_figures(fastest)}."
            )
        pick = _record(ok)
        if pick["market"] == "spot" and not pick.get("preemption_rate", 0.0):
            spot_note = " (no preemptions assumed: give a preemption rate to price the risk)"
        return (
            f"Cheapest within {human_time(limit)}: {_setting(pick)}: {_figures(pick)}{spot_note}."
        )
    pick = _record(rows)
    if pick["market"] == "spot" and not pick.get("preemption_rate", 0.0):
        spot_note = " (no preemptions assumed)"
    return (
        f"Cheapest: {_setting(pick)}: {_figures(pick)}{spot_note}. "
        f"Fastest: {_setting(fastest)}: {_figures(fastest)}."
    )


# --------------------------------------------------------------------------- figure


def plan_figure(result: PlanResult, path: str | Path) -> Path:
    """Cost against makespan (with bands) per scheduler and market; the best metric over time
    beside it. Needs matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'daskhpo[plot]'") from exc

    table = result.table
    fig = Figure(figsize=(12, 4.8), layout="constrained")  # no pyplot: backends are left alone
    left, right = fig.subplots(1, 2)
    for (scheduler, market), rows in table.groupby(["scheduler", "market"], sort=False):
        rows = rows.sort_values("workers")
        left.errorbar(
            rows["makespan_h"],
            rows["cost_usd"],
            xerr=[
                (rows["makespan_s"] - rows["makespan_s_low"]) / 3600.0,
                (rows["makespan_s_high"] - rows["makespan_s"]) / 3600.0,
            ],
            yerr=[
                rows["cost_usd"] - rows["cost_usd_low"],
                rows["cost_usd_high"] - rows["cost_usd"],
            ],
            marker="o",
            capsize=3,
            label=f"{scheduler}, {market}",
        )
        for _, row in rows.iterrows():
            left.annotate(
                f"{int(row['workers'])}",
                (row["makespan_h"], row["cost_usd"]),
                textcoords="offset points",
                xytext=(4, 4),
            )
    left.set_xscale("log")
    left.set_xlabel("predicted makespan (hours)")
    left.set_ylabel("predicted cost (USD)")
    left.set_title("cost vs time (labels: workers; bars: 90 % band)")
    left.legend()
    traj = result.trajectories
    first_market = traj["market"].iloc[0] if not traj.empty else None
    for (scheduler, k), rows in traj[traj["market"] == first_market].groupby(
        ["scheduler", "workers"], sort=False
    ):
        hours = rows["time_s"] / 3600.0
        right.plot(hours, rows["best_value"], label=f"{scheduler}, {k} workers")
        right.fill_between(hours, rows["best_value_low"], rows["best_value_high"], alpha=0.15)
    right.set_xlabel("hours")
    right.set_ylabel(f"best {result.calibration.metric} so far")
    right.set_title("expected best value over time (band: 5–95 %)")
    right.legend(fontsize="small")
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out


def describe(result: PlanResult) -> str:
    """The calibration summary as text (for notebooks and the command line)."""
    return "\n".join(result.calibration.summary())
