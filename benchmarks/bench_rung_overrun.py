"""Epochs ASHA spends on a real cluster against the ideal: do decisions take effect at the rung?

The same seeded ASHA search (``--trials`` trials, rungs 1, 3, 9 up to ``--epochs``) runs

* in the simulator with zero latency (the ideal: a stopped trial ends exactly at its rung),
* on a real LocalCluster of 2 single-threaded worker processes, epochs of ``--epoch-ms``,
  with the wait for the verdict at rungs (``verdict_timeout`` 0.5 s, the default),
* the same with ``verdict_timeout=0``: reports never wait, so a stop lands one epoch late.

Epochs spent are the epochs the objective computed (each one reports once). Medians over
``--repeats`` runs; the ratio is real / ideal (the target is within 2%).

    python benchmarks/bench_rung_overrun.py [--trials 30] [--epochs 9] [--epoch-ms 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import daskhpo as dh
from daskhpo.settings import TuneSettings
from simulate.runner import run_search

SPACE = {"lr": dh.loguniform(1e-3, 1.0)}


def loss_at(lr: float, epoch: int) -> float:
    """A learning curve that ranks configurations the same at every epoch."""
    return 0.1 + abs(math.log10(lr) + 1.5) + math.exp(-0.3 * epoch)


def objective(config: dict[str, Any], epochs: int, epoch_s: float) -> float:
    loss = 0.0
    for epoch in range(1, epochs + 1):
        time.sleep(epoch_s)
        loss = loss_at(float(config["lr"]), epoch)
        dh.report(epoch, loss=loss)
    return loss


class Curves:
    """The objective as a simulator workload: the same curve, the same epoch time."""

    metric = "loss"

    def __init__(self, epochs: int, epoch_s: float) -> None:
        self.steps = epochs
        self.epoch_s = epoch_s

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        return self.steps * self.epoch_s

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        return [loss_at(float(config["lr"]), e) for e in range(1, self.steps + 1)]


def scheduler(epochs: int) -> dict[str, Any]:
    return {"asha": {"max_resource": epochs, "grace_period": 1, "reduction_factor": 3}}


def ideal(trials: int, epochs: int, epoch_s: float, seed: int) -> int:
    settings = TuneSettings(
        metric="loss", num_trials=trials, seed=seed, scheduler=scheduler(epochs)
    )
    run = run_search(Curves(epochs, epoch_s), settings, cluster=2, space=SPACE)
    return len(run.tuner.reports)


def real(client: Any, trials: int, epochs: int, epoch_s: float, seed: int, timeout: float) -> int:
    from functools import partial

    with tempfile.TemporaryDirectory() as directory:
        result = dh.tune(
            partial(objective, epochs=epochs, epoch_s=epoch_s),
            SPACE,
            metric="loss",
            num_trials=trials,
            seed=seed,
            scheduler=scheduler(epochs),
            client=client,
            experiment_dir=directory,
            progress=False,
            verdict_timeout=timeout,
        )
        timeouts = int(result.trials["verdict_timeouts"].sum())
        if timeouts:
            print(f"  ({timeouts} verdict waits timed out)")
        return len(result.reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--epoch-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from distributed import Client

    from daskhpo.dask.clusters import start_local_cluster

    epoch_s = args.epoch_ms / 1000
    cluster = start_local_cluster({"n_workers": 2, "threads_per_worker": 1})
    client = Client(cluster)
    rows: dict[str, list[int]] = {"ideal": [], "waits": [], "no waits": []}
    try:
        for r in range(args.repeats):
            seed = args.seed + r
            rows["ideal"].append(ideal(args.trials, args.epochs, epoch_s, seed))
            rows["waits"].append(real(client, args.trials, args.epochs, epoch_s, seed, 0.5))
            rows["no waits"].append(real(client, args.trials, args.epochs, epoch_s, seed, 0.0))
            print(f"run {r}: " + ", ".join(f"{k} {v[-1]}" for k, v in rows.items()), flush=True)
    finally:
        client.close()
        cluster.close()
    # the ratio of each run to its own ideal (same seed), then the median over runs
    print(f"\nASHA, {args.trials} trials, {args.epochs} epochs of {args.epoch_ms:g} ms, 2 workers")
    print(f"{'':28}{'epochs (median)':>16}{'real / ideal':>14}")
    print(f"{'simulator, zero latency':28}{statistics.median(rows['ideal']):>16g}{1:>14.3f}")
    for name, label in (
        ("waits", "real, verdict_timeout=0.5"),
        ("no waits", "real, verdict_timeout=0"),
    ):
        ratio = statistics.median(a / b for a, b in zip(rows[name], rows["ideal"], strict=True))
        print(f"{label:28}{statistics.median(rows[name]):>16g}{ratio:>14.3f}")


if __name__ == "__main__":
    main()
