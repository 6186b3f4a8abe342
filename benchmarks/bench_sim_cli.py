"""How fast the simulator is as its users run it: the ``daskhpo simulate speedup`` command,
whole, and the early-stopping schedulers at N and 2N trials.

Rows (medians of ``--repeats`` runs; CPU time counts, since other load on the machine inflates
wall time, and wall time is shown beside it):

* ``cli``: ``daskhpo simulate speedup --workers 1000 --trials N --repeats 1 --mode async
  --duration lognormal:mean=60,sigma=1`` in a fresh interpreter each time (start-up, imports
  and the 1-worker baseline the speed-up divides by included), timed by the children's
  ``getrusage`` (user + sys) and the wall clock; trials/s is N over that, and the ratio to the
  target of 100,000 trials/s. Its rows are plain FIFO, which the command computes in closed
  form (``simulate.closed_form``, the same bits as simulating them).
* ``cli --run-tuner``: the same command simulating every row through the Tuner instead: the
  simulator's own speed on FIFO.
* ``asha``, ``async_hyperband``, ``median``: the real Tuner with each scheduler and random
  search on synthetic learning curves (27 steps) over 1000 simulated workers, at M and 2M
  trials, in this process; trials/s, the ratio to the target of 30,000 trials/s, and the ratio
  of the time at 2M to the time at M (about 2 when each decision costs O(log n)). Each row
  also shows the events per trial (a start, its reports, an end) and the CPU per event.
* ``fifo``: the same loop with a scheduler that decides nothing, every trial reporting all 27
  steps: the cost per event of the Tuner and the simulated backend alone, the floor under
  the others' cost per event.

    python benchmarks/bench_sim_cli.py [--trials 200000] [--scheduler-trials 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

from daskhpo.registry import make_scheduler
from daskhpo.searchers import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.runner import fast_gc

CLI_TARGET = 100_000  # trials/s through the command
SCHEDULER_TARGET = 30_000  # trials/s of each early-stopping scheduler
FLOOR = "fifo"  # no decision, every report through the same loop: the cost per event's floor
SCHEDULERS = {
    "asha": {"asha": {"max_resource": 27}},
    "async_hyperband": {"async_hyperband": {"max_resource": 27}},
    "median": "median",
    FLOOR: FLOOR,
}


def cli_command(trials: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "daskhpo.cli", "simulate", "speedup", "--workers", "1000",
        "--trials", str(trials), "--repeats", "1", "--mode", "async",
        "--duration", "lognormal:mean=60,sigma=1", *extra,
    ]  # fmt: skip


def time_cli(trials: int, *extra: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of the command in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cli_command(trials, *extra), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def scheduler_run(name: str, trials: int, seed: int = 0) -> int:
    """One simulated search of ``trials`` with the scheduler ``name``; returns its events."""
    workload = CurveWorkload("power:steps=27,noise=0.01", "lognormal:mean=10,sigma=0.5", seed=seed)
    tuner = Tuner(
        settings=TuneSettings(metric="loss", num_trials=trials, seed=seed),
        backend=SimBackend(workload, 1000, seed=seed),
        space=SYNTHETIC_SPACE,
        scheduler=make_scheduler(SCHEDULERS[name]),
        searcher=RandomSearcher(),
    )
    with fast_gc():
        tuner.run()
    stats = tuner.stats
    assert stats.created == trials, stats
    ends = stats.completed + stats.stopped + stats.paused + stats.failed
    return stats.started + stats.reports + ends


def time_in_process(fn: Callable[[], int]) -> tuple[float, float, int]:
    c0, w0 = time.process_time(), time.perf_counter()
    events = fn()
    return time.process_time() - c0, time.perf_counter() - w0, events


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200_000, help="trials of the command")
    parser.add_argument("--scheduler-trials", type=int, default=50_000, help="M (then 2M)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS))
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    n, r = args.trials, args.repeats
    for label, extra in (("", ()), (" --run-tuner", ("--run-tuner",))):
        if args.skip_cli:
            break
        cpu, wall = medians([time_cli(n, *extra) for _ in range(r)])
        print(
            f"{'cli: daskhpo simulate speedup' + label:40s} {n:>9,d} trials  "
            f"{n / cpu:>9,.0f}/s cpu ({cpu:.2f} s)  {n / wall:>9,.0f}/s wall ({wall:.2f} s)  "
            f"÷ target {CLI_TARGET:,d}/s: {n / cpu / CLI_TARGET:.2f}  (median of {r})",
            flush=True,
        )
    m = args.scheduler_trials
    for name in [s for s in args.schedulers.split(",") if s]:
        cpus = []
        for count in (m, 2 * m):
            runs = [time_in_process(partial(scheduler_run, name, count)) for _ in range(r)]
            cpu, wall = medians([(c, w) for c, w, _ in runs])
            events = runs[0][2]  # seeded: the same in every run
            cpus.append(cpu)
            target = (
                f"÷ target {SCHEDULER_TARGET:,d}/s: {count / cpu / SCHEDULER_TARGET:.2f}"
                if name != FLOOR
                else "(floor)"
            )
            print(
                f"{name:40s} {count:>9,d} trials  {count / cpu:>9,.0f}/s cpu ({cpu:.2f} s)  "
                f"{count / wall:>9,.0f}/s wall  {events / count:4.1f} events/trial "
                f"{cpu / events * 1e6:5.1f} µs/event  {target}  (median of {r})",
                flush=True,
            )
        print(f"{name}: time at {2 * m:,d} trials / time at {m:,d}: {cpus[1] / cpus[0]:.2f}")


if __name__ == "__main__":
    main()
