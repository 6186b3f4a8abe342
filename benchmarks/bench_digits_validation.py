"""Does replaying the digits table predict a real search? Real ASHA vs simulated ASHA, ratios.

The real search trains the torch MLP of :mod:`daskhpo.examples.torch_classifier` on a
LocalCluster of 2 single-threaded workers, over the grid of ``simulate/data/digits_curves.csv``
(the table ``benchmarks/make_digits_table.py`` made from the same example). The simulated one
replays that table (:class:`simulate.tabulated.TabulatedWorkload`, each step the seconds the
table measured) on 2 simulated workers. Both use the same space, scheduler and seed, so the
random searcher proposes the same configurations (the script checks it).

Two kinds of real search run for each seed. **Replay** (the primary row) gives every trial
the example's ``train_seed`` config key set to the seed the table was trained with (read from
its header), so a real trial trains the curve of its table row (exactly where torch's float32
kernels round as where the table was made): what is left to compare is time and the order of
ASHA's decisions. **Per-trial seeds** leaves ``train_seed``
out, as a search of the example does by default: each trial trains its own curve, which the
table's one run per configuration predicts only up to training noise. Per seed and kind it
prints

* time to target: seconds from the search's start to the first report at or below the target
  (a quantile of the table's final losses), real / simulated;
* best loss: the lowest validation loss any trial reported, real / simulated;
* the mean seconds per epoch, real / table, which is what a time ratio off 1 comes from;

and the medians over seeds, for the table alone (its seconds per step, nothing else), for
the table plus the per-trial overhead daskhpo's calibration measures (``simulate.calibrate``)
on two more real searches with other seeds (the launch and round-trip time of a trial), for
the table's seconds rescaled by the real/table seconds per epoch of those calibration
searches, plus the overhead, and for the table plus the overhead plus the cost of each report
that :func:`simulate.calibrate.report_overhead` measures on those searches against the table
(sending the report, saving the checkpoint: ``ClusterSpec.report_overhead_s``). The promise
is both medians of the replay row within 10 %; the per-trial row shows what the training
noise adds to that. ``--fresh-table`` first makes the table on this machine (about 15 s), so that
its seconds and its curves (torch's float32 kernels round differently per CPU) are this
machine's; ``--table`` validates another file.

    python benchmarks/bench_digits_validation.py [--fresh-table] [--seeds 9] [--trials 100]

The default target (the best 2 % of the table's final losses, 100 trials) takes a real search
about a second to reach; an easier one is reached in a few epochs, where the launch of the
first trials and the machine's jitter are most of the time measured.

Needs torch (``pip install 'daskhpo[torch]'``). Run it on a quiet machine: time is wall time.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client
from make_digits_table import train_seed_of, write_table

import daskhpo as dh
from daskhpo.dask.clusters import start_local_cluster
from daskhpo.registry import make_scheduler
from simulate.calibrate import calibrate, report_overhead
from simulate.cluster import ClusterSpec
from simulate.runner import run_search
from simulate.tabulated import TabulatedWorkload, read_table

TABLE = Path(__file__).resolve().parent.parent / "simulate" / "data" / "digits_curves.csv"
METRIC = "val_loss"
BOUND = 0.10
#: The kinds of real search, by the name their rows print with.
KINDS = ("replay", "per-trial")
#: A simulated twin of a real search: its name in the figures, its table, its cluster.
Twin = tuple[str, TabulatedWorkload, ClusterSpec]
#: Seeds of the calibration searches (no comparison uses them).
CALIBRATION_SEEDS = (1000, 1001)


def grid_space(workload: TabulatedWorkload, train_seed: int | None) -> dict[str, Any]:
    """The table's grid (:meth:`TabulatedWorkload.space`) plus the epochs a trial trains and,
    unless None, the ``train_seed`` every trial trains with: the same space for the real and
    the simulated search."""
    seeded = {} if train_seed is None else {"train_seed": train_seed}
    return {**workload.space().domains, "max_epochs": workload.steps, **seeded}


def asha(steps: int) -> dict[str, Any]:
    return {"asha": {"max_resource": steps, "min_resource": 1, "reduction_factor": 3}}


def summary(
    reports: Iterable[Any], start: float, target: float
) -> tuple[float, float, dict[int, list[float]]]:
    """(seconds to the first report <= target or NaN, lowest loss, report times by trial)."""
    first, best = math.inf, math.inf
    times: dict[int, list[float]] = defaultdict(list)
    for r in reports:
        value = r.metrics.get(METRIC)
        if value is None:
            continue
        times[r.trial_id].append(r.time)
        best = min(best, float(value))
        if value <= target:
            first = min(first, r.time - start)
    return (first if math.isfinite(first) else math.nan), best, times


def epoch_seconds(times: Mapping[int, list[float]]) -> float:
    """Mean seconds between consecutive reports of one trial (an epoch, in the real run)."""
    gaps = [b - a for ts in times.values() for a, b in itertools.pairwise(ts)]
    return statistics.fmean(gaps) if gaps else math.nan


def table_epoch_seconds(workload: TabulatedWorkload, configs: Iterable[Mapping[str, Any]]) -> float:
    seconds = [workload.duration(0, c) / workload.steps for c in configs]
    return statistics.fmean(seconds)


def warm(client: Client) -> None:
    """Import torch and the example, and load the data, on every worker before the clock."""

    def load() -> None:
        from daskhpo.examples.torch_classifier import load_data

        load_data()

    client.run(load)


def real_search(client: Client, space: dict[str, Any], steps: int, seed: int, trials: int,
                directory: Path) -> dh.Result:  # fmt: skip
    from daskhpo.examples.torch_classifier import train

    return dh.tune(train, space, metric=METRIC, num_trials=trials, scheduler=asha(steps),
                   seed=seed, client=client, experiment_dir=directory,
                   progress=False)  # fmt: skip


def calibration(
    client: Client, workload: TabulatedWorkload, space: dict[str, Any], trials: int, root: Path
) -> tuple[float, float, float]:
    """Measured on real searches with seeds no comparison uses (the means over
    :data:`CALIBRATION_SEEDS`): the per-trial overhead daskhpo's calibration fits, the real
    seconds per epoch over the table's, and the cost of each report against the table."""
    overheads, speeds, costs = [], [], []
    queued = make_scheduler(asha(workload.steps)).prefers_queue
    for seed in CALIBRATION_SEEDS:
        directory = root / f"calibration-{seed}"
        real = real_search(client, space, workload.steps, seed, trials, directory)
        overheads.append(calibrate(directory).overhead_s(queued=queued))
        costs.append(report_overhead(directory, workload))
        _, _, times = summary(real.reports_list, 0.0, -math.inf)
        configs = [t.config for t in real.trials_list]
        speeds.append(epoch_seconds(times) / table_epoch_seconds(workload, configs))
    return statistics.fmean(overheads), statistics.fmean(speeds), statistics.fmean(costs)


