"""Does ``daskhpo plan`` predict real searches? Calibrate, predict, run for real, compare.

For each case: run the first part of a search (``--first`` trials, with the search's seed, so
they are the first trials the full search will try) for real on a LocalCluster of K0
single-threaded worker processes; calibrate the simulator from its journal; predict the
makespan of the full search (``--trials``) on K1 workers; then run the full search for real
on K1 workers and compare. Objectives are in ``tests/plan_objectives.py``: sleeps and pure
Python arithmetic whose time depends on the configuration, and a trainer reporting each
epoch for ASHA.

Two predictions are shown: for this very search (``search_seed`` = the experiment's seed, so
the simulated search tries the configurations the real one will) and for a search with new
configurations (the mean and 90 % band over repeats, the fit bootstrapped). The error is
that of the first. Makespan is the driver's clock from the start to the end of the search.

The best loss is checked too: the prediction for this search (its 90 % band; or, when it lies
beyond the losses the calibration run measured, the bound it gives) against the best loss the
full search measured.

    python benchmarks/bench_plan_validation.py [--cases all] [--repeats 5] [--seed 3]

On a 2-core machine, compute-bound cases only go up to 2 workers; 4 workers are used with
sleeping objectives only.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client

import daskhpo as dh
from daskhpo.dask.clusters import start_local_cluster
from simulate.calibrate import TrialData, calibrate, measure
from simulate.plan import simulate_plan
from tests import plan_objectives

DURATION_SPACE = {
    "x": dh.uniform(0.0, 1.0),
    "layers": dh.randint(1, 3),
    "width": dh.lograndint(16, 256),
    "base": 0.1,
}
EPOCH_SPACE = {
    "x": dh.uniform(0.0, 1.0),
    "y": dh.uniform(0.0, 1.0),
    "layers": dh.randint(1, 3),
    "width": dh.lograndint(16, 256),
    "base": 0.06,
    "max_epochs": 9,
}
ASHA = {"asha": {"max_resource": 9, "reduction_factor": 3, "grace_period": 1}}


@dataclass(frozen=True)
class Case:
    name: str
    objective: Callable[[dict[str, Any]], Any]
    space: dict[str, Any]
    scheduler: Any
    first: int  # trials in the calibration run
    first_workers: int
    trials: int  # trials in the full search
    workers: int


CASES = [
    Case("sleep, FIFO, 1 -> 2 workers", plan_objectives.sleeper, DURATION_SPACE, "fifo",
         12, 1, 40, 2),
    Case("sleep, FIFO, 2 -> 4 workers", plan_objectives.sleeper, DURATION_SPACE, "fifo",
         16, 2, 64, 4),
    Case("compute, FIFO, 1 -> 2 workers", plan_objectives.cruncher, DURATION_SPACE, "fifo",
         12, 1, 40, 2),
    Case("epochs, ASHA, 1 -> 2 workers", plan_objectives.epochs, EPOCH_SPACE, ASHA,
         16, 1, 60, 2),
    Case("epochs, ASHA, 2 -> 4 workers", plan_objectives.epochs, EPOCH_SPACE, ASHA,
         24, 2, 96, 4),
]  # fmt: skip


def run_real(
    case: Case, space: dict[str, Any], workers: int, trials: int, seed: int, root: Path, tag: str
) -> Path:
    """One real search on a fresh LocalCluster; returns its experiment directory."""
    cluster = start_local_cluster({"n_workers": workers, "threads_per_worker": 1})
    client = Client(cluster)
    try:
        client.run(importlib.import_module, "tests.plan_objectives")  # no first-import delay
        directory = root / tag
        dh.tune(
            case.objective,
            space,
            metric="loss",
            num_trials=trials,
            scheduler=case.scheduler,
            seed=seed,
            client=client,
            experiment_dir=directory,
            progress=False,
        )
        return directory
    finally:
        client.close()
        cluster.close()


def validate(case: Case, *, seed: int, repeats: int, root: Path) -> dict[str, Any]:
    space = dict(case.space)
    if case.objective is plan_objectives.cruncher:
        # One amount of work per configuration for both runs, sized on this machine.
        space["ops_per_s"] = plan_objectives.measure_rate()
    first = run_real(case, space, case.first_workers, case.first, seed, root, "first")
    cal = calibrate(first)
    predict = functools.partial(
        simulate_plan,
        cal,
        workers=[case.workers],
        trials=case.trials,
        schedulers=[case.scheduler],
        markets=["on-demand"],
        repeats=repeats,
        seed=seed,
    )
    this_search = predict(search_seed=seed).table.iloc[0]
    new_configs = predict().table.iloc[0]
    full = run_real(case, space, case.workers, case.trials, seed, root, "full")
    measurements = measure(full)
    measured = measurements.makespan
    assert measured is not None
    predicted = float(this_search["makespan_s"])
    best = measured_best(measurements.trials)
    bound = cal.data.metric_range
    assert bound is not None
    if this_search["best_value_beyond_data"] >= 0.5:  # a bound, not an estimate
        best_predicted = f"≤ {bound[0]:.4g}"
        best_within = best <= bound[0] + 1e-12
    else:
        low, high = float(this_search["best_value_low"]), float(this_search["best_value_high"])
        best_predicted = f"{float(this_search['best_value']):.4g} ({low:.4g}–{high:.4g})"
        best_within = low - 1e-12 <= best <= high + 1e-12
    return {
        "case": case.name,
        "calibrated on": f"{case.first} trials, {case.first_workers} worker(s)",
        "predicted for": f"{case.trials} trials, {case.workers} workers",
        "predicted (this search)": predicted,
        "predicted (new configs)": float(new_configs["makespan_s"]),
        "band low": float(new_configs["makespan_s_low"]),
        "band high": float(new_configs["makespan_s_high"]),
        "measured": measured,
        "error": predicted / measured - 1.0,
        "fit": cal.durations.kind,
        "best predicted": best_predicted,
        "best measured": best,
        "best within band": best_within,
    }


def measured_best(trials: list[TrialData]) -> float:
    """The least loss a search reported or returned."""
    values = [v for t in trials for v in t.values]
    values.extend(t.final for t in trials if t.final is not None)
    return min(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="all", help="comma-separated case numbers (1-based)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    chosen = (
        CASES
        if args.cases == "all"
        else [CASES[int(i) - 1] for i in args.cases.split(",") if i.strip()]
    )
    print(
        "| case | calibrated on | predicted for | predicted (this search) | "
        "predicted (new configs, 90 % band) | measured | error | best loss predicted | "
        "best loss measured | predicted best within band of measured best |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for case in chosen:
        with tempfile.TemporaryDirectory(prefix="plan-validation-") as tmp:
            row = validate(case, seed=args.seed, repeats=args.repeats, root=Path(tmp))
        worst = max(worst, abs(row["error"]))
        print(
            f"| {row['case']} | {row['calibrated on']} | {row['predicted for']} | "
            f"{row['predicted (this search)']:.2f} s | {row['predicted (new configs)']:.2f} s "
            f"({row['band low']:.2f}–{row['band high']:.2f}) | {row['measured']:.2f} s | "
            f"{row['error']:+.1%} | {row['best predicted']} | {row['best measured']:.4g} | "
            f"{'yes' if row['best within band'] else 'no'} |",
            flush=True,
        )
    print(f"\nworst error {worst:.1%} (bound: 15 %)")


if __name__ == "__main__":
    main()
