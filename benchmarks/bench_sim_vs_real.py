"""How close do the simulator and ``daskhpo plan`` come to real searches? Printed ratios.

The tests check what a loaded machine cannot break (same decisions, a generous overhead per
trial); the promises themselves are measured here, as medians over ``--repeats`` runs:

* **sim**: 24 trials sleeping 0.15-0.25 s (``tests/sim_objectives.py``) on 2 single-threaded
  workers, against the simulator with the same seed and durations; the promise is a real
  makespan within 10 % of the simulated one.
* **plan**: calibrate from the first trials of a search on 1 worker, predict the full search
  on 2 with ``daskhpo plan``, run it for real on 2 (FIFO sleeps and ASHA epochs from
  ``tests/plan_objectives.py``); the promise is a prediction within 15 % of the real makespan.

    python benchmarks/bench_sim_vs_real.py [--repeats 5] [--only sim,plan-fifo,plan-asha]

Run it on a quiet machine: every figure is a wall-clock makespan.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client

import daskhpo as dh
from daskhpo.dask.clusters import start_local_cluster
from simulate.calibrate import measure
from simulate.plan import plan
from simulate.runner import run_search
from simulate.workloads import DurationModel, DurationWorkload
from tests import plan_objectives, sim_objectives

SIM_SPEC = "uniform:low=0.15,high=0.25"
SIM_SPACE = {"x": dh.uniform(0.0, 1.0), "duration": SIM_SPEC, "duration_seed": 3}
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
ASHA9 = {"asha": {"max_resource": 9, "reduction_factor": 3, "grace_period": 1}}
PLAN_CASES: dict[str, tuple[Callable[..., Any], dict[str, Any], Any, int, int]] = {
    "plan-fifo": (plan_objectives.sleeper, DURATION_SPACE, "fifo", 10, 30),
    "plan-asha": (plan_objectives.epochs, EPOCH_SPACE, ASHA9, 12, 40),
}


def _client(workers: int) -> Client:
    client = Client(start_local_cluster({"n_workers": workers}))
    for module in ("tests.sim_objectives", "tests.plan_objectives"):
        client.run(importlib.import_module, module)  # no first-import delay in the clock
    return client


def _close(client: Client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def sim_ratio(client: Client, seed: int) -> float:
    """Real makespan / simulated makespan of one search."""
    trials = 24
    real = dh.tune(sim_objectives.sleep_like_sim, SIM_SPACE, metric="loss", num_trials=trials,
                   seed=seed, client=client, progress=False)  # fmt: skip
    workload = DurationWorkload(DurationModel(SIM_SPEC, seed=3), value=lambda c: c["x"])
    sim = run_search(workload, cluster=2, space=SIM_SPACE, num_trials=trials, seed=seed)
    ends = [t.ended_at for t in real.trials_list if t.ended_at is not None]
    starts = [t.started_at for t in real.trials_list if t.started_at is not None]
    assert len(ends) == len(starts) == trials, "every trial of a finished search ran and ended"
    return (max(ends) - min(starts)) / sim.makespan


def plan_ratio(one: Client, two: Client, case: str, seed: int, root: Path) -> float:
    """Predicted makespan / real makespan of the full search of ``case`` on two workers."""
    objective, space, scheduler, first, full = PLAN_CASES[case]

    def real(client: Client, directory: Path, trials: int) -> Path:
        dh.tune(objective, space, metric="loss", num_trials=trials, scheduler=scheduler,
                seed=seed, client=client, experiment_dir=directory, progress=False)  # fmt: skip
        return directory

    calibration = real(one, root / f"{case}-{seed}-first", first)
    predicted = plan(calibration, workers=[2], trials=full, schedulers=[scheduler],
                     markets=["on-demand"], repeats=3, seed=0, search_seed=seed)  # fmt: skip
    measured = measure(real(two, root / f"{case}-{seed}-full", full))
    assert measured.makespan is not None
    return float(predicted["makespan_s"].iloc[0]) / measured.makespan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="sim,plan-fifo,plan-asha")
    args = parser.parse_args()
    cases = [c for c in args.only.split(",") if c]
    unknown = [c for c in cases if c != "sim" and c not in PLAN_CASES]
    if unknown:
        raise SystemExit(f"unknown case {unknown[0]!r}; choose from sim, {', '.join(PLAN_CASES)}")
    bounds = {"sim": 0.10, **dict.fromkeys(PLAN_CASES, 0.15)}
    ratios: dict[str, list[float]] = {c: [] for c in cases}
    one, two = _client(1), _client(2)
    try:
        with tempfile.TemporaryDirectory(prefix="daskhpo-sim-vs-real-") as scratch:
            for repeat in range(args.repeats):
                seed = 5 + repeat
                for case in cases:
                    if case == "sim":
                        value = sim_ratio(two, seed)
                    else:
                        value = plan_ratio(one, two, case, seed, Path(scratch))
                    ratios[case].append(value)
                    print(f"{case} seed {seed}: ratio {value:.3f}", flush=True)
    finally:
        _close(one)
        _close(two)
    print("\n| case | ratio median | min-max | promise | median within |")
    print("|---|---|---|---|---|")
    for case, values in ratios.items():
        median = statistics.median(values)
        ok = "yes" if abs(median - 1.0) <= bounds[case] else "NO"
        print(f"| {case} | {median:.3f} | {min(values):.3f}-{max(values):.3f} | "
              f"±{bounds[case]:.0%} | {ok} |")  # fmt: skip


if __name__ == "__main__":
    main()
