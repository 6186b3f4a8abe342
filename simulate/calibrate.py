"""Calibrate the simulator from a real experiment: a workload model fitted to its journal.

What the driver measured (``journal.jsonl``, on its own clock) becomes a
:class:`CalibratedWorkload` that :func:`simulate.runner.run_search` runs:

* **Time per trial** (or per step, for runs with intermediate reports: an attempt's span from
  its start to its last report, less the setup before its first step, over its reports): a
  least-squares regression of the log time on the configuration (numeric parameters scaled
  to [0, 1], on a log scale for log domains; one column per extra category of a choice; the
  squares of the numeric ones when they help), with the measured residuals as the noise.
  When no regression beats the empirical distribution in cross-validation (or there are too
  few trials for one), measured times are resampled instead; the calibration says which it
  chose and why.
* **Learning curves**: ``floor(config) + gain(config) * shape(step)`` with a power-law or
  exponential shape; from one curve for all, through a floor that depends on the
  configuration, to floor and gain that do (squares included), whichever cross-validation
  supports; plus a per-trial offset and per-report noise estimated from the residuals.
  Partial curves (trials stopped early) count too.
* **Final metric** of runs without reports: the same kind of regression (or resampling).
* **Overheads** (means: a makespan adds them up): the gap between an attempt's end and the
  next start on the same worker slot (separately for attempts that were already queued and
  for ones the driver submitted only after the slot freed, which pay its round trip), the
  time an attempt holds its slot beyond its steps, and each worker's first start on the
  driver's clock (start-up).

Too few finished trials is an error that says how many there are and how many it needs; the
fit never extrapolates from nothing. Everything is plain data: :meth:`Calibration.to_dict`
round-trips through JSON, and :meth:`Calibration.bootstrap` refits on resampled trials for the
fit's share of the uncertainty.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from daskhpo.errors import CalibrationError as CalibrationError  # re-exported
from daskhpo.experiment.journal import JOURNAL_NAME, read_journal
from daskhpo.space import Choice, Grid, LogRandInt, LogUniform, RandInt, SearchSpace, Uniform
from simulate.workloads import STREAM_CURVE, STREAM_DURATION, STREAM_METRIC, KeyedDraws

__all__ = [
    "MIN_TRIALS",
    "CalibratedWorkload",
    "Calibration",
    "CalibrationError",
    "Column",
    "CurveFit",
    "LinearFit",
    "Measurements",
    "TrialData",
    "calibrate",
    "fit",
    "measure",
]

#: Trials with measured times a calibration needs at the least.
MIN_TRIALS = 8
#: A regression is chosen only if it cuts the cross-validated error by this fraction.
MIN_GAIN = 0.05
#: Ridge penalty per observation on the feature coefficients (features are in [0, 1]): a
#: numerical guard for features the data never varies (an unseen category), nothing more.
RIDGE = 1e-9
CV_FOLDS = 5
#: Reports used to fit curves at most (a seeded subsample of longer journals).
MAX_REPORTS = 20_000

_ENDS = ("completed", "stopped", "paused", "failed", "lost", "cancelled")
_RAN = ("completed", "stopped", "paused")  # ended on their own or by a scheduler's decision
_EXPERIMENT_JSON = "experiment.json"
_EXPERIMENT_YAML = "experiment.yaml"

Array = np.ndarray[Any, np.dtype[np.float64]]


# --------------------------------------------------------------------------- measurements


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
    num_trials: int | None = None
    seed: int | None = None  # the experiment's seed: a search with it tries the same configs
    scheduler: Any = None
    searcher: Any = None
    source: str = ""

    @property
    def multi_fidelity(self) -> bool:
        """Whether trials reported more than once (learning curves to fit)."""
        return any(len(t.values) >= 2 for t in self.trials)


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read_settings(experiment_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``experiment.json`` (always written) and ``experiment.yaml`` (runs from the CLI)."""
    info_path = experiment_dir / _EXPERIMENT_JSON
    if not info_path.is_file() or not (experiment_dir / JOURNAL_NAME).is_file():
        raise CalibrationError(
            f"{str(experiment_dir)!r} is not an experiment directory (it needs "
            f"{_EXPERIMENT_JSON} and {JOURNAL_NAME}); pass the directory a search wrote"
        )
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read {info_path}: {exc}") from exc
    if not isinstance(info, dict) or not isinstance(info.get("metric"), str):
        raise CalibrationError(f"{info_path} does not name a metric; it was not written by daskhpo")
    if not isinstance(info.get("space"), dict) or not info["space"]:
        raise CalibrationError(f"{info_path} has no search space; it was not written by daskhpo")
    spec: dict[str, Any] = {}
    spec_path = experiment_dir / _EXPERIMENT_YAML
    if spec_path.is_file():
        try:
            loaded = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
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
    info, spec = _read_settings(path)
    if until is not None and not (_number(until) is not None and until > 0):
        raise ValueError(f"until must be a number of seconds > 0, got {until!r}")
    records = read_journal(path / JOURNAL_NAME)
    if until is not None:
        records = (r for r in records if (_number(r.get("time")) or 0.0) <= until)
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
    records: Iterable[Mapping[str, Any]],
    *,
    metric: str,
    mode: str = "min",
    space: Mapping[str, Any],
    until: float | None = None,
) -> Measurements:
    """Reduce journal records (see :mod:`daskhpo.experiment.journal`) to :class:`Measurements`."""
    configs: dict[int, dict[str, Any]] = {}
    attempts: dict[tuple[int, int], _Attempt] = {}
    finals: dict[int, float] = {}
    last_time: float | None = None
    end_time: float | None = None
    for r in records:
        event, t = r.get("event"), _number(r.get("time"))
        if t is None:
            continue
        last_time = t if last_time is None else max(last_time, t)
        if event == "end":
            end_time = t
            continue
        if "trial_id" not in r:
            continue
        tid = int(r["trial_id"])
        if event in ("created", "resumed"):
            configs[tid] = dict(r.get("config") or configs.get(tid) or {})
            if event == "created":
                continue
        number = r.get("attempt")
        if isinstance(number, bool) or not isinstance(number, int):
            continue
        a = attempts.setdefault((tid, number), _Attempt(tid, number))
        if event == "submitted":
            a.submitted = t if a.submitted is None else a.submitted
        elif event == "started":
            a.started, a.worker = t, r.get("worker")
        elif event == "reported":
            step = _number(r.get("step"))
            value = _number((r.get("metrics") or {}).get(metric))
            a.reports.append((t, step if step is not None else float(len(a.reports) + 1), value))
        elif event in _ENDS:
            a.ended, a.outcome = t, str(event)
            if event == "completed":
                value = _number((r.get("metrics") or {}).get(metric))
                if value is not None:
                    finals[tid] = value
    trials, fixed = _trial_data(configs, attempts, finals)
    gaps_queued, gaps_waiting, startup, workers = _slot_gaps(attempts.values())
    makespan = end_time if end_time is not None else (until if until is not None else last_time)
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
        if steps >= 2 and span > 0:
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


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class Column:
    """One regression feature of a configuration, in [0, 1] over the parameter's domain.

    ``linear``: ``(value - low) / (high - low)``; ``log``: the same on ``log(value)``;
    ``category``: 1 when the parameter equals ``category``, else 0.
    """

    param: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    category: Any = None

    @property
    def label(self) -> str:
        if self.kind == "log":
            return f"log({self.param})"
        if self.kind == "category":
            return f"{self.param}={self.category}"
        return self.param

    def value(self, config: Mapping[str, Any]) -> float:
        if self.param not in config:
            raise ValueError(
                f"the configuration has no parameter {self.param!r} (it has {sorted(config)}); "
                "plan with the search space the experiment was calibrated on"
            )
        raw = config[self.param]
        if self.kind == "category":
            return 1.0 if _key(raw) == _key(self.category) else 0.0
        x = float(raw)
        if self.kind == "log":
            x = math.log(max(x, 1e-300))
        return (x - self.low) / (self.high - self.low) if self.high > self.low else 0.0


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def columns_for(space: SearchSpace) -> list[Column]:
    """The regression features of a search space's sampled parameters."""
    columns: list[Column] = []
    for name, domain in space.domains.items():
        if isinstance(domain, (Uniform, RandInt)):
            columns.append(Column(name, "linear", float(domain.low), float(domain.high)))
        elif isinstance(domain, (LogUniform, LogRandInt)):
            columns.append(
                Column(name, "log", math.log(float(domain.low)), math.log(float(domain.high)))
            )
        elif isinstance(domain, (Choice, Grid)):
            values = domain.categories if isinstance(domain, Choice) else domain.values
            columns.extend(Column(name, "category", category=v) for v in values[1:])
    return columns


