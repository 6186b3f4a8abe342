"""Syne Tune on the same trials: its local backend, 2 workers (one process per trial).

The tuner polls its trials every ``SLEEP_TIME`` seconds (Syne Tune's default is 5 s, far too
slow for these trials, so the benchmark uses a short one).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workloads as w

HERE = Path(__file__).resolve().parent
SLEEP_TIME = 0.05


def _run(workload: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SYNETUNE_FOLDER"] = tmp
        from syne_tune import StoppingCriterion, Tuner
        from syne_tune.backend import LocalBackend
        from syne_tune.config_space import choice, loguniform, randint
        from syne_tune.optimizer.baselines import RandomSearch

        logging.getLogger("syne_tune").setLevel(logging.WARNING)
        points: list[dict[str, Any]] | None = None
        space: dict[str, Any]
        if workload == "w2":
            durations = w.w2_durations()
            n = w.W2_TRIALS
            space = {"kind": "w2", "duration": choice(durations)}
            points = [{"kind": "w2", "duration": d} for d in durations]
        else:
            n = w.W1_TRIALS if workload == "w1" else w.W3_TRIALS
            space = {
                "kind": workload,
                "lr": loguniform(1e-4, 1.0),
                "layers": randint(1, 8),
                "opt": choice(list(w.OPTIMIZERS)),
            }

        class Capped(RandomSearch):  # type: ignore[misc]
            """Random search that suggests exactly ``n`` trials (Syne Tune may start one more
            than its stopping criterion when two workers free up at once)."""

            suggested = 0

            def suggest(self) -> Any:
                if self.suggested >= n:
                    return None
                self.suggested += 1
                return super().suggest()

        tuner = Tuner(
            trial_backend=LocalBackend(
                entry_point=str(HERE / "synetune_trial.py"), binary=sys.executable
            ),
            scheduler=Capped(
                space, metrics=["loss"], random_seed=w.SEED, points_to_evaluate=points
            ),
            stop_criterion=StoppingCriterion(max_num_trials_completed=n),
            n_workers=w.SLOTS,
            sleep_time=SLEEP_TIME,
            print_update_interval=3600,
            save_tuner=False,
        )
        t0 = time.perf_counter()
        tuner.run()
        wall = time.perf_counter() - t0
        df = tuner.tuning_status.get_dataframe()
        finished = int(df["trial_id"].nunique()) if "trial_id" in df else 0
    if finished != n:
        raise RuntimeError(f"Syne Tune finished {finished} of {n} trials")
    return {"wall": wall}


def w1_synetune() -> dict[str, Any]:
    return _run("w1")


def w2_synetune() -> dict[str, Any]:
    return _run("w2")


def w3_synetune() -> dict[str, Any]:
    return _run("w3")


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    f.__name__: f for f in (w1_synetune, w2_synetune, w3_synetune)
}
