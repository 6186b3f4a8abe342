"""Ray Tune on the same trials, with and without actor reuse, 2 CPUs, 2 trials at once.

``ray.init`` (Ray's cluster start) happens before the clock starts; the clock covers
``Tuner.fit()``. Without actor reuse Ray starts a new worker process per trial, which is slow
enough that W1 runs ``NOREUSE_W1_TRIALS`` trials and the harness scales the time to 500.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import workloads as w

NOREUSE_W1_TRIALS = 50


def _instant(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"loss": w.loss_of(config)})


def _sleeper(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"loss": w.sleeper(config)})


def _reporter(config: dict[str, Any]) -> None:
    from ray import tune

    loss = w.loss_of(config)
    for step in range(1, w.W3_REPORTS + 1):
        tune.report({"loss": loss * (1 + 1 / step), "step": step})


def _run(workload: str, reuse: bool, n: int | None = None) -> dict[str, Any]:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    space: dict[str, Any] = {
        "lr": tune.loguniform(1e-4, 1.0),
        "layers": tune.randint(1, 9),  # Ray's upper bound is exclusive
        "opt": tune.choice(list(w.OPTIMIZERS)),
    }
    trainable: Callable[[dict[str, Any]], None]
    if workload == "w1":
        trainable, num = _instant, n or w.W1_TRIALS
    elif workload == "w2":
        trainable, num = _sleeper, 1
        space = {"duration": tune.grid_search(w.w2_durations())}
    else:
        trainable, num = _reporter, n or w.W3_TRIALS
    ray.init(
        num_cpus=w.SLOTS,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric="loss",
                    mode="min",
                    num_samples=num,
                    reuse_actors=reuse,
                    search_alg=BasicVariantGenerator(max_concurrent=w.SLOTS, random_state=w.SEED),
                ),
                run_config=tune.RunConfig(storage_path=tmp, name="bench", verbose=0),
            )
            t0 = time.perf_counter()
            results = tuner.fit()
            wall = time.perf_counter() - t0
            trials = len(results)
            errors = len(results.errors)
    finally:
        ray.shutdown()
    if errors:
        raise RuntimeError(f"Ray Tune: {errors} of {trials} trials failed")
    return {"wall": wall, "trials": trials}


def w1_ray_reuse() -> dict[str, Any]:
    return _run("w1", reuse=True)


def w2_ray_reuse() -> dict[str, Any]:
    return _run("w2", reuse=True)


def w3_ray_reuse() -> dict[str, Any]:
    return _run("w3", reuse=True)


def w1_ray_noreuse() -> dict[str, Any]:
    return _run("w1", reuse=False, n=NOREUSE_W1_TRIALS)


def w2_ray_noreuse() -> dict[str, Any]:
    return _run("w2", reuse=False)


def w3_ray_noreuse() -> dict[str, Any]:
    return _run("w3", reuse=False)


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        w1_ray_reuse,
        w2_ray_reuse,
        w3_ray_reuse,
        w1_ray_noreuse,
        w2_ray_noreuse,
        w3_ray_noreuse,
    )
}
