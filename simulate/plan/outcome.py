"""One simulated search summarised (time, cost, the best value and its trace), and the plan
table's rows and best-value curves over the repeats of each setting.

The best value never leaves what the calibration run measured. Trials that return one result
get measured results (resampled, :mod:`simulate.calibrate.results`), so a run that completes
more trials than were measured would need to know the unmeasured tail: its best is a bound,
not an estimate. Learning curves may rank configurations, but how far beyond the measured
values a run would go is not in the data either: a best beyond that range is held at its edge.
Both count in ``best_value_beyond_data``, so the table can say "extrapolation" instead of a
number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from daskhpo.trial import TrialStatus, better
from simulate.calibrate import Calibration
from simulate.cost import Pricing
from simulate.runner import SimRun

__all__ = [
    "PLAN_COLUMNS",
    "Outcome",
    "Support",
    "band",
    "held",
    "outcome",
    "table_row",
    "trajectory",
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
    "best_value_beyond_data",
]
#: z of a two-sided 90 % normal band.
_Z90 = 1.6449
#: Points of the best-metric-over-time curves.
_GRID = 41


@dataclass
class Outcome:
    """What one simulated search came to."""

    makespan: float
    instance_hours: float
    billed_hours: float
    utilization: float
    best: float  # within the measured range (NaN when nothing was measured)
    beyond_data: bool  # the run's own best lay outside the measured range
    completed: int
    lost_work: float
    trace: list[tuple[float, float]]  # (time, best so far) at each improvement, held likewise


@dataclass(frozen=True)
class Support:
    """What the calibration run measured of the metric, which best values may not leave."""

    low: float
    high: float
    results: int | None  # results measured, when trials return one; None for curves

    @classmethod
    def of(cls, calibration: Calibration) -> Support | None:
        """The support of ``calibration``'s measurements; None when it measured no value."""
        bounds = calibration.data.metric_range
        if bounds is None:
            return None
        scored = sum(1 for t in calibration.data.trials if t.final is not None)
        return cls(bounds[0], bounds[1], None if calibration.steps else scored)

    @property
    def bounds(self) -> tuple[float, float]:
        return self.low, self.high


def held(value: float | None, bounds: tuple[float, float] | None) -> tuple[float, bool]:
    """``value`` held within ``bounds`` (NaN without either), and whether it had to be."""
    if value is None or bounds is None:
        return math.nan, False
    low, high = bounds
    inside = min(max(float(value), low), high)
    return inside, inside != value


def outcome(
    run: SimRun, pricing: Pricing, metric: str, mode: str, support: Support | None
) -> Outcome:
    """Summarise ``run``; its best values are held within what ``support`` measured."""
    bill = run.bill(pricing)
    bounds = None if support is None else support.bounds
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
    best, beyond = held(run.tuner.best_value, bounds)
    if support is not None and support.results is not None:
        beyond = beyond or run.completed > support.results
    return Outcome(
        makespan=run.makespan,
        instance_hours=bill.instance_hours,
        billed_hours=bill.billed_hours,
        utilization=run.utilization,
        best=best,
        beyond_data=beyond,
        completed=run.completed,
        lost_work=run.backend.lost_work,
        trace=[(time, held(value, bounds)[0]) for time, value in trace],
    )


def band(point: Sequence[float], boot: Sequence[float]) -> tuple[float, float, float, float, float]:
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


def table_row(
    label: str,
    k: int,
    market: str,
    n_trials: int,
    point: list[Outcome],
    boot: list[Outcome],
    pricing: Pricing,
    repeats: int,
    preemption: float,
    support: Support | None,
) -> dict[str, Any]:
    """One row of the plan table: means and 90 % bands over the setting's runs."""
    hourly = pricing.hourly(market)

    def of(values: Any) -> tuple[float, float, float, float, float]:
        return band([values(o) for o in point], [values(o) for o in boot])

    mk, mk_lo, mk_hi, mk_sim, mk_fit = of(lambda o: o.makespan)
    ih, ih_lo, ih_hi, _, _ = of(lambda o: o.instance_hours)
    cost, cost_lo, cost_hi, _, _ = of(lambda o: o.billed_hours * hourly)
    ut, ut_lo, ut_hi, _, _ = of(lambda o: o.utilization)
    best, best_lo, best_hi, _, _ = of(lambda o: o.best)
    if support is not None:  # the band of a held value is held too
        best_lo, best_hi = held(best_lo, support.bounds)[0], held(best_hi, support.bounds)[0]
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
        "best_value_beyond_data": float(np.mean([o.beyond_data for o in point + boot])),
        "makespan_s_sim_sd": mk_sim,
        "makespan_s_fit_sd": mk_fit,
        "price_usd_per_h": hourly,
        "preemption_rate": preemption,
        "completed": float(np.mean([o.completed for o in point])),
        "lost_work_h": float(np.mean([o.lost_work for o in point])) / 3600.0,
        "repeats": repeats,
    }


def trajectory(
    label: str, k: int, market: str, point: list[Outcome], boot: list[Outcome], mode: str
) -> pd.DataFrame:
    """The best value so far on a time grid: mean over point-fit runs, 5-95 % over all."""
    end = max(o.makespan for o in point + boot)
    grid = np.linspace(0.0, end, _GRID)

    def sample(o: Outcome) -> np.ndarray[Any, np.dtype[np.float64]]:
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
