"""Turn measured runs into medians, ratios, goal checks and one Markdown document."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import catalogue as cat
import workloads as w


@dataclass
class Run:
    """One measurement in one fresh interpreter."""

    wall: float
    extras: dict[str, Any]
    busy: float = 0.0  # share of the CPUs other processes used while it ran


@dataclass
class Outcome:
    """Every run of one case, or why it has none."""

    case: cat.Case
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None

    def values(self, key: str = "wall") -> list[float]:
        if key == "wall":
            return [r.wall * self.case.scale for r in self.runs]
        return [float(r.extras[key]) for r in self.runs if key in r.extras]

    def median(self, key: str = "wall") -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None


#: Per workload: (the case or computed schedule every row is divided by, its label, the
#: daskhpo case peers are divided by).
BASELINES = {
    "W1": ("w1_dask_map", "Dask floor", "w1_daskhpo"),
    "W2": ("list schedule", "list schedule", "w2_daskhpo_async"),
    "W3": ("w3_daskhpo_noreport", "no reports", "w3_daskhpo_reports"),
    "W4": ("w4_dask_map", "Dask floor", "w4_daskhpo"),
}


def _median(by_name: dict[str, Outcome], name: str) -> float | None:
    outcome = by_name.get(name)
    return None if outcome is None else outcome.median()


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{min(values):.2f}–{max(values):.2f}"


def schedules() -> dict[str, float]:
    """The zero-overhead schedules of the W2 durations, computed, not measured."""
    durations = w.w2_durations()
    return {
        "sum of durations": sum(durations),
        "list schedule": w.list_schedule(durations, w.SLOTS),
        "batch schedule": w.batch_schedule(durations, w.SLOTS),
    }


def _baseline(workload: str, by_name: dict[str, Outcome]) -> float | None:
    name = BASELINES[workload][0]
    if name == "list schedule":
        return schedules()["list schedule"]
    outcome = by_name.get(name)
    return outcome.median() if outcome else None


def _note(o: Outcome, noisy: float) -> str:
    parts = [o.case.note] if o.case.note else []
    if any(r.busy > noisy for r in o.runs):
        n = sum(r.busy > noisy for r in o.runs)
        parts.append(f"{n} run(s) disturbed: other processes used > {noisy:.0%} of the CPUs")
    if o.case.name.startswith("w2_daskhpo") and not all(r.extras.get("in_order") for r in o.runs):
        parts.append("trials did not all start in submission order")
    mem = o.median("kib_per_trial_kept")
    if mem is not None:
        peak = o.median("kib_per_trial_peak")
        parts.append(f"driver RSS {mem:.1f} KiB/trial kept, {fmt(peak, 1)} KiB/trial at peak")
    return "; ".join(parts)


def section(workload: str, outcomes: list[Outcome], noisy: float) -> list[str]:
    """The Markdown table of one workload, with its goal checks."""
    by_name = {o.case.name: o for o in outcomes}
    _, base_label, hpo_name = BASELINES[workload]
    base = _baseline(workload, by_name)
    hpo = by_name[hpo_name].median() if hpo_name in by_name else None
    util = workload == "W4"
    head = f"| system | median s | min–max s | runs | ÷ {base_label} | ÷ daskhpo |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if util:
        head += " utilisation |"
        rule += "---:|"
    lines = [f"### {workload} {cat.WORKLOADS[workload]}", "", head + " notes |", rule + "---|"]
    if workload == "W2":
        for label, value in schedules().items():
            ratio = value / base if base else None
            cells = f"| {label} (computed) | {value:.2f} | | | {fmt(ratio)} | | |"
            lines.append(cells)
    for o in outcomes:
        if o.skipped or o.error:
            why = o.skipped or f"failed: {o.error}"
            lines.append(f"| {o.case.label} | | | | | |{' |' if util else ''} {why} |")
            continue
        med = o.median()
        row_base, row_hpo, row_hpo_name = base, hpo, hpo_name
        if o.case.name.endswith("_long"):  # W4's long trials compare among themselves
            row_base, row_hpo_name = _median(by_name, "w4_dask_map_long"), "w4_daskhpo_long"
            row_hpo = _median(by_name, row_hpo_name)
        ratio = med / row_base if med is not None and row_base else None
        vs_hpo = (
            med / row_hpo
            if med is not None
            and row_hpo
            and o.case.name != row_hpo_name
            and o.case.role != "daskhpo"
            else None
        )
        row = (
            f"| {o.case.label} | {fmt(med)} | {_spread(o.values())} | {len(o.runs)} | "
            f"{fmt(ratio)} | {fmt(vs_hpo)} |"
        )
        if util:
            u = o.values("utilisation")
            row += f" {fmt(o.median('utilisation'))} ({_spread(u)}) |" if u else " |"
        lines.append(f"{row} {_note(o, noisy)} |")
    lines.append("")
    lines.extend(goals(workload, by_name, base))
    lines.append("")
    return lines


def _check(ok: bool | None) -> str:
    return "no data" if ok is None else ("met" if ok else "**missed**")


def goals(workload: str, by_name: dict[str, Outcome], base: float | None) -> list[str]:
    """One line per daskhpo goal of ``workload``: the measured figure and met/missed."""

    def med(name: str, key: str = "wall") -> float | None:
        o = by_name.get(name)
        return o.median(key) if o else None

    out: list[str] = []
    if workload == "W1":
        hpo, ray = med("w1_daskhpo"), med("w1_ray_reuse")
        r = hpo / base if hpo and base else None
        out.append(
            f"- Goal: daskhpo ≤ {cat.GOAL_W1_FLOOR}× the Dask floor: {fmt(r)}× — "
            f"{_check(None if r is None else r <= cat.GOAL_W1_FLOOR)}"
        )
        if ray is not None:
            q = ray / hpo if hpo else None
            out.append(
                f"- Goal: Ray Tune (actor reuse) ≥ {cat.GOAL_W1_RAY:g}× daskhpo's time: "
                f"{fmt(q, 1)}× — {_check(None if q is None else q >= cat.GOAL_W1_RAY)}"
            )
    elif workload == "W2":
        hpo, batch = med("w2_daskhpo_async"), med("w2_daskhpo_batch")
        r = hpo / base if hpo and base else None
        out.append(
            f"- Goal: daskhpo async ≤ {cat.GOAL_W2_LIST}× the list schedule: {fmt(r, 3)}× — "
            f"{_check(None if r is None else r <= cat.GOAL_W2_LIST)}"
        )
        if batch is not None and hpo:
            out.append(
                f"- Straggler cost of synchronous batches: batch mode takes {batch / hpo:.2f}× "
                f"the asynchronous time (computed schedules: "
                f"{schedules()['batch schedule'] / schedules()['list schedule']:.2f}×)"
            )
    elif workload == "W3":
        hpo = med("w3_daskhpo_reports")
        out.append(
            f"- Goal: daskhpo with reports ≤ {cat.GOAL_W3_WALL} s end to end: {fmt(hpo)} s — "
            f"{_check(None if hpo is None else hpo <= cat.GOAL_W3_WALL)}"
        )
        if hpo is not None and base:
            per = (hpo - base) / (w.W3_TRIALS * w.W3_REPORTS) * 1e3
            out.append(f"- Added per report: {per:.3f} ms (median with reports − without)")
    elif workload == "W4":
        for suffix, trials, sleep in (
            ("", w.W4_TRIALS, w.W4_SLEEP),
            ("_long", w.W4_LONG_TRIALS, w.W4_LONG_SLEEP),
        ):
            u = med(f"w4_daskhpo{suffix}", "utilisation")
            floor = med(f"w4_dask_map{suffix}", "utilisation")
            if u is None and floor is None:
                continue
            out.append(
                f"- Goal: utilisation ≥ {cat.GOAL_W4_UTIL} of the slots, {trials} trials of "
                f"{sleep} s: {fmt(u)} (Dask floor {fmt(floor)}) — "
                f"{_check(None if u is None else u >= cat.GOAL_W4_UTIL)}"
            )
        mem = med("w4_daskhpo_memory", "kib_per_trial_kept")
        if mem is not None:
            out.append(
                f"- Driver memory: {mem:.1f} KiB per trial kept after {w.W4_MEMORY_TRIALS} "
                f"trials (peak {fmt(med('w4_daskhpo_memory', 'kib_per_trial_peak'), 1)} KiB)"
            )
    return out


def document(
    machine: dict[str, str],
    outcomes: list[Outcome],
    simulator: str | None,
    command: str,
    noisy: float,
) -> str:
    """The whole results file."""
    lines = ["# Benchmark results", "", f"Command: `{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [
        "",
        "Each run is a fresh interpreter; clusters, pools, Ray and imports are done before the",
        "clock. The Dask rows run on Dask's default LocalCluster; daskhpo runs on the LocalCluster",
        "`tune()` starts by default (same workers and threads; its scheduler keeps queued trials",
        "until a thread is free, `worker-saturation` 1.0, and lets Dask prefetch again when trials",
        "take milliseconds). Medians of the runs; `÷` columns divide medians. Ray Tune without",
        "actor reuse runs 50 trials of W1 and is scaled to 500.",
        "",
    ]
    for workload in ("W1", "W2", "W3", "W4"):
        mine = [o for o in outcomes if o.case.workload == workload]
        if mine:
            lines += section(workload, mine, noisy)
    if simulator is not None:
        lines += [f"### W5 {cat.WORKLOADS['W5']}", "", simulator.rstrip(), ""]
    return "\n".join(lines) + "\n"
