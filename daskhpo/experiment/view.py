"""What happened in an experiment, read back from its journal: :class:`ExperimentView`.

The journal is the truth while a search runs and after its driver dies, so ``daskhpo status``,
``daskhpo report``, the plots and the simulator's calibration all read it through this view.
Records are decoded by :mod:`daskhpo.records` and applied in order, each the way the Tuner
applied the fact it journals: per trial, its state (a :class:`~daskhpo.trial.Trial`, as the
Tuner kept it) and its :class:`Attempt` s, each with its times, worker, outcome and reports.

A torn last line (a driver killed mid-write) and a journal cut short at the start (records of
trials whose ``created`` is missing) still read: such a trial has an empty config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskhpo import records as rec
from daskhpo.errors import JournalError
from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.journal import read_records
from daskhpo.results import Result
from daskhpo.space import SearchSpace
from daskhpo.trial import Trial, TrialStatus
from daskhpo.tuner import ReportRecord

#: The outcome of an attempt, by the record that ended it.
OUTCOMES: dict[type[Any], str] = {
    rec.Completed: "COMPLETED",
    rec.Stopped: "STOPPED",
    rec.Paused: "PAUSED",
    rec.Failed: "FAILED",
    rec.Lost: "LOST",
    rec.Cancelled: "CANCELLED",
}


@dataclass
class Attempt:
    """One run of a trial: from its submission to the record that ended it.

    ``outcome`` is one of :data:`OUTCOMES`' values, or None while it is queued or running.
    ``metrics`` are the final ones of a completed attempt; ``error`` the traceback of a user
    failure or the reason a worker was lost; ``retried``: a failed or lost attempt that was
    followed by another.
    """

    trial_id: int
    attempt: int
    config: dict[str, Any]
    budget: float | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None
    outcome: str | None = None
    decision: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retried: bool = False
    reports: list[ReportRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentInfo:
    """The parts of an experiment's saved settings that reading its directory needs."""

    metric: str
    mode: str
    config_names: list[str]
    domain_names: list[str]  # the sampled parameters (the others are constants)
    num_trials: int | None


def read_info(experiment_dir: Path) -> ExperimentInfo:
    """Read the saved settings (:meth:`ExperimentDir.read_info`); an ExperimentError says
    what is missing and how to fix it."""
    data = ExperimentDir(experiment_dir).read_info()
    raw_space = data.get("space")
    space: dict[str, Any] = raw_space if isinstance(raw_space, dict) else {}
    try:
        domain_names = list(SearchSpace.from_dict(space).domains) if space else []
    except (ValueError, TypeError):
        domain_names = list(space)
    num_trials = data.get("num_trials")
    return ExperimentInfo(
        metric=data["metric"],
        mode=data.get("mode", "min"),
        config_names=list(space),
        domain_names=domain_names,
        num_trials=num_trials if isinstance(num_trials, int) else None,
    )