def rescaled(table: Path, factor: float) -> TabulatedWorkload:
    """The table with every step's seconds times ``factor``: its epochs at this machine's speed."""
    frame = read_table(table)
    return TabulatedWorkload(frame.assign(time_s=frame["time_s"] * factor))


def simulated(workload: TabulatedWorkload, space: dict[str, Any], seed: int, trials: int,
              cluster: ClusterSpec) -> Any:  # fmt: skip
    return run_search(workload, cluster=cluster,
                      scheduler=asha(workload.steps), space=space, num_trials=trials,
                      seed=seed)  # fmt: skip


def one_seed(client: Client, workload: TabulatedWorkload, space: dict[str, Any], seed: int,
             trials: int, target: float, directory: Path,
             twins: Sequence[Twin]) -> dict[str, float]:  # fmt: skip
    """One real search and its simulated twins (name, table, cluster): the figures."""
    started = time.time()
    real = real_search(client, space, workload.steps, seed, trials, directory)
    wall = time.time() - started
    real_start = min(t.created_at for t in real.trials_list)
    real_ttt, real_best, real_times = summary(real.reports_list, real_start, target)
    row: dict[str, float] = {"wall_s": wall, "real_ttt": real_ttt, "real_best": real_best}
    for name, table, cluster in twins:
        sim = simulated(table, space, seed, trials, cluster)
        sim_start = min(t.created_at for t in sim.tuner.trials.values())
        ttt, best, _ = summary(sim.tuner.reports, sim_start, target)
        row |= {f"{name}_ttt": ttt, f"{name}_best": best, f"{name}_ttt_ratio": real_ttt / ttt,
                f"{name}_best_ratio": real_best / best}  # fmt: skip
    real_configs = {t.trial_id: t.config for t in real.trials_list}
    sim_configs = {tid: t.config for tid, t in sim.tuner.trials.items()}
    same = sum(real_configs.get(tid) == c for tid, c in sim_configs.items()) / len(sim_configs)
    return {
        **row,
        "epoch_ratio": epoch_seconds(real_times)
        / table_epoch_seconds(workload, real_configs.values()),
        "same_configs": same,
        "real_epochs": float(len(real.reports_list)),
        "sim_epochs": float(len(sim.tuner.reports)),
    }


def print_seed(kind: str, seed: int, row: Mapping[str, float]) -> None:
    print(f"seed {seed} {kind}: real {row['wall_s']:.1f} s wall; time to target real "
          f"{row['real_ttt']:.2f} s, table {row['sim_ttt']:.2f} s, +overhead "
          f"{row['cal_ttt']:.2f} s, rescaled {row['speed_ttt']:.2f} s, +report cost "
          f"{row['report_ttt']:.2f} s (real/sim {row['sim_ttt_ratio']:.2f}, "
          f"{row['cal_ttt_ratio']:.2f}, {row['speed_ttt_ratio']:.2f}, "
          f"{row['report_ttt_ratio']:.2f}); best loss real {row['real_best']:.4f}, table "
          f"{row['sim_best']:.4f} (real/sim {row['sim_best_ratio']:.2f}); epoch s real/table "
          f"{row['epoch_ratio']:.2f}; epochs {row['real_epochs']:.0f}/{row['sim_epochs']:.0f}; "
          f"same configs {row['same_configs']:.0%}", flush=True)  # fmt: skip


