"""Time to a target loss: ASHA (and friends) against random search, same workers, real Dask.

A toy objective with known learning curves: configuration ``(x, y)`` trains for up to
``--epochs`` epochs of ``--epoch-time`` seconds each, and its loss after ``t`` epochs is

    loss(t) = x + (0.5 + 0.5 * y) / sqrt(t)

so ``x`` sets the final quality and ``y`` how fast it is approached (early ranks are a noisy
guide). Only about 1.5 % of configurations can reach the default target 0.15, and only late
in training. Every search runs on one LocalCluster of ``--workers`` single-threaded worker
processes with the same seeds; a search ends when any report reaches the target. Time to
target is read from the reports (seconds since the search started); random search runs every
trial to the end (FIFO), the others stop or pause trials early.

    python benchmarks/bench_asha_vs_random.py [--seeds 5] [--workers 2] [--epoch-time 0.02]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from typing import Any

import daskhpo as dh


def toy(config: dict[str, Any]) -> dict[str, Any]:
    """The toy learning curve; sleeps ``epoch_time`` per epoch, reports every epoch."""
    loss = math.inf
    for epoch in range(1, int(config["epochs"]) + 1):
        time.sleep(float(config["epoch_time"]))
        loss = config["x"] + (0.5 + 0.5 * config["y"]) / math.sqrt(epoch)
        dh.report(epoch, loss=loss)
    return {"loss": loss}


def schedulers(epochs: int) -> dict[str, Any]:
    return {
        "random search (FIFO)": "fifo",
        "ASHA, stopping": {"asha": {"max_resource": epochs, "reduction_factor": 3}},
        "ASHA, promotion": {
            "asha": {"max_resource": epochs, "reduction_factor": 3, "variant": "promotion"}
        },
        "async Hyperband": {"async_hyperband": {"max_resource": epochs}},
        "median stopping": {"median": {"grace_period": 3, "max_resource": epochs}},
        "SHA (synchronous)": {"sha": {"max_resource": epochs}},
        "Hyperband (synchronous)": {"hyperband": {"max_resource": epochs}},
    }


def run_once(client: Any, scheduler: Any, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    space = {
        "x": dh.uniform(0.0, 1.0),
        "y": dh.uniform(0.0, 1.0),
        "epochs": args.epochs,
        "epoch_time": args.epoch_time,
    }
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = dh.tune(
            toy,
            space,
            metric="loss",
            num_trials=args.max_trials,
            time_budget=args.time_limit,
            target=args.target,
            scheduler=scheduler,
            seed=seed,
            client=client,
            experiment_dir=tmp,
            progress=False,
        )
        wall = time.perf_counter() - started
    reports = result.reports
    hits = reports[reports["loss"] <= args.target]
    return {
        "reached": not hits.empty,
        "time": float(hits["time"].min()) if not hits.empty else math.inf,
        "wall": wall,
        "epochs": len(reports),
        "trials": len(result.trials_list),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--epoch-time", type=float, default=0.02)
    parser.add_argument("--target", type=float, default=0.15)
    parser.add_argument("--max-trials", type=int, default=2000)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--only", default=None, help="run only schedulers whose name has this")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(args.workers)
        rows = []
        for name, scheduler in schedulers(args.epochs).items():
            if args.only and args.only.lower() not in name.lower():
                continue
            runs = [run_once(client, scheduler, seed, args) for seed in range(args.seeds)]
            rows.append((name, runs))
            times = ", ".join(f"{r['time']:.2f}" for r in runs)
            print(f"{name:26s} time to target per seed: {times} s", flush=True)

    print()
    print(
        f"{args.workers} workers, epochs of {args.epoch_time * 1000:.0f} ms, up to "
        f"{args.epochs} epochs per trial, target loss {args.target}, seeds 0..{args.seeds - 1}"
    )
    print()
    print(
        "| scheduler | reached | median time to target (s) | median epochs run | "
        "median trials started |"
    )
    print("|---|---|---|---|---|")
    for name, runs in rows:
        reached = sum(r["reached"] for r in runs)
        med_time = statistics.median(r["time"] for r in runs)
        shown = f"{med_time:.2f}" if math.isfinite(med_time) else f"> {args.time_limit:g}"
        epochs = statistics.median(r["epochs"] for r in runs)
        trials = statistics.median(r["trials"] for r in runs)
        print(f"| {name} | {reached}/{len(runs)} | {shown} | {epochs:.0f} | {trials:.0f} |")


if __name__ == "__main__":
    main()
