"""How fast the simulator runs a search: simulated trials per second of real time.

Rows (medians of several runs, each in a fresh state, timed with the process's CPU clock so
other load on the machine counts less, wall time shown beside it):

* ``floor``: a bare heap loop with numpy sampling (one config draw from the search space and
  one duration draw per trial, a heap of finish times over the workers): what any Python
  discrete-event loop over these trials costs.
* ``backend``: the SimBackend driven by a minimal loop (submit, wait, resubmit) without the
  Tuner: the simulator's own cost.
* ``tuner``: FIFO random search through the real Tuner on the SimBackend (the product).
* ``tuner 1M``: one 1,000,000-trial search through the real Tuner.
* ``asha``: ASHA on synthetic learning curves at N and 2N trials (medians of 3), and the ratio
  of their times (about 2 when a rung decision costs O(log n), 4 if it were linear).

    python benchmarks/bench_simulator.py [--trials 200000] [--workers 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import heapq
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from daskhpo.backend import AttemptSpec, Finished
from daskhpo.registry import SCHEDULERS, make_scheduler
from daskhpo.searchers import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace, uniform
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.runner import fast_gc
from simulate.workloads import DurationWorkload

DURATION = "exponential:mean=60"
SPACE = SearchSpace({"x": uniform(0.0, 1.0)})


def floor_loop(trials: int, workers: int, seed: int = 0) -> None:
    """The floor: a heap of (finish time, worker) with per-trial numpy sampling (a config
    from the search space and a duration draw), as any Python event loop must do."""
    rng = np.random.default_rng(seed)
    heap: list[tuple[float, int, int]] = []
    started = 0
    for w in range(min(workers, trials)):
        _config = SPACE.sample(rng)
        heapq.heappush(heap, (float(rng.exponential(60.0)), started, w))
        started += 1
    done = 0
    while heap:
        now, _, w = heapq.heappop(heap)
        done += 1
        if started < trials:
            _config = SPACE.sample(rng)
            heapq.heappush(heap, (now + float(rng.exponential(60.0)), started, w))
            started += 1
    assert done == trials


def backend_loop(trials: int, workers: int, seed: int = 0) -> None:
    """The SimBackend with a minimal driver: keep 2 x workers in flight, sample configs."""
    rng = np.random.default_rng(seed)
    backend = SimBackend(DurationWorkload(DURATION, seed=seed), workers, seed=seed)
    next_id = 0
    in_flight = 0
    done = 0
    target = 2 * workers + 4
    while done < trials:
        while in_flight < target and next_id < trials:
            config = SPACE.sample(rng)
            backend.submit(AttemptSpec(next_id, 0, config))
            next_id += 1
            in_flight += 1
        for event in backend.wait(None):
            if type(event) is Finished:
                done += 1
                in_flight -= 1
    assert done == trials


def tuner_run(trials: int, workers: int, seed: int = 0, scheduler: Any = "fifo") -> Tuner:
    backend = SimBackend(DurationWorkload(DURATION, seed=seed), workers, seed=seed)
    tuner = Tuner(
        settings=TuneSettings(metric="loss", num_trials=trials, seed=seed),
        backend=backend,
        space=SPACE,
        scheduler=make_scheduler(scheduler),
        searcher=RandomSearcher(),
    )
    with fast_gc():
        tuner.run()
    assert tuner.stats.completed == trials, tuner.stats
    return tuner


def asha_run(trials: int, workers: int, seed: int = 0) -> Tuner:
    workload = CurveWorkload("power:steps=27,noise=0.01", "lognormal:mean=10,sigma=0.5", seed=seed)
    backend = SimBackend(workload, workers, seed=seed)
    tuner = Tuner(
        settings=TuneSettings(metric="loss", num_trials=trials, seed=seed),
        backend=backend,
        space=SYNTHETIC_SPACE,
        scheduler=make_scheduler({"asha": {"max_resource": 27}}),
        searcher=RandomSearcher(),
    )
    with fast_gc():
        tuner.run()
    return tuner


def measure(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``repeats`` runs."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big", type=int, default=1_000_000, help="trials of the long run")
    parser.add_argument("--asha-trials", type=int, default=20_000)
    args = parser.parse_args()
    n, k = args.trials, args.workers
    rows: list[tuple[str, int, float, float]] = []
    cases: list[tuple[str, int, Callable[[], Any]]] = [
        ("floor: bare heap loop + numpy", n, lambda: floor_loop(n, k)),
        ("backend: SimBackend, minimal driver", n, lambda: backend_loop(n, k)),
        ("tuner: FIFO random search, real Tuner", n, lambda: tuner_run(n, k)),
    ]
    for name, count, fn in cases:
        cpu, wall = measure(fn, args.repeats)
        rows.append((name, count, cpu, wall))
        print(
            f"{name:42s} {count:>9,d} trials  {count / cpu:>10,.0f}/s cpu  "
            f"{count / wall:>10,.0f}/s wall",
            flush=True,
        )
    if args.big:
        cpu, wall = measure(lambda: tuner_run(args.big, k), 1)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(("tuner 1M: one long FIFO search", args.big, cpu, wall))
        print(
            f"{'tuner 1M: one long FIFO search':42s} {args.big:>9,d} trials  "
            f"{args.big / cpu:>10,.0f}/s cpu  {args.big / wall:>10,.0f}/s wall  "
            f"({wall:.1f} s wall, peak memory {peak_mb:,.0f} MB)",
            flush=True,
        )
    if "asha" in SCHEDULERS:
        m = args.asha_trials
        times = []
        for count in (m, 2 * m):  # doubling the trials about doubles the time: O(log n) rungs
            cpu, wall = measure(functools.partial(asha_run, count, k), 3)
            times.append(cpu)
            rows.append((f"asha: ASHA on learning curves, {count:,d}", count, cpu, wall))
            print(
                f"{'asha: ASHA on learning curves':42s} {count:>9,d} trials  "
                f"{count / cpu:>10,.0f}/s cpu  {count / wall:>10,.0f}/s wall  (median of 3)",
                flush=True,
            )
        print(f"asha: time at {2 * m:,d} trials / time at {m:,d}: {times[1] / times[0]:.2f}")
    else:
        print("asha: no ASHA scheduler registered; skipped")
    floor_rate = rows[0][1] / rows[0][2]
    tuner_rate = rows[2][1] / rows[2][2]
    print(
        f"\nreal Tuner / floor (cpu): {tuner_rate / floor_rate:.2f}  "
        f"({tuner_rate:,.0f} vs {floor_rate:,.0f} trials/s)"
    )


if __name__ == "__main__":
    main()
