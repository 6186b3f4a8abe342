"""Fit a :class:`~simulate.calibrate.calibration.Calibration` to measurements: durations,
learning curves or final metrics, and the overheads between attempts."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daskhpo.space import SearchSpace
from simulate.calibrate.calibration import Calibration
from simulate.calibrate.curves import CurveFit, fit_curve
from simulate.calibrate.features import Column, columns_for, design, squared_columns
from simulate.calibrate.observe import (
    CalibrationError,
    Measurements,
    TrialData,
    finite_number,
    measure,
)
from simulate.calibrate.regression import LinearFit, fit_linear

__all__ = ["MAX_REPORTS", "MIN_TRIALS", "calibrate", "fit"]

#: Trials with measured times a calibration needs at the least.
MIN_TRIALS = 8

#: Reports used to fit curves at most (a seeded subsample of longer journals).
MAX_REPORTS = 20_000


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    """Makespans add times up, so overheads enter as means, their rare long ones included."""
    return float(statistics.fmean(values)) if values else None


def _scheduler_max_resource(scheduler: Any) -> float | None:
    if isinstance(scheduler, Mapping) and len(scheduler) == 1:
        options = next(iter(scheduler.values()))
        if isinstance(options, Mapping):
            return finite_number(options.get("max_resource"))
    return None


def _report_steps(trials: Sequence[TrialData]) -> tuple[list[list[float]], str | None]:
    """Steps to fit curves at: the reported steps when they are whole numbers >= 1, else
    each report's position in its trial (and a note saying so)."""
    whole = all(s >= 1 and float(s).is_integer() for t in trials for s in t.steps)
    if whole:
        return [list(t.steps) for t in trials], None
    return [
        [float(k + 1) for k in range(len(t.steps))] for t in trials
    ], "reported steps are not whole numbers >= 1: the k-th report of a trial counts as step k"


@dataclass
class _Features:
    """What the fits of one calibration share."""

    columns: list[Column]
    labels: list[str]
    squares: tuple[int, ...]
    where: str  # " in DIR" for messages
    notes: list[str]


def _fit_curves(
    data: Measurements, f: _Features, steps: int | None
) -> tuple[LinearFit, CurveFit, int]:
    """Time per step, learning curves and the steps of a full run."""
    timed = [t for t in data.trials if t.step_time is not None and t.step_time > 0]
    if len(timed) < MIN_TRIALS:
        raise CalibrationError(
            f"cannot calibrate from the journal{f.where}: it needs at least {MIN_TRIALS} "
            f"trials with reports (to time a step); found {len(timed)}. Run "
            "more trials (or let them run longer) and plan again."
        )
    durations = fit_linear(
        design(f.columns, [t.config for t in timed]),
        np.log([float(t.step_time or 0.0) for t in timed]),
        [t.trial_id for t in timed],
        f.labels,
        "log seconds per step",
        f.squares,
    )
    reporting = [t for t in data.trials if t.values]
    step_lists, note = _report_steps(reporting)
    if note:
        f.notes.append(note)
    index = np.concatenate([np.full(len(s), i, dtype=np.int64) for i, s in enumerate(step_lists)])
    t_all = np.concatenate([np.asarray(s, dtype=np.float64) for s in step_lists])
    v_all = np.concatenate([np.asarray(t.values, dtype=np.float64) for t in reporting])
    if len(v_all) > MAX_REPORTS:
        keep = np.sort(np.random.default_rng(0).choice(len(v_all), MAX_REPORTS, replace=False))
        index, t_all, v_all = index[keep], t_all[keep], v_all[keep]
    curve = fit_curve(
        design(f.columns, [t.config for t in reporting]),
        index,
        t_all,
        v_all,
        [t.trial_id for t in reporting],
        f.labels,
        f.squares,
    )
    seen = round(float(t_all.max()))
    if steps is not None:
        return durations, curve, steps
    declared = _scheduler_max_resource(data.scheduler)
    if declared is not None and declared > seen and float(declared).is_integer():
        f.notes.append(
            f"no trial reported past step {seen}; the scheduler's max_resource "
            f"{int(declared)} sets the full run (the curves are extrapolated beyond {seen})"
        )
        return durations, curve, int(declared)
    return durations, curve, seen


