"""Which measurements exist, what each stands for, and daskhpo's goals.

A case is one function in ``cases_*.py`` run by ``measure.py`` in a fresh interpreter. Its role
says how the report uses it: ``floor`` (a raw lower bound measured in the same run),
``daskhpo``, ``reference`` (a baseline shown for context) or ``peer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import workloads as w


@dataclass(frozen=True)
class Case:
    """One measurement: a function name in a ``cases_*`` module and how to show it."""

    name: str
    workload: str
    label: str
    role: str
    peer: str | None = None
    slow: bool = False  # runs ``--slow-repeats`` times instead of ``--repeats``
    scale: float = 1.0  # multiply the wall time by this to compare at the full trial count
    note: str = ""


#: Import name of each peer, and how the report names it.
PEERS = {
    "ray": ("ray", "Ray Tune"),
    "optuna": ("optuna", "Optuna"),
    "synetune": ("syne_tune", "Syne Tune"),
}

WORKLOADS = {
    "W1": f"overhead: {w.W1_TRIALS} instant trials, 3-parameter random search, "
    f"{w.SLOTS} worker processes",
    "W2": f"stragglers: {w.W2_TRIALS} sleep trials, lognormal durations (mean {w.W2_MEAN} s, "
    f"sigma {w.W2_SIGMA}, seed {w.W2_SEED}), {w.SLOTS} worker processes",
    "W3": f"reporting: {w.W3_TRIALS} instant trials x {w.W3_REPORTS} intermediate reports, "
    f"{w.SLOTS} worker processes",
    "W4": f"scale: {w.W4_WORKERS} processes x {w.W4_THREADS} threads = "
    f"{w.W4_WORKERS * w.W4_THREADS} slots, {w.W4_TRIALS} trials sleeping {w.W4_SLEEP} s "
    f"(and {w.W4_LONG_TRIALS} of {w.W4_LONG_SLEEP} s); "
    f"driver memory at {w.W4_MEMORY_TRIALS} instant trials",
    "W5": "simulator: simulated trials per second (benchmarks/bench_simulator.py)",
}

CASES: list[Case] = [
    # W1 overhead
    Case("w1_dask_map", "W1", "Dask client.map + gather", "floor"),
    Case("w1_pool", "W1", "ProcessPoolExecutor(2), submit all", "floor"),
    Case("w1_dask_ac2", "W1", "Dask as_completed, 2 in flight", "reference"),
    Case("w1_daskhpo", "W1", "daskhpo tune (FIFO)", "daskhpo"),
    Case("w1_ray_reuse", "W1", "Ray Tune, actor reuse", "peer", "ray"),
    Case(
        "w1_ray_noreuse",
        "W1",
        "Ray Tune, defaults (no actor reuse)",
        "peer",
        "ray",
        slow=True,
        scale=w.W1_TRIALS / 50,
        note="50 trials measured, time scaled to 500",
    ),
    Case("w1_optuna_journal", "W1", "Optuna JournalFileBackend, 2 processes", "peer", "optuna"),
    Case("w1_optuna_threads", "W1", "Optuna in memory, n_jobs=2 threads", "peer", "optuna"),
    Case("w1_synetune", "W1", "Syne Tune local backend", "peer", "synetune", slow=True),
    # W2 stragglers
    Case("w2_pool", "W2", "ProcessPoolExecutor(2), submit all", "reference"),
    Case("w2_dask_ac2", "W2", "Dask as_completed, 2 in flight", "reference"),
    Case("w2_daskhpo_async", "W2", "daskhpo tune (FIFO, asynchronous)", "daskhpo"),
    Case("w2_daskhpo_batch", "W2", 'daskhpo tune (scheduler="batch")', "daskhpo"),
    Case("w2_ray_reuse", "W2", "Ray Tune, actor reuse", "peer", "ray"),
    Case("w2_ray_noreuse", "W2", "Ray Tune, defaults (no actor reuse)", "peer", "ray", slow=True),
    Case("w2_optuna_journal", "W2", "Optuna JournalFileBackend, 2 processes", "peer", "optuna"),
    Case("w2_optuna_threads", "W2", "Optuna in memory, n_jobs=2 threads", "peer", "optuna"),
    Case("w2_synetune", "W2", "Syne Tune local backend", "peer", "synetune", slow=True),
    # W3 reporting
    Case("w3_daskhpo_noreport", "W3", "daskhpo tune, same trials without reports", "floor"),
    Case("w3_dask_log_event", "W3", "Dask client.map + worker log_event per report", "reference"),
    Case("w3_daskhpo_reports", "W3", "daskhpo tune, daskhpo.report() x 20", "daskhpo"),
    Case("w3_ray_reuse", "W3", "Ray Tune, actor reuse", "peer", "ray"),
    Case("w3_ray_noreuse", "W3", "Ray Tune, defaults (no actor reuse)", "peer", "ray", slow=True),
    Case("w3_optuna_journal", "W3", "Optuna JournalFileBackend, 2 processes", "peer", "optuna"),
    Case("w3_optuna_threads", "W3", "Optuna in memory, n_jobs=2 threads", "peer", "optuna"),
    Case("w3_synetune", "W3", "Syne Tune local backend", "peer", "synetune", slow=True),
    # W4 scale
    Case("w4_dask_map", "W4", "Dask client.map + gather", "floor"),
    Case("w4_daskhpo", "W4", "daskhpo tune (FIFO)", "daskhpo"),
    Case(
        "w4_dask_map_long",
        "W4",
        f"Dask client.map + gather, {w.W4_LONG_TRIALS} trials of {w.W4_LONG_SLEEP} s",
        "reference",
    ),
    Case(
        "w4_daskhpo_long",
        "W4",
        f"daskhpo tune (FIFO), {w.W4_LONG_TRIALS} trials of {w.W4_LONG_SLEEP} s",
        "daskhpo",
    ),
    Case(
        "w4_daskhpo_memory",
        "W4",
        f"daskhpo tune, {w.W4_MEMORY_TRIALS} instant trials (driver memory)",
        "daskhpo",
        note="scheduler and workers in another process; RSS of the driver alone",
    ),
]

#: daskhpo's goals, checked in the report.
GOAL_W1_FLOOR = 1.25  # daskhpo / Dask client.map floor, at most
GOAL_W1_RAY = 9.0  # Ray Tune (actor reuse) / daskhpo, at least
GOAL_W2_LIST = 1.02  # daskhpo async / zero-overhead list schedule, at most
GOAL_W3_WALL = 1.2  # seconds end to end, at most
GOAL_W4_UTIL = 0.95  # utilisation of the slots, at least