class ExperimentView:
    """A journal replayed: trials, their attempts and reports, and whether the search ended.

    Build it with :meth:`from_directory` (which reads the saved settings too, for the metric)
    or :meth:`from_records`; :meth:`apply` takes one more record (a journal that grows).
    """

    def __init__(self, info: ExperimentInfo | None = None) -> None:
        self.info = info
        self.trials: dict[int, Trial] = {}
        self.attempts: dict[int, list[Attempt]] = {}
        self.reports: list[ReportRecord] = []
        self.last_event_time: dict[int, float] = {}  # per trial
        self.ended = False  # an "end" record is the last word (a later record reopens it)
        self.stop_reason: str | None = None
        self.interrupted = False
        self.last_time: float | None = None  # seconds since the driver started, of the latest
        self.records = 0
        self.resumes = 0
        self.version = 1  # the schema version (journals written before the header: 1)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_directory(cls, experiment_dir: str | Path) -> ExperimentView:
        """The view of an experiment directory (no trials if nothing was journaled yet)."""
        directory = ExperimentDir(Path(experiment_dir).expanduser())
        view = cls(read_info(directory.path))
        if directory.journal_path.is_file():
            view.extend(read_records(directory.journal_path))
        return view

    @classmethod
    def from_journal(cls, path: Path, info: ExperimentInfo | None = None) -> ExperimentView:
        """The view of one journal file."""
        view = cls(info)
        view.extend(read_records(path))
        return view

    @classmethod
    def from_records(
        cls, records: Iterable[rec.Record | Mapping[str, Any]], info: ExperimentInfo | None = None
    ) -> ExperimentView:
        """The view of ``records`` (decoded ones, or plain mappings as in the journal)."""
        view = cls(info)
        view.extend(records)
        return view

    def extend(self, records: Iterable[rec.Record | Mapping[str, Any]]) -> None:
        for record in records:
            self.apply(record)

    def apply(self, record: rec.Record | Mapping[str, Any]) -> None:
        """Apply one record, mirroring what the Tuner did when it wrote it; a mapping that is
        not a record this release knows is skipped."""
        if isinstance(record, Mapping):
            try:
                decoded = rec.decode(record)
            except JournalError:
                return
            if decoded is None:
                return
            record = decoded
        self.records += 1
        self.last_time = float(record.time)
        if isinstance(record, rec.End):
            self.ended, self.stop_reason = True, record.reason
            return
        self.ended = False
        if isinstance(record, rec.Header):
            self.version = record.version
        elif isinstance(record, rec.Interrupted):
            self.interrupted = True
        elif isinstance(record, rec.Resume):
            self.resumes += 1
        else:
            self._apply_trial(record)

    # ------------------------------------------------------------------ one trial's record

    def _trial(self, trial_id: int) -> Trial:
        trial = self.trials.get(trial_id)
        if trial is None:  # a record without its "created" (journal cut short at the start)
            trial = self.trials[trial_id] = Trial(trial_id=trial_id, config={})
        return trial

    def _attempt(self, trial: Trial, number: int) -> Attempt:
        """The attempt ``number`` of ``trial``, begun from the trial's state if it is new."""
        attempts = self.attempts.setdefault(trial.trial_id, [])
        for attempt in reversed(attempts):
            if attempt.attempt == number:
                return attempt
        attempt = Attempt(trial.trial_id, number, dict(trial.config), trial.budget)
        attempts.append(attempt)
        return attempt

    def _apply_trial(self, r: rec.TrialRecord) -> None:
        time = float(r.time)
        if isinstance(r, rec.Created):
            self.trials[r.trial_id] = Trial(
                trial_id=r.trial_id,
                config=dict(r.config),
                budget=r.budget,
                checkpoint_trial_id=r.checkpoint_trial_id,
                created_at=time,
            )
            self.last_event_time[r.trial_id] = time
            self._attempt(self.trials[r.trial_id], 0)
            return
        trial = self._trial(r.trial_id)
        self.last_event_time[trial.trial_id] = time
        trial.attempt = r.attempt
        if isinstance(r, rec.Resumed):
            trial.config = dict(r.config or trial.config)
            trial.budget, trial.checkpoint_trial_id = r.budget, r.checkpoint_trial_id
            trial.status = TrialStatus.PENDING
        attempt = self._attempt(trial, r.attempt)
        if isinstance(r, rec.Submitted):
            trial.status = TrialStatus.PENDING
            attempt.submitted_at = time if attempt.submitted_at is None else attempt.submitted_at
        elif isinstance(r, rec.Started):
            trial.status = TrialStatus.RUNNING
            trial.worker = attempt.worker = r.worker
            attempt.started_at = time
            if trial.started_at is None:
                trial.started_at = time
        elif isinstance(r, rec.Reported):
            self._on_report(trial, attempt, r)
        elif isinstance(r, rec.Decided):
            attempt.decision = r.decision
        elif isinstance(r, (rec.Completed, rec.Stopped, rec.Paused)):
            if isinstance(r, rec.Completed):
                trial.last_metrics.update(r.metrics)
                attempt.metrics = dict(r.metrics)
            trial.status = TrialStatus(OUTCOMES[type(r)])
            trial.verdict_timeouts += r.verdict_timeouts
            trial.worker = attempt.worker = r.worker or attempt.worker or trial.worker
            trial.ended_at = time
            self._end(attempt, r, time)
        elif isinstance(r, rec.Failed):
            trial.user_failures += 1
            trial.error = attempt.error = r.error
            self._end_or_retry(trial, attempt, r, time)
        elif isinstance(r, rec.Lost):
            if r.started:
                trial.infra_failures += 1
            attempt.error = r.reason
            if not r.retry:
                trial.error = f"lost its worker {trial.infra_failures} times (last: {r.reason})"
            self._end_or_retry(trial, attempt, r, time)
        elif isinstance(r, rec.Cancelled):
            trial.status = TrialStatus.CANCELLED
            self._end(attempt, r, time)

    def _on_report(self, trial: Trial, attempt: Attempt, r: rec.Reported) -> None:
        report = ReportRecord(trial.trial_id, r.attempt, float(r.time), float(r.step), r.metrics)
        self.reports.append(report)
        attempt.reports.append(report)
        trial.last_metrics = dict(r.metrics)
        trial.last_step = float(r.step)
        if trial.status is TrialStatus.PENDING:
            trial.status = TrialStatus.RUNNING

    @staticmethod
    def _end(attempt: Attempt, r: rec.TrialRecord, time: float) -> None:
        attempt.outcome = OUTCOMES[type(r)]
        attempt.ended_at = time

    def _end_or_retry(
        self, trial: Trial, attempt: Attempt, r: rec.Failed | rec.Lost, time: float
    ) -> None:
        self._end(attempt, r, time)
        attempt.retried = r.retry
        if r.retry:
            trial.attempt += 1  # the next "submitted" record carries the same number
            trial.status = TrialStatus.PENDING
            self._attempt(trial, trial.attempt)
        else:
            trial.status = TrialStatus.FAILED
            trial.ended_at = time

    # ------------------------------------------------------------------ reading it

    @property
    def metric(self) -> str | None:
        return None if self.info is None else self.info.metric

    def history(self, trial_id: int) -> list[Attempt]:
        """The attempts of trial ``trial_id``, in order (the last may not have begun)."""
        return list(self.attempts.get(trial_id, []))

    def ran(self) -> list[Attempt]:
        """Every attempt that started, in the order they started."""
        started = [
            a for attempts in self.attempts.values() for a in attempts if a.started_at is not None
        ]
        return sorted(started, key=lambda a: (a.started_at or 0.0, a.trial_id, a.attempt))

    def result(self, experiment_dir: Path | None = None, *, metric: str | None = None) -> Result:
        """A :class:`Result` of the trials so far (the search may still be running)."""
        info = self.info
        metric = metric or (info.metric if info is not None else None)
        if metric is None:
            raise ValueError("this view has no experiment settings naming the metric; pass metric=")
        return Result(
            trials_list=list(self.trials.values()),
            reports_list=list(self.reports),
            metric=metric,
            mode=info.mode if info is not None else "min",
            config_names=info.config_names if info is not None else [],
            experiment_dir=experiment_dir,
            stop_reason=self.stop_reason,
            interrupted=self.interrupted,
        )

    def best_trial(self) -> Trial | None:
        """The best trial so far, as :attr:`Result.best_trial` chooses it."""
        return self.result().best_trial

    def counts(self) -> dict[str, int]:
        """How many trials are in each status, in the order of :class:`TrialStatus`."""
        statuses = [t.status for t in self.trials.values()]
        return {s.value: statuses.count(s) for s in TrialStatus if statuses.count(s)}

    def recent(self, n: int) -> list[Trial]:
        """The ``n`` trials with the latest records, latest first."""
        ids = sorted(self.last_event_time, key=lambda i: (-self.last_event_time[i], -i))
        return [self.trials[i] for i in ids[:n]]