def design(columns: Sequence[Column], configs: Sequence[Mapping[str, Any]]) -> Array:
    """The design matrix: an intercept column, then one column per feature."""
    out = np.ones((len(configs), len(columns) + 1))
    for i, config in enumerate(configs):
        for j, column in enumerate(columns):
            out[i, j + 1] = column.value(config)
    return out


def _solve(x: Array, y: Array) -> Array:
    """Least squares with a small ridge penalty on every coefficient but the intercept."""
    n, p = x.shape
    penalty = np.sqrt(RIDGE * max(n, 1)) * np.eye(p)[1:]
    coef, *_ = np.linalg.lstsq(np.vstack([x, penalty]), np.concatenate([y, np.zeros(p - 1)]))
    return np.asarray(coef, dtype=np.float64)


def _folds(groups: Sequence[int], k: int = CV_FOLDS) -> list[np.ndarray[Any, np.dtype[np.bool_]]]:
    """Test masks of a K-fold split that keeps each group (a trial) in one fold."""
    unique = sorted(set(groups))
    order = np.random.default_rng(0).permutation(len(unique))
    fold_of = {unique[j]: i % min(k, len(unique)) for i, j in enumerate(order)}
    labels = np.array([fold_of[g] for g in groups])
    return [labels == f for f in range(min(k, len(unique)))]


