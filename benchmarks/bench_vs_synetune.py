"""daskhpo's simulator and Syne Tune's, side by side on the digits table: speed and rankings.

Both replay ``simulate/data/digits_curves.csv`` (real learning curves of the torch digits
example, every epoch's validation loss and seconds): daskhpo with
:class:`simulate.tabulated.TabulatedWorkload`, Syne Tune with its simulator backend
(``UserBlackboxBackend`` over a ``BlackboxTabular`` built here from the same CSV, elapsed time
the table's seconds summed epoch by epoch, ``SimulatorCallback`` for the virtual clock, and
none of the delays its ``SimulatorConfig`` models by default, as daskhpo's simulator here has
no per-trial overhead). Syne Tune's clock also advances by ``--synetune-sleep`` whenever its
tuner waits, and by the real time its tuner spends deciding; daskhpo's clock only by the
table's seconds. Each
runs random search (FIFO) and ASHA (to 12 epochs, reduction factor 3, grace period 1) with the
same number of trials and workers, for several seeds. The script prints, per library and
scheduler, the median wall time to simulate one search, daskhpo's speed-up over Syne Tune,
and each library's ranking of the schedulers by median (simulated) time to a target loss.

Syne Tune is never a dependency of daskhpo: its side runs in a venv of its own, in a
subprocess of this script (``--side synetune``, which imports neither daskhpo nor its
dependencies). Without that venv the script says how to make it and stops::

    python3 -m venv .venv-syne
    .venv-syne/bin/pip install syne-tune==0.16.0 'torch==2.13.0'
    python benchmarks/bench_vs_synetune.py [--trials 100] [--seeds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "simulate" / "data" / "digits_curves.csv"
VENV_PYTHON = ROOT / ".venv-syne" / "bin" / "python"
METRIC = "val_loss"
CONFIG = ["lr", "momentum", "hidden", "batch_size"]
SCHEDULERS = ("fifo", "asha")
REDUCTION = 3


def target_loss(quantile: float) -> float:
    """The ``quantile`` of the table's final losses (read with pandas alone, on either side)."""
    import numpy as np
    import pandas as pd

    table = pd.read_csv(TABLE, comment="#")
    finals = table[table["step"] == table["step"].max()][METRIC]
    return float(np.quantile(finals, quantile))


def first_at_or_below(points: list[tuple[float, float]], target: float) -> float:
    """The earliest time of a (time, loss) point with loss <= target, NaN if none."""
    times = [t for t, loss in points if loss <= target]
    return min(times) if times else math.nan


# --------------------------------------------------------------------------- daskhpo


def daskhpo_side(args: argparse.Namespace, target: float) -> list[dict[str, Any]]:
    from simulate.runner import run_search
    from simulate.tabulated import TabulatedWorkload

    workload = TabulatedWorkload(TABLE)
    schedulers = {
        "fifo": "fifo",
        "asha": {"asha": {"max_resource": workload.steps, "min_resource": 1,
                          "reduction_factor": REDUCTION}},
    }  # fmt: skip
    rows = []
    for name in SCHEDULERS:
        for seed in range(args.seeds):
            start = time.perf_counter()
            run = run_search(workload, cluster=args.workers, scheduler=schedulers[name],
                             space=workload.space(), num_trials=args.trials, seed=seed)  # fmt: skip
            wall = time.perf_counter() - start
            points = [(r.time, float(r.metrics[METRIC])) for r in run.tuner.reports]
            rows.append({"scheduler": name, "seed": seed, "wall_s": wall,
                         "time_to_target_s": first_at_or_below(points, target),
                         "best": min(loss for _, loss in points),
                         "trials": len(run.tuner.trials)})  # fmt: skip
    return rows


# --------------------------------------------------------------------------- Syne Tune


def _blackbox() -> Any:
    """The digits table as a Syne Tune ``BlackboxTabular``: objectives val_loss and the
    cumulative elapsed seconds, at fidelities (epochs) 1..12, one seed."""
    import numpy as np
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.config_space import choice, randint

    table = pd.read_csv(TABLE, comment="#").sort_values([*CONFIG, "step"])
    epochs = int(table["step"].max())
    table["elapsed_time"] = table.groupby(CONFIG, sort=False)["time_s"].cumsum()
    configs = table[table["step"] == 1][CONFIG].reset_index(drop=True)
    values = table[[METRIC, "elapsed_time"]].to_numpy().reshape(len(configs), 1, epochs, 2)
    space = {c: choice(sorted(configs[c].unique().tolist())) for c in CONFIG}
    return BlackboxTabular(
        hyperparameters=configs,
        configuration_space=space,
        fidelity_space={"epoch": randint(1, epochs)},
        objectives_evaluations=values.astype(np.float64),
        fidelity_values=np.arange(1, epochs + 1),
        objectives_names=[METRIC, "elapsed_time"],
    ), epochs


