"""An experiment directory: the one place that knows its file names, creates it, and keeps
the settings it was started with.

::

    <experiment dir>/
      experiment.json      the settings, space and seed the search was created with
      experiment.yaml      the experiment file as run (searches started from one)
      journal.jsonl        every fact the driver learned, one record a line
      trials.csv           one row per trial, written when the driver ends
      reports.csv          one row per intermediate report, likewise
      trials/trial_NNNNN/  each trial's checkpoint directory, the same for every attempt
      driver.lock          who runs the search now (host, pid), while a driver runs

A new experiment is never created where one already is (that takes resuming), and a search
whose cluster never answers leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhpo.errors import ExperimentError, NotResumableError

if TYPE_CHECKING:
    from daskhpo.experiment.lock import DriverLock
    from daskhpo.results import Result
    from daskhpo.settings import TuneSettings
    from daskhpo.space import SearchSpace

#: The settings, space and seed an experiment was created with.
EXPERIMENT_JSON = "experiment.json"
#: The experiment file as run, for ``daskhpo resume``.
EXPERIMENT_YAML = "experiment.yaml"
#: The journal (see :mod:`daskhpo.records`).
JOURNAL = "journal.jsonl"
#: The trials table, written when the driver ends.
TRIALS_CSV = "trials.csv"
#: The intermediate reports, written when the driver ends.
REPORTS_CSV = "reports.csv"
#: The folder of the trials' checkpoint directories.
TRIALS_DIR = "trials"
#: Held by the driver running the search (see :mod:`daskhpo.experiment.lock`).
DRIVER_LOCK = "driver.lock"


def trial_dir_name(trial_id: int) -> str:
    """The name of trial ``trial_id``'s checkpoint directory under :data:`TRIALS_DIR`."""
    return f"trial_{trial_id:05d}"


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