# --------------------------------------------------------------------------- linear fits


def squared_columns(columns: Sequence[Column]) -> tuple[int, ...]:
    """Positions in a design row (after the intercept) of the numeric features: a quadratic
    model adds their squares, so a best value inside the domain can be represented."""
    return tuple(j + 1 for j, c in enumerate(columns) if c.kind != "category")


def expand(x: Array, squares: Sequence[int]) -> Array:
    """A design matrix with the squares of the columns ``squares`` appended."""
    return np.hstack([x, x[:, list(squares)] ** 2]) if squares else x


def expand_row(row: Sequence[float], squares: Sequence[int]) -> list[float]:
    return [*row, *(row[i] ** 2 for i in squares)]


@dataclass(frozen=True)
class LinearFit:
    """``y = coef · features + residual``, the residual resampled from the measured ones.

    ``kind="empirical"`` has only an intercept: it resamples the measured values. A
    regression uses the squares of the features at ``squares`` too, when they helped.
    """

    target: str
    kind: str
    coef: tuple[float, ...]
    residuals: tuple[float, ...]
    n: int
    cv_error: float | None
    cv_error_empirical: float | None
    reason: str
    squares: tuple[int, ...] = ()

    def mean(self, row: Sequence[float]) -> float:
        full = expand_row(row, self.squares) if self.squares else row
        return float(sum(c * x for c, x in zip(self.coef, full, strict=True)))

    def draw(self, row: Sequence[float], u: float) -> float:
        """The value for features ``row`` with the residual picked by ``u`` in [0, 1)."""
        residual = self.residuals[min(int(u * len(self.residuals)), len(self.residuals) - 1)]
        return self.mean(row) + residual