def print_summary(rows: Mapping[str, list[dict[str, float]]], train_seed: int) -> None:
    """Medians over seeds, one block of figures per kind of real search."""
    print("\n| real search | figure | median real/sim | min-max | promise | within |")
    print("|---|---|---|---|---|---|")
    names = {"replay": f"replay (train_seed {train_seed})", "per-trial": "per-trial seeds"}
    for kind in KINDS:
        for key, name in (("sim_ttt_ratio", "time to target, table alone"),
                          ("cal_ttt_ratio", "time to target, table + measured overhead"),
                          ("speed_ttt_ratio", "time to target, table rescaled + overhead"),
                          ("report_ttt_ratio", "time to target, table + overhead + report cost"),
                          ("sim_best_ratio", "best loss, table alone"),
                          ("cal_best_ratio", "best loss, table + measured overhead"),
                          ("epoch_ratio", "seconds per epoch (real/table)")):  # fmt: skip
            values = [r[key] for r in rows[kind] if math.isfinite(r[key])]
            if not values:
                print(f"| {names[kind]} | {name} | n/a (target never reached) | | | |")
                continue
            median = statistics.median(values)
            explains = key == "epoch_ratio"
            promise = "(explains)" if explains else f"±{BOUND:.0%}"
            ok = "" if explains else ("yes" if abs(median - 1) <= BOUND else "NO")
            print(f"| {names[kind]} | {name} | {median:.3f} | {min(values):.3f}-"
                  f"{max(values):.3f} | {promise} | {ok} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=9, help="searches of each kind")
    parser.add_argument("--trials", type=int, default=100, help="trials per search")
    parser.add_argument("--quantile", type=float, default=0.02,
                        help="target: this quantile of the table's final losses")  # fmt: skip
    parser.add_argument("--table", type=Path, default=TABLE,
                        help="the table to validate (default: the shipped one)")  # fmt: skip
    parser.add_argument("--fresh-table", action="store_true",
                        help="make the table on this machine first (make_digits_table.py), "
                        "so its seconds and curves are this machine's")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daskhpo-digits-table-") as made:
        table = args.table
        if args.fresh_table:
            table = Path(made) / "digits_curves.csv"
            print(f"made the table on this machine in {write_table(table):.1f} s", flush=True)
        validate(table, args.seeds, args.trials, args.quantile)


def validate(table: Path, seeds: int, trials: int, quantile: float) -> None:
    """Real and simulated searches against ``table``, per seed, then the medians."""
    workload = TabulatedWorkload(table)
    train_seed = train_seed_of(table)
    spaces = {"replay": grid_space(workload, train_seed), "per-trial": grid_space(workload, None)}
    target = float(np.quantile(workload.final_values(), quantile))
    print(f"{workload}; target {METRIC} <= {target:.4f} (quantile {quantile}), "
          f"ASHA to {workload.steps} epochs, {trials} trials, 2 workers; replay with "
          f"train_seed {train_seed}, the table's")  # fmt: skip
    client = Client(start_local_cluster({"n_workers": 2, "threads_per_worker": 1}))
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    try:
        warm(client)
        with tempfile.TemporaryDirectory(prefix="daskhpo-digits-validation-") as scratch:
            root = Path(scratch)
            overhead, speed, cost = calibration(client, workload, spaces["replay"], trials, root)
            print(f"measured on {len(CALIBRATION_SEEDS)} calibration searches: per-trial "
                  f"overhead {overhead * 1000:.0f} ms, seconds per epoch real/table "
                  f"{speed:.2f}, cost per report {cost * 1000:.1f} ms")  # fmt: skip
            launch = ClusterSpec(workers=2, overhead_s=overhead)
            twins = [("sim", workload, ClusterSpec(workers=2)), ("cal", workload, launch),
                     ("speed", rescaled(table, speed), launch),
                     ("report", workload, ClusterSpec(workers=2, overhead_s=overhead,
                                                      report_overhead_s=cost))]  # fmt: skip
            for seed in range(seeds):
                for kind in KINDS:  # interleaved: a change of the machine's load hits both
                    row = one_seed(client, workload, spaces[kind], seed, trials, target,
                                   root / f"{kind}-{seed}", twins)  # fmt: skip
                    rows[kind].append(row)
                    print_seed(kind, seed, row)
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    print_summary(rows, train_seed)


if __name__ == "__main__":
    main()