@dataclass(frozen=True)
class ExperimentDir:
    """The files of one experiment directory (nothing is read or written on construction)."""

    path: Path
    #: Directories :meth:`create` made, deepest first (what :meth:`discard` may remove).
    made: tuple[Path, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ file names

    @property
    def info_path(self) -> Path:
        return self.path / EXPERIMENT_JSON

    @property
    def spec_path(self) -> Path:
        return self.path / EXPERIMENT_YAML

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL

    @property
    def trials_csv(self) -> Path:
        return self.path / TRIALS_CSV

    @property
    def reports_csv(self) -> Path:
        return self.path / REPORTS_CSV

    @property
    def trials_root(self) -> Path:
        return self.path / TRIALS_DIR

    @property
    def lock_path(self) -> Path:
        return self.path / DRIVER_LOCK

    def lock(self) -> DriverLock:
        """The lock a driver takes before it opens the journal (one driver at a time)."""
        from daskhpo.experiment.lock import DriverLock

        return DriverLock(self.lock_path)

    def trial_dir(self, trial_id: int) -> Path:
        """Where trial ``trial_id`` keeps its checkpoints."""
        return self.trials_root / trial_dir_name(trial_id)

    # ------------------------------------------------------------------ what it holds

    def holds_experiment(self) -> bool:
        """Whether a search was started here (it has a journal)."""
        return self.journal_path.exists()

    def is_experiment(self) -> bool:
        """Whether this is an experiment directory at all (its settings and journal exist)."""
        return self.info_path.is_file() and self.journal_path.is_file()

    # ------------------------------------------------------------------ creating

    @classmethod
    def create(cls, path: str | Path | None) -> ExperimentDir:
        """A directory for a new experiment: ``path`` (made if missing), or a temporary one.

        Raises :class:`ExperimentError` if it is not writable or already holds an experiment.
        """
        if path is None:
            temporary = Path(tempfile.mkdtemp(prefix="daskhpo-"))
            return cls(temporary, made=(temporary,))
        return cls._make(_resolved(path), exclusive=False)

    @classmethod
    def create_unique(cls, parent: Path, name: str) -> ExperimentDir:
        """A new directory ``parent/name``, or ``name-2``, ``name-3``... if that exists (two
        runs started in the same second)."""
        for n in range(1, 1000):
            try:
                return cls._make(_resolved(parent) / (name if n == 1 else f"{name}-{n}"), True)
            except FileExistsError:
                continue
        raise ExperimentError(f"too many runs named {name!r} in {parent}; pass --dir")

    @classmethod
    def _make(cls, where: Path, exclusive: bool) -> ExperimentDir:
        """Make ``where`` and check that it is writable; FileExistsError if ``exclusive`` and
        it exists."""
        made = tuple(p for p in (where, *where.parents) if not p.exists())  # deepest first
        directory = cls(where, made=made)
        if directory.holds_experiment():
            raise ExperimentError(
                f"{str(where)!r} already holds an experiment (it has {JOURNAL}); continue it "
                "with resume=True (daskhpo resume DIR) or choose a new experiment directory"
            )
        try:
            where.mkdir(parents=True, exist_ok=not exclusive)
            probe = where / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            if exclusive and isinstance(exc, FileExistsError) and where.is_dir():
                raise
            directory.discard()
            raise ExperimentError(
                f"experiment directory {str(where)!r} is not writable ({exc.strerror}); "
                "choose another with experiment_dir=... (or --dir)"
            ) from exc
        return directory

    @classmethod
    def existing(cls, path: str | Path) -> ExperimentDir:
        """An experiment directory a search wrote; :class:`NotResumableError` if it is not."""
        directory = cls(_resolved(path))
        if not directory.is_experiment():
            if not directory.path.exists():
                what = "it does not exist"
            elif not directory.path.is_dir():
                what = "it is a file"
            else:
                what = f"it has no {EXPERIMENT_JSON} and {JOURNAL}"
            raise NotResumableError(
                f"{str(directory.path)!r} is not a daskhpo experiment directory ({what}); "
                "pass the directory a search wrote (`daskhpo run` prints it)"
            )
        return directory

    def discard(self) -> None:
        """Remove what :meth:`create` made, unless a search began here (its journal exists):
        a search whose cluster never answered leaves no directory behind."""
        if not self.path.is_dir() or self.journal_path.exists():
            return
        for name in (EXPERIMENT_JSON, EXPERIMENT_YAML):
            (self.path / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.trials_root.rmdir()  # the backend may have made it (empty: nothing ran)
        for directory in self.made:
            try:
                directory.rmdir()  # only if empty: nothing else was put there
            except OSError:
                break

    # ------------------------------------------------------------------ experiment.json

    def write_info(self, settings: TuneSettings, space: SearchSpace) -> None:
        """Write ``experiment.json``: the settings (seed resolved) and the space."""
        from daskhpo import __version__

        data = {**settings.to_mapping(), "space": space.to_dict(), "writer": __version__}
        self.info_path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")

    def read_info(self) -> dict[str, Any]:
        """``experiment.json`` as written; :class:`ExperimentError` says what is wrong."""
        path = self.info_path
        if not path.is_file():
            raise ExperimentError(
                f"{str(self.path)!r} is not an experiment directory: it has no "
                f"{EXPERIMENT_JSON}; pass the directory `daskhpo run` printed (it holds "
                f"{JOURNAL} and {TRIALS_CSV})"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ExperimentError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("metric"), str):
            raise ExperimentError(f"{path} does not name a metric; it was not written by daskhpo")
        return data

    def check_resumable(self, settings: TuneSettings, space: SearchSpace) -> int:
        """Refuse to continue a search under other rules; returns the seed to continue with.

        Raises :class:`NotResumableError` naming each thing that changed.
        """
        saved = self.read_info()
        problems = _changes(saved, settings, space)
        if problems:
            raise NotResumableError(
                "cannot resume: " + "; ".join(problems) + ". Resume with the original "
                "settings, or start a new experiment directory."
            )
        return int(saved.get("seed", 0))

    # ------------------------------------------------------------------ results

    def write_results(self, result: Result) -> None:
        """``trials.csv`` and ``reports.csv`` beside the journal, for scripts and checks."""
        result.to_csv(self.trials_csv)
        result.reports_to_csv(self.reports_csv)


def _changes(saved: Mapping[str, Any], settings: TuneSettings, space: SearchSpace) -> list[str]:
    problems = []
    for name in ("metric", "mode"):
        if saved.get(name) != getattr(settings, name):
            problems.append(f"{name} {saved.get(name)!r} -> {getattr(settings, name)!r}")
    if json.loads(json.dumps(space.to_dict(), default=str)) != saved.get("space"):
        problems.append("the search space changed")
    saved_seed = int(saved.get("seed", 0))
    if settings.seed is not None and settings.seed != saved_seed:
        problems.append(f"seed {saved_seed} -> {settings.seed}")
    return problems