def fit_linear(
    x: Array,
    y: Array,
    groups: Sequence[int],
    labels: Sequence[str],
    target: str,
    squares: Sequence[int] = (),
) -> LinearFit:
    """A regression of ``y`` on ``x`` (and, if it helps, the squares of the columns at
    ``squares``), or the empirical distribution when no regression beats it."""
    n, width = int(x.shape[0]), int(x.shape[1])
    p = width - 1
    mean = float(y.mean())
    empirical_coef = (mean,) + (0.0,) * p
    empirical_res = tuple(sorted(float(v) for v in y - mean))

    def empirical(reason: str, cv: float | None = None, cv_emp: float | None = None) -> LinearFit:
        return LinearFit(target, "empirical", empirical_coef, empirical_res, n, cv, cv_emp, reason)

    if p == 0:
        return empirical(f"the empirical distribution of {n} measured values (no parameters)")
    if n < p + 4:
        return empirical(
            f"the empirical distribution of {n} measured values: too few for a regression on "
            f"{p} features (it needs at least {p + 4})"
        )
    folds = _folds(groups)

    def cv(design: Array) -> float:
        total = 0.0
        for test in folds:
            coef = _solve(design[~test], y[~test])
            total += float(np.sum((y[test] - design[test] @ coef) ** 2))
        return total / n

    cv_emp = sum(float(np.sum((y[test] - y[~test].mean()) ** 2)) for test in folds) / n
    names = ", ".join(labels)
    chosen: tuple[Array, tuple[int, ...], float] | None = None
    cv_lin = cv(x)
    if cv_lin < (1.0 - MIN_GAIN) * cv_emp:
        chosen = (x, (), cv_lin)
    x_sq = expand(x, squares)
    if squares and n >= x_sq.shape[1] + 4:
        cv_sq = cv(x_sq)
        if cv_sq < (1.0 - MIN_GAIN) * (chosen[2] if chosen else cv_emp):
            chosen = (x_sq, tuple(squares), cv_sq)
    if chosen is None:
        return empirical(
            f"the empirical distribution of {n} measured values: a regression on {names} did "
            f"not beat it in cross-validation (mean squared error {cv_lin:.3g} vs {cv_emp:.3g})",
            cv_lin,
            cv_emp,
        )
    design, used, cv_reg = chosen
    coef = _solve(design, y)
    residuals = y - design @ coef
    inflate = math.sqrt(n / max(n - design.shape[1], 1))  # fitted residuals understate noise
    on = f"{names} and their squares" if used else names
    return LinearFit(
        target,
        "regression",
        tuple(float(c) for c in coef),
        tuple(sorted(float(r) * inflate for r in residuals)),
        n,
        cv_reg,
        cv_emp,
        f"a regression on {on} with the measured residuals (cross-validated mean squared "
        f"error {cv_reg:.3g} vs {cv_emp:.3g} for the empirical distribution, {n} trials)",
        used,
    )


# --------------------------------------------------------------------------- learning curves


@dataclass(frozen=True)
class CurveFit:
    """``floor · features + (gain · features) * shape(step) + offset + noise``.

    ``shape`` is ``step ** -rate`` (``family="power"``) or ``exp(-step / rate)``
    (``family="exp"``); ``offsets`` are per-trial departures from the fit (resampled, shrunk
    by the noise in their estimate), ``noise`` the standard deviation of a single report.
    """

    family: str
    rate: float
    floor: tuple[float, ...]
    gain: tuple[float, ...]
    offsets: tuple[float, ...]
    noise: float
    config_dependent: bool
    trials: int
    reports: int
    cv_error: float | None
    cv_error_shape_only: float | None
    reason: str
    squares: tuple[int, ...] = ()

    def levels(self, row: Sequence[float]) -> tuple[float, float]:
        """``floor`` and ``gain`` for a configuration's design row."""
        full = expand_row(row, self.squares) if self.squares else row
        floor = sum(c * x for c, x in zip(self.floor, full, strict=True))
        gain = sum(c * x for c, x in zip(self.gain, full, strict=True))
        return float(floor), float(gain)

    def shape(self, steps: Array) -> Array:
        if self.family == "power":
            return np.asarray(steps ** (-self.rate), dtype=np.float64)
        return np.asarray(np.exp(-steps / self.rate), dtype=np.float64)

    def offset(self, u: float) -> float:
        if not self.offsets:
            return 0.0
        return self.offsets[min(int(u * len(self.offsets)), len(self.offsets) - 1)]

    @property
    def description(self) -> str:
        if self.family == "power":
            return f"a power law (step^-{self.rate:.3g})"
        return f"an exponential (exp(-step/{self.rate:.3g}))"