def _fit_results(data: Measurements, f: _Features) -> tuple[LinearFit, LinearFit | None]:
    """Time per trial and the metric it returns, for trials without intermediate reports."""
    timed = [t for t in data.trials if t.duration is not None and t.duration > 0]
    if len(timed) < MIN_TRIALS:
        raise CalibrationError(
            f"cannot calibrate from the journal{f.where}: it needs at least {MIN_TRIALS} "
            f"completed trials with durations; found {len(timed)}. Run more trials and "
            "plan again."
        )
    durations = fit_linear(
        design(f.columns, [t.config for t in timed]),
        np.log([float(t.duration or 0.0) for t in timed]),
        [t.trial_id for t in timed],
        f.labels,
        "log seconds per trial",
        f.squares,
    )
    scored = [t for t in data.trials if t.final is not None]
    if len(scored) < 2:
        f.notes.append(f"too few trials returned {data.metric!r} to model it")
        return durations, None
    final = fit_linear(
        design(f.columns, [t.config for t in scored]),
        np.array([float(t.final or 0.0) for t in scored]),
        [t.trial_id for t in scored],
        f.labels,
        data.metric,
        f.squares,
    )
    return durations, final


def _overheads(data: Measurements, steps: int, notes: list[str]) -> tuple[float, float]:
    """Seconds per attempt beyond its work: for queued attempts, and for attempts the driver
    submitted when a slot freed."""
    queued, waiting = _mean(data.gaps_queued), _mean(data.gaps_waiting)
    if queued is None and waiting is None:
        notes.append("no worker ran two attempts one after the other: per-trial overhead is 0")
    elif waiting is None:
        notes.append(
            "per-trial overhead was measured for queued attempts only; schedulers that decide "
            "on results (a driver round trip per trial) are taken to pay the same"
        )
    elif queued is None:
        notes.append(
            "per-trial overhead was measured with a driver round trip per trial only; queued "
            "attempts (FIFO) are taken to pay the same"
        )
    extra = (_mean(data.fixed) or 0.0) if steps else 0.0
    overhead_queued = max(0.0, (queued if queued is not None else (waiting or 0.0)) + extra)
    overhead_waiting = max(0.0, (waiting if waiting is not None else (queued or 0.0)) + extra)
    if waiting is not None and queued is not None:
        overhead_waiting = max(overhead_waiting, overhead_queued)
    return overhead_queued, overhead_waiting


def fit(data: Measurements, *, steps: int | None = None) -> Calibration:
    """Fit a :class:`Calibration` to measurements; :class:`CalibrationError` if too few."""
    columns = columns_for(SearchSpace.from_dict(data.space))
    f = _Features(
        columns=columns,
        labels=[c.label for c in columns],
        squares=squared_columns(columns),
        where=f" in {data.source}" if data.source else "",
        notes=[],
    )
    curve: CurveFit | None = None
    final: LinearFit | None = None
    if data.multi_fidelity:
        durations, curve, steps = _fit_curves(data, f, steps)
    else:
        if steps:
            raise CalibrationError(
                f"steps={steps} needs learning curves, but no trial{f.where} reported more "
                "than once; calibrate from a run whose objective calls daskhpo.report() each "
                "step"
            )
        durations, final = _fit_results(data, f)
        steps = 0
    overhead_queued, overhead_waiting = _overheads(data, steps, f.notes)
    if data.failures:
        f.notes.append(
            f"{data.failures} attempt(s) failed (the objective raised): the plan assumes "
            "no trial fails"
        )
    measured = {
        "trials": len(data.trials),
        "completed": sum(1 for t in data.trials if t.final is not None),
        "attempts": data.attempts,
        "workers": data.workers,
        "makespan_s": data.makespan,
        "num_trials": data.num_trials,
        "seed": data.seed,
    }
    return Calibration(
        metric=data.metric,
        mode=data.mode,
        space=dict(data.space),
        columns=tuple(columns),
        steps=int(steps),
        durations=durations,
        curve=curve,
        final=final,
        overhead_queued_s=overhead_queued,
        overhead_waiting_s=overhead_waiting,
        startup_s=_median(data.startup) or 0.0,
        scheduler=data.scheduler,
        searcher=data.searcher,
        measured=measured,
        notes=tuple(f.notes),
        data=data,
    )


def calibrate(experiment_dir: str | Path, *, until: float | None = None) -> Calibration:
    """Fit a workload model to the journal of ``experiment_dir`` (its first ``until`` s)."""
    return fit(measure(experiment_dir, until=until))
