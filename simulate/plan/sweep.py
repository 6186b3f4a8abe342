"""The sweep: every requested setting (scheduler, worker count, market) simulated on the
calibrated workload, ``repeats`` times on the fit and once per bootstrap refit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daskhpo.registry import make_scheduler
from daskhpo.trial import check_mode
from simulate.calibrate import Calibration, calibrate
from simulate.cluster import MARKETS, ClusterSpec
from simulate.cost import Billing, Pricing
from simulate.faults import FaultModel
from simulate.plan.options import (
    check_count,
    check_markets,
    check_rate,
    check_seed,
    scheduler_specs,
)
from simulate.plan.outcome import Outcome, Support, outcome, table_row, trajectory
from simulate.plan.verdict import recommend
from simulate.repeats import repeat_seed
from simulate.runner import run_search

__all__ = ["PlanResult", "plan", "simulate_plan"]


@dataclass
class PlanResult:
    """What :func:`simulate_plan` returns: the table, the best metric over time, the fit."""

    table: pd.DataFrame
    trajectories: pd.DataFrame
    calibration: Calibration

    def recommend(self, deadline_h: float | None = None) -> str:
        return recommend(self.table, deadline_h=deadline_h)


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
    counts = [check_count("each worker count", k) for k in counts]
    n_trials = trials if trials is not None else cal.measured.get("num_trials")
    if n_trials is None:
        raise ValueError("trials is required: the experiment does not say how many it ran")
    n_trials = check_count("trials", n_trials)
    repeats = check_count("repeats", repeats)
    check_seed("seed", seed)
    if search_seed is not None:
        check_seed("search_seed", search_seed)
    the_markets = check_markets(markets)
    rate = check_rate("preemption_rate (per instance-hour)", preemption_rate)
    the_billing = billing if isinstance(billing, Billing) else Billing.parse(billing)
    pricing = Pricing(price, spot_discount, the_billing)
    if steps is not None:
        cal.workload(0, steps=steps)  # validates
    full_steps = cal.steps if steps is None else steps
    specs = scheduler_specs(schedulers, cal, full_steps)
    if startup_s is not None:
        check_rate("startup_s", startup_s)
    if overhead_s is not None:
        check_rate("overhead_s", overhead_s)
    mode = check_mode(cal.mode)
    space = cal.search_space
    fits = cal.bootstrap(repeats, seed) if bootstrap else []
    support = Support.of(cal)  # what best values may not leave

    def run_one(fitted: Calibration, spec: Any, k: int, market: str, s: int) -> Outcome:
        queued = make_scheduler(spec).prefers_queue
        overhead = fitted.overhead_s(queued=queued) if overhead_s is None else overhead_s
        # A worker's first start, as measured, already includes one attempt's overhead.
        ready = max(0.0, fitted.startup_s - overhead) if startup_s is None else startup_s
        run = run_search(
            fitted.workload(s, steps=steps),
            cluster=ClusterSpec(workers=k, startup_s=ready, overhead_s=overhead, market=market),
            scheduler=spec,
            searcher=fitted.searcher,
            space=space,
            num_trials=n_trials,
            seed=s,
            search_seed=search_seed,
            faults=FaultModel(preemption_rate=rate if market == "spot" else 0.0, grace_s=grace_s),
            mode=mode,
        )
        return outcome(run, pricing, cal.metric, mode, support)

    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    for label, spec in specs:
        for k in counts:
            simulated: dict[str, tuple[list[Outcome], list[Outcome]]] = {}
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
                    table_row(
                        label,
                        k,
                        market,
                        n_trials,
                        point,
                        boot,
                        pricing,
                        repeats,
                        preemption,
                        support,
                    )
                )
                curves.append(trajectory(label, k, market, point, boot, mode))
    table = pd.DataFrame(rows)
    trajectories = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return PlanResult(table, trajectories, cal)


def plan(source: str | Path | Calibration, **options: Any) -> pd.DataFrame:
    """The plan table (see :func:`simulate_plan` for the options)."""
    return simulate_plan(source, **options).table