def _shapes(max_step: float) -> dict[str, Array]:
    """Candidate rates of each family, on a log grid."""
    return {
        "power": np.geomspace(0.05, 4.0, 40),
        "exp": np.geomspace(0.25, 4.0 * max(max_step, 1.0), 40),
    }


def _curve_design(floor_x: Array, gain_x: Array, h: Array) -> Array:
    return np.hstack([floor_x, gain_x * h[:, None]])


def _shape_values(family: str, rate: float, t: Array) -> Array:
    return np.asarray(t ** (-rate) if family == "power" else np.exp(-t / rate), dtype=np.float64)


def _sse(
    floor_x: Array, gain_x: Array, t: Array, v: Array, family: str, rate: float
) -> tuple[float, Array]:
    d = _curve_design(floor_x, gain_x, _shape_values(family, rate, t))
    coef = _solve(d, v)
    return float(np.sum((v - d @ coef) ** 2)), coef


def _best_shape(
    floor_x: Array, gain_x: Array, t: Array, v: Array
) -> tuple[str, float, Array, float]:
    """The family and rate with the least squared error: a log grid, then a golden-section
    search between the best grid point's neighbours."""

    def sse(family: str, rate: float) -> float:
        return _sse(floor_x, gain_x, t, v, family, rate)[0]

    best: tuple[str, float, Array, float] | None = None
    for family, grid in _shapes(float(t.max())).items():
        errors = [sse(family, float(r)) for r in grid]
        i = int(np.argmin(errors))
        lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fa, fb = sse(family, math.exp(a)), sse(family, math.exp(b))
        for _ in range(30):
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - ratio * (hi - lo)
                fa = sse(family, math.exp(a))
            else:
                lo, a, fa = a, b, fb
                b = lo + ratio * (hi - lo)
                fb = sse(family, math.exp(b))
        candidates = [(errors[i], float(grid[i])), (fa, math.exp(a)), (fb, math.exp(b))]
        _, rate = min(candidates)
        err, coef = _sse(floor_x, gain_x, t, v, family, rate)
        if best is None or err < best[3] - 1e-12:
            best = (family, rate, coef, err)
    assert best is not None
    return best


