"""The trials every system runs: the same spaces, objectives and durations, and their schedules.

Worker processes import this module by name, so it stays light: numpy and the standard library
only (``daskhpo`` is imported inside the one objective that reports).
"""

from __future__ import annotations

import heapq
import math
import time
from typing import Any

import numpy as np

#: W1: instant trials over a 3-parameter space.
W1_TRIALS = 500
#: W2: sleep trials with lognormal durations (mean 0.5 s, sigma 1, seed 0) on 2 slots.
W2_TRIALS = 40
W2_MEAN = 0.5
W2_SIGMA = 1.0
W2_SEED = 0
#: W3: trials that send intermediate reports, no sleep.
W3_TRIALS = 100
W3_REPORTS = 20
#: W4: 200 slots (worker processes x threads), sleep trials; driver memory at many trials.
W4_WORKERS = 4
W4_THREADS = 50
W4_TRIALS = 2000
W4_SLEEP = 0.5
#: W4 again with trials of a length where the slots, not the machine, are what is measured.
W4_LONG_SLEEP = 2.0
W4_LONG_TRIALS = 1000
W4_MEMORY_TRIALS = 10_000
#: Every system but W4 runs on this many single-threaded worker processes.
SLOTS = 2
OPTIMIZERS = ("sgd", "adam", "rmsprop")
SEED = 0


def w1_configs(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` random configurations of the W1 space, for systems that take configs as data."""
    rng = np.random.default_rng(seed)
    return [
        {
            "lr": float(math.exp(rng.uniform(math.log(1e-4), math.log(1.0)))),
            "layers": int(rng.integers(1, 9)),
            "opt": str(OPTIMIZERS[int(rng.integers(len(OPTIMIZERS)))]),
        }
        for _ in range(n)
    ]


def w2_durations(
    n: int = W2_TRIALS, mean: float = W2_MEAN, sigma: float = W2_SIGMA, seed: int = W2_SEED
) -> list[float]:
    """Lognormal durations with the given mean: ``mu = ln(mean) - sigma**2 / 2``."""
    mu = math.log(mean) - sigma**2 / 2
    return [float(d) for d in np.random.default_rng(seed).lognormal(mu, sigma, n)]


def list_schedule(durations: list[float], slots: int) -> float:
    """Makespan of the zero-overhead asynchronous schedule: each job, in order, to the
    earliest-free slot."""
    free = [0.0] * slots
    heapq.heapify(free)
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        end = max(end, start + d)
        heapq.heappush(free, start + d)
    return end


def batch_schedule(durations: list[float], size: int) -> float:
    """Makespan of synchronous batches: start ``size`` jobs, wait for all, start the next."""
    return sum(max(durations[i : i + size]) for i in range(0, len(durations), size))


# ---------------------------------------------------------------------- objectives


def loss_of(config: dict[str, Any]) -> float:
    """The W1 metric: a quadratic bowl in ``lr`` plus small penalties."""
    bonus = {"sgd": 0.0, "adam": -1e-3, "rmsprop": 5e-4}.get(str(config.get("opt")), 0.0)
    return float((config["lr"] - 0.01) ** 2 + config["layers"] * 1e-3 + bonus)


def instant(config: dict[str, Any]) -> float:
    """W1: returns at once."""
    return loss_of(config)


def sleeper(config: dict[str, Any]) -> float:
    """W2/W4: sleeps ``config["duration"]`` seconds."""
    time.sleep(float(config["duration"]))
    return float(config["duration"])


def reporter(config: dict[str, Any]) -> float:
    """W3 (daskhpo): ``W3_REPORTS`` intermediate reports, no sleep."""
    import daskhpo

    loss = loss_of(config)
    for step in range(1, W3_REPORTS + 1):
        daskhpo.report(step, loss=loss * (1 + 1 / step))
    return loss
