"""Read what an experiment measured: its journal reduced to per-trial timings and metrics.

:func:`measure` is the one place a calibration reads an experiment directory: its settings
through :class:`~daskhpo.experiment.directory.ExperimentDir`, its journal through
:class:`~daskhpo.experiment.view.ExperimentView` (the one reader of journals, so a calibration
sees attempts exactly as ``daskhpo status`` does). The fits never see the disk.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from daskhpo import records as rec
from daskhpo.errors import CalibrationError, ExperimentError
from daskhpo.experiment.directory import EXPERIMENT_JSON, JOURNAL, ExperimentDir
from daskhpo.experiment.journal import read_records
from daskhpo.experiment.view import ExperimentView

__all__ = [
    "CalibrationError",
    "Measurements",
    "TrialData",
    "finite_number",
    "measure",
    "measure_records",
]

_RAN = ("completed", "stopped", "paused")  # ended on their own or by a scheduler's decision


@dataclass
class TrialData:
    """What the journal says about one trial, reduced to what the fit uses."""

    trial_id: int
    config: dict[str, Any]
    duration: float | None = None  # seconds from start to end of an attempt run from scratch
    step_time: float | None = None  # seconds per step (see _trial_data)
    steps: list[float] = field(default_factory=list)  # step of each report with the metric
    values: list[float] = field(default_factory=list)  # the metric at those reports
    final: float | None = None  # the metric the objective returned


@dataclass
class Measurements:
    """Everything a calibration is fitted to, read from an experiment directory."""

    metric: str
    mode: str
    space: dict[str, Any]  # the YAML form of the search space
    trials: list[TrialData]
    gaps_queued: list[float]  # end -> next start on a slot, the next attempt already queued
    gaps_waiting: list[float]  # the same when the driver submitted it after the slot freed
    fixed: list[float]  # per attempt: time on its slot beyond its steps (runs with reports)
    startup: list[float]  # per worker: its first start on the driver's clock
    workers: int
    attempts: int
    makespan: float | None
    failures: int = 0  # attempts that ended with the objective raising
    #: (trial, seconds) between each two consecutive reports of one attempt: a step and its report
    report_gaps: list[tuple[int, float]] = field(default_factory=list)
    num_trials: int | None = None
    seed: int | None = None  # the experiment's seed: a search with it tries the same configs
    scheduler: Any = None
    searcher: Any = None
    source: str = ""

    @property
    def multi_fidelity(self) -> bool:
        """Whether trials reported more than once (learning curves to fit)."""
        return any(len(t.values) >= 2 for t in self.trials)

    @property
    def metric_range(self) -> tuple[float, float] | None:
        """The lowest and highest value of the metric the trials reported or returned (None
        when none did): what predictions of the best value may not leave."""
        values = [v for t in self.trials for v in t.values]
        values.extend(t.final for t in self.trials if t.final is not None)
        return (min(values), max(values)) if values else None


@dataclass
class _Attempt:
    trial_id: int
    attempt: int
    submitted: float | None = None
    started: float | None = None
    worker: str | None = None
    reports: list[tuple[float, float, float | None]] = field(default_factory=list)
    ended: float | None = None
    outcome: str | None = None


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read_settings(directory: ExperimentDir) -> tuple[dict[str, Any], dict[str, Any]]:
    """``experiment.json`` (always written) and ``experiment.yaml`` (runs from the CLI)."""
    if not directory.is_experiment():
        raise CalibrationError(
            f"{str(directory.path)!r} is not an experiment directory (it needs "
            f"{EXPERIMENT_JSON} and {JOURNAL}); pass the directory a search wrote"
        )
    try:
        info = directory.read_info()
    except ExperimentError as exc:
        raise CalibrationError(str(exc)) from exc
    if not isinstance(info.get("space"), dict) or not info["space"]:
        raise CalibrationError(
            f"{directory.info_path} has no search space; it was not written by daskhpo"
        )
    spec: dict[str, Any] = {}
    if directory.spec_path.is_file():
        try:
            loaded = yaml.safe_load(directory.spec_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            loaded = None
        if isinstance(loaded, dict):
            spec = loaded
    return info, spec


def measure(experiment_dir: str | Path, *, until: float | None = None) -> Measurements:
    """Read what an experiment measured; ``until`` keeps only its first ``until`` seconds.

    Attempts still running at the cut are left out, so a calibration from the first part of
    a search uses only what was known by then.
    """
    path = Path(experiment_dir).expanduser()
    directory = ExperimentDir(path)
    info, spec = _read_settings(directory)
    if until is not None and not (finite_number(until) is not None and until > 0):
        raise ValueError(f"until must be a number of seconds > 0, got {until!r}")
    records: Iterable[rec.Record] = read_records(directory.journal_path)
    if until is not None:
        records = (r for r in records if r.time <= until)
    data = measure_records(
        records,
        metric=info["metric"],
        mode=str(info.get("mode", "min")),
        space=info["space"],
        until=until,
    )
    num_trials = info.get("num_trials")
    data.num_trials = num_trials if isinstance(num_trials, int) else None
    seed = info.get("seed")
    data.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    data.scheduler = spec.get("scheduler")
    data.searcher = spec.get("searcher")
    data.source = str(path)
    return data


def measure_records(
    records: Iterable[rec.Record | Mapping[str, Any]],
    *,
    metric: str,
    mode: str = "min",
    space: Mapping[str, Any],
    until: float | None = None,
) -> Measurements:
    """Reduce journal records (decoded, or plain mappings as in the journal) to
    :class:`Measurements`, read through :class:`ExperimentView`."""
    view = ExperimentView.from_records(records)
    attempts: dict[tuple[int, int], _Attempt] = {}
    finals: dict[int, float] = {}
    for tid, runs in view.attempts.items():
        for run in runs:
            outcome = run.outcome.lower() if run.outcome is not None else None
            attempts[(tid, run.attempt)] = _Attempt(
                trial_id=tid,
                attempt=run.attempt,
                submitted=run.submitted_at,
                started=run.started_at,
                worker=run.worker,
                reports=[
                    (r.time, float(r.step), finite_number(r.metrics.get(metric)))
                    for r in run.reports
                ],
                ended=run.ended_at if outcome is not None else None,
                outcome=outcome,
            )
            if outcome == "completed":
                value = finite_number(run.metrics.get(metric))
                if value is not None:
                    finals[tid] = value
    configs = {tid: dict(trial.config) for tid, trial in view.trials.items()}
    trials, fixed = _trial_data(configs, attempts, finals)
    gaps_queued, gaps_waiting, startup, workers = _slot_gaps(attempts.values())
    makespan = view.last_time if view.ended or until is None else until
    return Measurements(
        metric=metric,
        mode=mode,
        space=dict(space),
        trials=trials,
        gaps_queued=gaps_queued,
        gaps_waiting=gaps_waiting,
        fixed=fixed,
        startup=startup,
        workers=workers,
        attempts=sum(1 for a in attempts.values() if a.started is not None),
        makespan=makespan,
        failures=sum(1 for a in attempts.values() if a.outcome == "failed"),
        report_gaps=[
            (a.trial_id, later[0] - earlier[0])
            for a in attempts.values()
            for earlier, later in itertools.pairwise(a.reports)
        ],
    )


def _setup_time(attempts: Iterable[_Attempt]) -> float:
    """Seconds an attempt spends before its first step (imports, loading a checkpoint): the
    median over attempts of the time to the first report beyond one step."""
    extra: list[float] = []
    for a in attempts:
        if a.started is None or len(a.reports) < 2:
            continue
        first, last = a.reports[0][0], a.reports[-1][0]
        step = (last - first) / (len(a.reports) - 1)
        extra.append(max(0.0, first - a.started - step))
    return float(statistics.median(extra)) if extra else 0.0


def _trial_data(
    configs: Mapping[int, dict[str, Any]],
    attempts: Mapping[tuple[int, int], _Attempt],
    finals: Mapping[int, float],
) -> tuple[list[TrialData], list[float]]:
    """Per-trial measurements, and per attempt with reports the time beyond its steps.

    The time per step of a trial is the span from each attempt's start to its last report,
    less the setup time, over the number of reports: a long span measured on the driver's
    clock is far less noisy than the gaps between single reports.
    """
    by_trial: dict[int, list[_Attempt]] = {}
    for (tid, _), a in sorted(attempts.items()):
        by_trial.setdefault(tid, []).append(a)
    setup = _setup_time(attempts.values())
    trials: list[TrialData] = []
    fixed: list[float] = []
    for tid in sorted(by_trial):
        if all(a.started is None for a in by_trial[tid]):
            continue  # never ran: nothing measured
        td = TrialData(tid, dict(configs.get(tid, {})), final=finals.get(tid))
        ran_before = False
        span = 0.0
        steps = 0
        ran: list[_Attempt] = []
        for a in by_trial[tid]:
            if a.started is None:
                continue
            if a.outcome == "completed" and a.ended is not None and not ran_before:
                td.duration = a.ended - a.started
            ran_before = True
            if a.reports:
                span += a.reports[-1][0] - a.started - setup
                steps += len(a.reports)
            for _, step, value in a.reports:
                if value is not None:
                    td.steps.append(step)
                    td.values.append(value)
            if a.outcome in _RAN and a.ended is not None and a.reports:
                ran.append(a)
        if steps >= 1 and span > 0:  # one report times a step too: trials stopped at rung 1
            td.step_time = span / steps
            for a in ran:
                assert a.ended is not None
                assert a.started is not None
                fixed.append(a.ended - a.started - len(a.reports) * td.step_time)
        trials.append(td)
    return trials, fixed


def _slot_gaps(
    attempts: Iterable[_Attempt],
) -> tuple[list[float], list[float], list[float], int]:
    """Gaps between consecutive attempts on each worker slot, and each worker's first start.

    A worker may run several attempts at once (threads); each attempt takes the slot that
    freed most recently before it started, or a new slot when none had. A gap counts from
    the moment the slot could have been used: its previous attempt's end, or, when nothing
    was waiting to run then, the driver's next submission (anywhere), so time the scheduler
    itself had nothing to run is left to the simulation while time a submitted attempt
    spent reaching a free worker is not.
    """
    every = list(attempts)
    submissions = sorted(a.submitted for a in every if a.submitted is not None)
    by_worker: dict[str, list[_Attempt]] = {}
    for a in every:
        if a.started is not None and a.worker:
            by_worker.setdefault(str(a.worker), []).append(a)
    queued: list[float] = []
    waiting: list[float] = []
    startup: list[float] = []
    tolerance = 0.05  # events of one batch carry nearly the same driver time
    for worker in sorted(by_worker):
        runs = sorted(by_worker[worker], key=lambda a: (a.started, a.trial_id, a.attempt))
        startup.append(float(runs[0].started or 0.0))
        slots: list[_Attempt] = []
        for a in runs:
            assert a.started is not None
            free = [
                i
                for i, prev in enumerate(slots)
                if prev.ended is not None and prev.ended <= a.started + tolerance
            ]
            if not free:
                slots.append(a)
                continue
            i = max(free, key=lambda j: slots[j].ended or 0.0)
            prev, slots[i] = slots[i], a
            assert prev.ended is not None
            if prev.outcome not in (*_RAN, "failed"):
                continue  # a lost or cancelled attempt: its end is not a normal hand-over
            if a.submitted is None or a.submitted <= prev.ended:
                queued.append(max(0.0, a.started - prev.ended))
                continue
            k = bisect.bisect_left(submissions, prev.ended)
            usable = min(a.submitted, submissions[k]) if k < len(submissions) else a.submitted
            waiting.append(max(0.0, a.started - usable))
    return queued, waiting, startup, len(by_worker)