def fit_curve(
    x_trials: Array,
    trial_index: np.ndarray[Any, np.dtype[np.int64]],
    t: Array,
    v: Array,
    groups: Sequence[int],
    labels: Sequence[str],
    squares: Sequence[int] = (),
) -> CurveFit:
    """Fit learning curves to reports ``v`` at steps ``t`` of trials ``trial_index``.

    Candidates from simple to rich: one curve for all; a floor linear in the features; floor
    and gain linear in them; the same with the squares of the numeric features. A richer one
    is chosen only if it cuts the cross-validated error (trials held out) of the one chosen
    so far by :data:`MIN_GAIN`.
    """
    n_trials, width = x_trials.shape
    p = width - 1
    x_full = x_trials[trial_index]
    x_sq = expand(x_full, squares)
    ones = x_full[:, :1]
    # (floor design, gain design, squares used, what it is called)
    candidates: list[tuple[Array, Array, tuple[int, ...], str]] = [(ones, ones, (), "one curve")]
    if p > 0 and n_trials >= width + 2:
        candidates.append((x_full, ones, (), "floor"))
    if p > 0 and n_trials >= 2 * width + 2:
        candidates.append((x_full, x_full, (), "floor and gain"))
    if squares and n_trials >= 2 * x_sq.shape[1] + 2:
        candidates.append((x_sq, x_sq, tuple(squares), "with squares"))
    shapes = [_best_shape(f, g, t, v) for f, g, _, _ in candidates]
    names = ", ".join(labels)
    chosen = 0
    errors: list[float] = []
    if len(candidates) == 1:
        reason = "the same curve for every configuration " + (
            "(no parameters)" if p == 0 else f"({n_trials} trials are too few to tell apart)"
        )
    else:
        folds = _folds([groups[i] for i in trial_index])

        def cv(floor_x: Array, gain_x: Array, family: str, rate: float) -> float:
            d = _curve_design(floor_x, gain_x, _shape_values(family, rate, t))
            total = 0.0
            for test in folds:
                coef = _solve(d[~test], v[~test])
                total += float(np.sum((v[test] - d[test] @ coef) ** 2))
            return total / len(v)

        errors = [cv(f, g, s[0], s[1]) for (f, g, _, _), s in zip(candidates, shapes, strict=True)]
        for i in range(1, len(candidates)):
            if errors[i] < (1.0 - MIN_GAIN) * errors[chosen]:
                chosen = i
        scores = ", ".join(f"{c[3]} {e:.3g}" for c, e in zip(candidates, errors, strict=True))
        what = {
            0: f"one curve for all configurations (letting it depend on {names} did not help)",
            1: f"the floor depends on {names}",
            2: f"floor and gain depend on {names}",
            3: f"floor and gain depend on {names} and their squares",
        }[chosen]
        reason = f"{what}; cross-validated mean squared error: {scores}"
    floor_x, gain_x, used, _ = candidates[chosen]
    family, rate, coef, _ = shapes[chosen]
    design_width = x_sq.shape[1] if used else width
    wf, wg = floor_x.shape[1], gain_x.shape[1]
    floor = tuple(float(c) for c in coef[:wf]) + (0.0,) * (design_width - wf)
    gain = tuple(float(c) for c in coef[wf:]) + (0.0,) * (design_width - wg)
    pred = _curve_design(floor_x, gain_x, _shape_values(family, rate, t)) @ coef
    offsets, noise = _offsets_and_noise(v - pred, trial_index, n_trials)
    return CurveFit(
        family=family,
        rate=float(rate),
        floor=floor,
        gain=gain,
        offsets=offsets,
        noise=noise,
        config_dependent=chosen > 0,
        trials=len(set(trial_index.tolist())),
        reports=len(v),
        cv_error=errors[chosen] if errors else None,
        cv_error_shape_only=errors[0] if errors else None,
        reason=reason,
        squares=used,
    )


def _offsets_and_noise(
    residuals: Array, trial_index: np.ndarray[Any, np.dtype[np.int64]], n_trials: int
) -> tuple[tuple[float, ...], float]:
    """Per-trial mean residuals, shrunk to the spread the report noise does not explain."""
    counts = np.bincount(trial_index, minlength=n_trials).astype(np.float64)
    sums = np.bincount(trial_index, weights=residuals, minlength=n_trials)
    seen = counts > 0
    means = sums[seen] / counts[seen]
    within = residuals - (sums / np.maximum(counts, 1.0))[trial_index]
    dof = len(residuals) - int(seen.sum())
    noise_var = float(np.sum(within**2)) / dof if dof > 0 else 0.0
    if len(means) < 2:
        return (), math.sqrt(noise_var)
    spread = float(np.var(means, ddof=1))
    between = max(0.0, spread - float(np.mean(noise_var / counts[seen])))
    scale = math.sqrt(between / spread) if spread > 0 else 0.0
    offsets = tuple(sorted(float(m) * scale for m in means - means.mean()))
    return offsets, math.sqrt(noise_var)


