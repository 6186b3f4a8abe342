"""Run the benchmarks side by side and write a Markdown table of the results.

    python benchmarks/run.py [--repeats 3] [--only W1,W2] [--peers ray,optuna,synetune]
                             [--out benchmarks/results.md]

Every measurement runs in a fresh interpreter (``measure.py``), one at a time, repeated; the
report gives medians with min–max and the ratios daskhpo / floor and peer / daskhpo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import catalogue as cat
from report import Outcome, Run, document

HERE = Path(__file__).resolve().parent
SIMULATOR = HERE / "bench_simulator.py"
PREFIX = "RESULT "


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the machine


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> str:
    """The checked-out commit of the code measured, marked when it has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "daskhpo"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with local changes to daskhpo/" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str]:
    """What the results depend on: date, Python, library versions, CPU."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 0
    info = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "dask / distributed": f"{_version('dask')} / {_version('distributed')}",
        "daskhpo": f"{_version('daskhpo')}, commit {git_commit()}",
        "CPU": cpu_model(),
        "cores": str(cores),
    }
    peers = [f"{name} {v}" for name in ("ray", "optuna", "syne-tune") if (v := _version(name))]
    info["peers installed"] = ", ".join(peers) or "none"
    return info


def _cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / hz, total / hz


def cpu_busy(interval: float = 0.5) -> float:
    """Share of all CPUs busy over ``interval`` seconds; 0 if unknown."""
    try:
        busy0, total0 = _cpu_seconds()
        time.sleep(interval)
        busy1, total1 = _cpu_seconds()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 0.0 if total1 <= total0 else (busy1 - busy0) / (total1 - total0)


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs mostly idle; returns
    the busy share last seen."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(2.0)
        busy = cpu_busy()
    return busy


class Interference:
    """How much CPU other processes used while one measurement ran: the machine's busy CPU
    time minus that of our finished child processes, as a share of all CPUs."""

    def __enter__(self) -> Interference:
        self.share = 0.0
        self._t0 = time.monotonic()
        self._usage0 = _children_cpu()
        try:
            self._busy0: float | None = _cpu_seconds()[0]
        except (OSError, ValueError, IndexError):
            self._busy0 = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._busy0 is None:
            return
        elapsed = time.monotonic() - self._t0
        others = _cpu_seconds()[0] - self._busy0 - (_children_cpu() - self._usage0)
        cores = os.cpu_count() or 1
        self.share = max(0.0, others) / (cores * elapsed) if elapsed > 0 else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------- running


def run_case(case: cat.Case, timeout: float) -> tuple[Run | None, str | None, str | None]:
    """One fresh interpreter for one measurement: (run, skipped reason, error)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONWARNINGS", "ignore")
    workdir = tempfile.mkdtemp(prefix="daskhpo-bench-")
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / "measure.py"), case.name],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, None, f"no result within the {timeout:g} s timeout"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, None, f"exit {proc.returncode}: {tail[:300]}"
    result = json.loads(lines[-1][len(PREFIX) :])
    if "skipped" in result:
        return None, str(result["skipped"]), None
    wall = float(result.pop("wall"))
    return Run(wall=wall, extras=result), None, None


def plan(workloads: list[str], peers: list[str]) -> list[Outcome]:
    """The cases to run, in catalogue order; peers that are not importable are skipped."""
    outcomes: list[Outcome] = []
    for case in cat.CASES:
        if case.workload not in workloads:
            continue
        if case.peer is not None:
            if case.peer not in peers:
                continue
            module, name = cat.PEERS[case.peer]
            if importlib.util.find_spec(module) is None:
                reason = f"skipped: {name} is not installed (see requirements-peers.txt)"
                outcomes.append(Outcome(case, skipped=reason))
                continue
        outcomes.append(Outcome(case))
    return outcomes