def synetune_side(args: argparse.Namespace, target: float) -> list[dict[str, Any]]:
    import logging

    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository import UserBlackboxBackend
    from syne_tune.constants import ST_TUNER_TIME
    from syne_tune.experiments import load_experiment
    from syne_tune.optimizer.baselines import ASHA, RandomSearch

    blackbox, epochs = _blackbox()
    rows = []
    for name in SCHEDULERS:
        for seed in range(args.seeds):
            space = blackbox.configuration_space
            if name == "fifo":
                scheduler: Any = RandomSearch(space, metrics=[METRIC], random_seed=seed)
            else:
                scheduler = ASHA(space, metric=METRIC, time_attr="epoch", max_t=epochs,
                                 grace_period=1, reduction_factor=REDUCTION,
                                 random_seed=seed)  # fmt: skip
            backend = UserBlackboxBackend(
                blackbox=blackbox, elapsed_time_attr="elapsed_time",
                tuner_sleep_time=args.synetune_sleep,
                simulator_config=SimulatorConfig(0, 0, 0, 0, 0),  # no modelled delays: as ours
            )  # fmt: skip
            tuner = Tuner(
                trial_backend=backend, scheduler=scheduler,
                stop_criterion=StoppingCriterion(max_num_trials_started=args.trials),
                n_workers=args.workers, sleep_time=0, callbacks=[SimulatorCallback()],
                results_update_interval=1e9, print_update_interval=1e9, save_tuner=False,
            )  # fmt: skip
            start = time.perf_counter()
            tuner.run()
            wall = time.perf_counter() - start
            results = load_experiment(tuner.name).results
            points = list(zip(results[ST_TUNER_TIME], results[METRIC], strict=True))
            rows.append({"scheduler": name, "seed": seed, "wall_s": wall,
                         "time_to_target_s": first_at_or_below(points, target),
                         "best": float(results[METRIC].min()),
                         "trials": int(results["trial_id"].nunique())})  # fmt: skip
    return rows


# --------------------------------------------------------------------------- report


def _median(rows: list[dict[str, Any]], name: str, key: str) -> float:
    values = [r[key] for r in rows if r["scheduler"] == name and math.isfinite(r[key])]
    return statistics.median(values) if values else math.nan


def ranking(rows: list[dict[str, Any]]) -> list[str]:
    """Schedulers by median time to target, fastest first (never reaching it: last)."""
    times = {name: _median(rows, name, "time_to_target_s") for name in SCHEDULERS}
    return sorted(SCHEDULERS, key=lambda n: (math.isnan(times[n]), times[n]))


def report(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], target: float) -> None:
    print(f"\ntarget {METRIC} <= {target:.4f}; medians over seeds")
    print("| scheduler | daskhpo wall s | Syne Tune wall s | Syne Tune / daskhpo | "
          "time to target s (daskhpo / Syne Tune) | best loss (daskhpo / Syne Tune) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in SCHEDULERS:
        a, b = _median(ours, name, "wall_s"), _median(theirs, name, "wall_s")
        ttt = [_median(rows, name, "time_to_target_s") for rows in (ours, theirs)]
        best = [_median(rows, name, "best") for rows in (ours, theirs)]
        print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.1f}x | {ttt[0]:.2f} / {ttt[1]:.2f} | "
              f"{best[0]:.4f} / {best[1]:.4f} |")  # fmt: skip
    mine, other = ranking(ours), ranking(theirs)
    print(f"\nranking by time to target: daskhpo {' < '.join(mine)}; Syne Tune "
          f"{' < '.join(other)}; {'the same' if mine == other else 'DIFFERENT'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per search")
    parser.add_argument("--seeds", type=int, default=3, help="searches per scheduler")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quantile", type=float, default=0.1,
                        help="target: this quantile of the table's final losses")  # fmt: skip
    parser.add_argument("--synetune-python", type=Path, default=VENV_PYTHON,
                        help="the Python of the venv Syne Tune is installed in")  # fmt: skip
    parser.add_argument("--synetune-sleep", type=float, default=0.01,
                        help="virtual seconds Syne Tune's clock advances each time its tuner "
                        "waits for a free worker (its default, 5 s, is 80 epochs of this "
                        "table)")  # fmt: skip
    parser.add_argument("--side", choices=("both", "synetune"), default="both",
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    target = target_loss(args.quantile)
    if args.side == "synetune":  # in Syne Tune's venv: print its rows as JSON
        with tempfile.TemporaryDirectory(prefix="synetune-sim-") as scratch:
            os.environ["SYNETUNE_FOLDER"] = scratch
            rows = synetune_side(args, target)
        print(json.dumps(rows))
        return
    if not args.synetune_python.exists():
        print(f"skipped: no Syne Tune venv at {args.synetune_python}; make one with\n"
              f"  python3 -m venv {args.synetune_python.parent.parent}\n"
              f"  {args.synetune_python.parent / 'pip'} install syne-tune==0.16.0 "
              f"'torch==2.13.0'\nor pass --synetune-python")  # fmt: skip
        return
    print(f"{args.trials} trials, {args.workers} workers, {args.seeds} seeds, "
          f"schedulers {', '.join(SCHEDULERS)}", flush=True)  # fmt: skip
    ours = daskhpo_side(args, target)
    command = [str(args.synetune_python), __file__, "--side", "synetune",
               "--trials", str(args.trials), "--seeds", str(args.seeds),
               "--workers", str(args.workers), "--quantile", str(args.quantile),
               "--synetune-sleep", str(args.synetune_sleep)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"Syne Tune's side failed:\n{done.stderr[-3000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    report(ours, theirs, target)


if __name__ == "__main__":
    main()