# --------------------------------------------------------------------------- the calibration


@dataclass(frozen=True)
class Calibration:
    """A workload model fitted to one experiment (see the module docstring)."""

    metric: str
    mode: str
    space: dict[str, Any]
    columns: tuple[Column, ...]
    steps: int  # reports in a full run; 0: trials only return a result
    durations: LinearFit  # log seconds per trial, or per step when steps > 0
    curve: CurveFit | None
    final: LinearFit | None  # the returned metric (steps == 0)
    overhead_queued_s: float
    overhead_waiting_s: float
    startup_s: float
    scheduler: Any
    searcher: Any
    measured: dict[str, Any]
    notes: tuple[str, ...]
    data: Measurements

    def workload(self, seed: int = 0, *, steps: int | None = None) -> CalibratedWorkload:
        """A workload for :func:`simulate.runner.run_search` drawing with ``seed``."""
        return CalibratedWorkload(self, seed=seed, steps=steps)

    def overhead_s(self, *, queued: bool) -> float:
        """Seconds an attempt holds its slot beyond its work: queued attempts start at once,
        others wait for the driver's round trip (schedulers that decide on results)."""
        return self.overhead_queued_s if queued else self.overhead_waiting_s

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def bootstrap(self, n: int, seed: int = 0) -> list[Calibration]:
        """``n`` refits on trials (and slot gaps) resampled with replacement (the fit's share
        of a plan's uncertainty)."""
        rng = np.random.default_rng([seed, 0xB007])
        out: list[Calibration] = []
        data = self.data
        strata: dict[tuple[bool, bool], list[TrialData]] = {}
        for t in data.trials:  # resampled within kinds, so every refit has as many timings
            strata.setdefault((t.duration is not None, t.step_time is not None), []).append(t)
        for _ in range(n):
            trials = [
                group[i]
                for _, group in sorted(strata.items())
                for i in rng.integers(0, len(group), len(group))
            ]
            trials.sort(key=lambda t: t.trial_id)
            resampled = dataclasses.replace(
                data,
                trials=trials,
                gaps_queued=_resample(data.gaps_queued, rng),
                gaps_waiting=_resample(data.gaps_waiting, rng),
                fixed=_resample(data.fixed, rng),
            )
            out.append(fit(resampled, steps=self.steps if self.steps else None))
        return out

    def summary(self) -> list[str]:
        """What was fitted and why, one line per part."""
        m = self.measured
        makespan = m.get("makespan_s")
        lines = [
            f"calibrated from {m['trials']} trials ({m['completed']} completed, "
            f"{m['attempts']} attempts) on {m['workers']} worker(s)"
            + (f", measured makespan {makespan:.4g} s" if makespan is not None else "")
        ]
        unit = "time per step" if self.steps else "time per trial"
        lines.append(f"{unit}: {self.durations.reason}")
        if self.curve is not None:
            lines.append(
                f"learning curves ({self.steps} steps): {self.curve.description}; "
                f"{self.curve.reason}; report noise {self.curve.noise:.3g}"
            )
        elif self.final is not None:
            lines.append(f"final {self.metric}: {self.final.reason}")
        lines.append(
            f"per-trial overhead {self.overhead_queued_s * 1000:.3g} ms when queued, "
            f"{self.overhead_waiting_s * 1000:.3g} ms when the driver decides on results; "
            f"worker start-up {self.startup_s:.3g} s"
        )
        lines.extend(self.notes)
        return lines

    # ------------------------------------------------------------------ plain data

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; :meth:`from_dict` rebuilds the same calibration."""
        out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self), default=str))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        d = dict(data)
        d["columns"] = tuple(Column(**c) for c in d["columns"])
        d["durations"] = _linear_from(d["durations"])
        d["final"] = None if d.get("final") is None else _linear_from(d["final"])
        if d.get("curve") is not None:
            c = dict(d["curve"])
            for key in ("floor", "gain", "offsets", "squares"):
                c[key] = tuple(c.get(key, ()))
            d["curve"] = CurveFit(**c)
        d["notes"] = tuple(d.get("notes", ()))
        m = dict(d["data"])
        m["trials"] = [TrialData(**t) for t in m["trials"]]
        d["data"] = Measurements(**m)
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _linear_from(data: Mapping[str, Any]) -> LinearFit:
    d = dict(data)
    d["coef"] = tuple(d["coef"])
    d["residuals"] = tuple(d["residuals"])
    d["squares"] = tuple(d.get("squares", ()))
    return LinearFit(**d)


def _resample(values: Sequence[float], rng: np.random.Generator) -> list[float]:
    if not values:
        return []
    return [values[i] for i in rng.integers(0, len(values), len(values))]


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    """Makespans add times up, so overheads enter as means, their rare long ones included."""
    return float(statistics.fmean(values)) if values else None


def _scheduler_max_resource(scheduler: Any) -> float | None:
    if isinstance(scheduler, Mapping) and len(scheduler) == 1:
        options = next(iter(scheduler.values()))
        if isinstance(options, Mapping):
            return _number(options.get("max_resource"))
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
            f"trials with two or more reports (to time a step); found {len(timed)}. Run "
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


# --------------------------------------------------------------------------- the workload


class CalibratedWorkload:
    """A :class:`~simulate.workloads.Workload` drawn from a :class:`Calibration`.

    Per-trial draws depend only on (seed, stream, trial id), like the synthetic workloads, so
    runs with one seed see the same trials whatever the scheduler or the cluster.
    """

    def __init__(self, calibration: Calibration, *, seed: int = 0, steps: int | None = None):
        cal = calibration
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
        if steps is not None and (steps < 1 or cal.curve is None):
            raise ValueError(
                f"steps={steps!r}: only a calibration with learning curves has steps, and "
                "they must be >= 1"
            )
        self.calibration = cal
        self.metric = cal.metric
        self.steps = cal.steps if steps is None else steps
        self._columns = cal.columns
        self._time = KeyedDraws(seed, STREAM_DURATION, lambda rng, n: rng.random(n))
        self._value = KeyedDraws(seed, STREAM_METRIC, lambda rng, n: rng.random(n))
        self._shape: Array | None = None
        self._noise: KeyedDraws | None = None
        self._last: tuple[int, Mapping[str, Any], list[float]] | None = None
        if self.steps and cal.curve is not None:
            self._shape = cal.curve.shape(np.arange(1, self.steps + 1, dtype=np.float64))
            if cal.curve.noise > 0:
                width = self.steps
                self._noise = KeyedDraws(
                    seed, STREAM_CURVE, lambda rng, n: rng.standard_normal((n, width))
                )

    def _row(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        """The features of a trial's configuration (kept for the next call of the trial)."""
        cached = self._last
        if cached is not None and cached[0] == trial_id and cached[1] is config:
            return cached[2]
        row = [1.0, *(c.value(config) for c in self._columns)]
        self._last = (trial_id, config, row)
        return row

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """Seconds of work for the full run (all steps)."""
        seconds = math.exp(
            self.calibration.durations.draw(self._row(trial_id, config), self._time[trial_id])
        )
        return seconds * self.steps if self.steps else seconds

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        """The metric after each step (or the one final value)."""
        cal = self.calibration
        row = self._row(trial_id, config)
        u = self._value[trial_id]
        if self._shape is not None and cal.curve is not None:
            c = cal.curve
            floor, gain = c.levels(row)
            values = floor + gain * self._shape + c.offset(u)
            if self._noise is not None:
                values = values + c.noise * np.asarray(self._noise[trial_id])
            result: list[float] = values.tolist()
            return result
        if cal.final is not None:
            return [cal.final.draw(row, u)]
        return [float(u)]