def measure(case: cat.Case, args: argparse.Namespace) -> tuple[Run | None, str | None, str | None]:
    """One measurement, repeated (up to ``--noisy-retries`` times) while other processes
    used more than ``--noisy-threshold`` of the CPUs during it; the least disturbed run
    counts."""
    best: Run | None = None
    retries = 0 if case.slow else args.noisy_retries  # minutes each: measured once
    for attempt in range(retries + 1):
        wait_quiet(args.quiet_threshold, args.quiet_wait)
        t0 = time.monotonic()
        with Interference() as noise:
            run, skipped, error = run_case(case, args.timeout)
        if run is None:
            log(f"    {skipped or 'FAILED: ' + str(error)}")
            if best is not None:  # an earlier attempt of this measurement stands
                return best, None, None
            return None, skipped, error
        run.busy = noise.share
        if best is None or run.busy < best.busy:
            best = run
        extras = ", ".join(f"{k}={v:.3g}" for k, v in run.extras.items() if _num(v))
        log(
            f"    {run.wall:.3f} s {extras} (process {time.monotonic() - t0:.1f} s, "
            f"others used {noise.share:.0%} of the CPUs)"
        )
        if noise.share <= args.noisy_threshold:
            break
        if attempt < retries:
            log("    other processes disturbed this run: measuring again")
    return best, None, None


def execute(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    """Run every repeat of every case, one at a time, interleaving the cases of a workload."""
    for workload in ("W1", "W2", "W3", "W4"):
        mine = [o for o in outcomes if o.case.workload == workload]
        for rep in range(max(args.repeats, args.slow_repeats)):
            for o in mine:
                wanted = args.slow_repeats if o.case.slow else args.repeats
                if o.skipped or o.error or rep >= wanted:
                    continue
                log(f"[{workload}] {o.case.label} (run {rep + 1}/{wanted}) ...")
                run, o.skipped, o.error = measure(o.case, args)
                if run is not None:
                    o.runs.append(run)


def _num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_simulator(timeout: float) -> str:
    """W5: the simulator benchmark's own table, or why there is none."""
    if not SIMULATOR.exists():
        return f"skipped: {SIMULATOR.name} is not there yet"
    log("[W5] simulator benchmark ...")
    try:
        proc = subprocess.run(
            [sys.executable, str(SIMULATOR)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=HERE.parent,
        )
    except subprocess.TimeoutExpired:
        return f"failed: no result within the {timeout:g} s timeout"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: exit {proc.returncode}: {tail}"
    text = proc.stdout.strip()
    if all(line.startswith("|") for line in text.splitlines() if line.strip()):
        return text
    return f"```\n{text}\n```"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument(
        "--slow-repeats",
        type=int,
        default=1,
        help="runs of the slow peers (Ray Tune without reuse, Syne Tune)",
    )
    parser.add_argument("--only", default="W1,W2,W3,W4,W5", help="workloads, e.g. W1,W3")
    parser.add_argument("--peers", default="ray,optuna,synetune", help="peers to run, or 'none'")
    parser.add_argument("--out", default=str(HERE / "results.md"), help="Markdown output")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.25,
        help="wait before a run while other processes keep more than this share of CPUs busy",
    )
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="longest such wait, s")
    parser.add_argument(
        "--noisy-threshold",
        type=float,
        default=0.15,
        help="a run during which other processes used more than this share of CPUs is noisy",
    )
    parser.add_argument(
        "--noisy-retries", type=int, default=1, help="how often a noisy run is measured again"
    )
    args = parser.parse_args(argv)
    args.workloads = [x.strip().upper() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(args.workloads) - set(cat.WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(cat.WORKLOADS)}")
    peers = [] if args.peers.strip().lower() == "none" else args.peers.split(",")
    args.peer_list = [p.strip().lower().replace("-", "") for p in peers if p.strip()]
    bad = sorted(set(args.peer_list) - set(cat.PEERS))
    if bad:
        parser.error(f"unknown peers {bad}; choose from {sorted(cat.PEERS)} or 'none'")
    if args.repeats < 1 or args.slow_repeats < 1:
        parser.error("--repeats and --slow-repeats must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    machine = machine_info()
    outcomes = plan(args.workloads, args.peer_list)
    for o in outcomes:
        if o.skipped:
            log(f"{o.case.workload} {o.case.label}: {o.skipped}")
    execute(outcomes, args)
    commit = git_commit()
    if commit not in machine["daskhpo"]:
        machine["daskhpo"] += f" at the start; {commit} at the end"
    simulator = run_simulator(args.timeout) if "W5" in args.workloads else None
    command = "python benchmarks/run.py " + " ".join(argv)
    text = document(machine, outcomes, simulator, command.strip(), args.noisy_threshold)
    print(text)
    Path(args.out).write_text(text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
