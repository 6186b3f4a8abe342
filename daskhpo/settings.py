"""How a search runs, validated once: ``TuneSettings``.

``daskhpo.tune``, experiment files, the Tuner, the simulator's runner and the planner all take
one ``TuneSettings``; each setting is checked here and nowhere else, with a message that names
the bad value. The search space and the objective are not settings: they say *what* is searched.
A new setting is one field and one check in this module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daskhpo.errors import SettingsError

#: Settings whose value is a whole number of at least one.
_POSITIVE_INTS = ("num_trials", "max_concurrent")
#: Settings whose value is a whole number of at least zero.
_NON_NEGATIVE_INTS = ("max_retries", "max_worker_losses", "queue_depth")
#: The values of ``journal_fsync`` (see :mod:`daskhpo.experiment.journal`).
JOURNAL_FSYNC = ("off", "step", "record")
#: Settings whose value is a positive, finite number of seconds.
_SECONDS = ("time_budget", "trial_walltime", "trial_timeout", "startup_timeout")


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_resources(resources: Mapping[str, Any] | None) -> dict[str, float]:
    """Validate per-trial resources such as ``{"GPU": 1}``; returns them as floats."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise SettingsError(f"resources must be a mapping like {{'GPU': 1}}, got {resources!r}")
    clean: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise SettingsError(f"resource names must be non-empty strings, got {name!r}")
        if not _is_number(amount) or not (math.isfinite(amount) and amount > 0):
            raise SettingsError(
                f"resource {name!r} must be a positive number of units, got {amount!r}"
            )
        clean[name] = float(amount)
    return clean


@dataclass(frozen=True)
class TuneSettings:
    """Everything that says how a search runs (not what it searches).

    ``scheduler`` and ``searcher`` are descriptions (a name, a one-key mapping, or an
    instance; see :mod:`daskhpo.registry`). ``resources`` are per-trial Dask resources, e.g.
    ``{"GPU": 1}``; ``gpus_per_trial`` is sugar for the ``GPU`` resource and is folded into
    ``resources`` on construction. ``verdict_timeout``: seconds a report at one of the
    scheduler's milestones (a rung) waits for its decision, so a stopped trial computes no
    step past its rung (0: never wait). Construction validates every field; use :meth:`replace` to
    change some (it validates again).
    """

    metric: str
    mode: str = "min"
    num_trials: int | None = None
    scheduler: Any = None
    searcher: Any = None
    resources: Mapping[str, float] = field(default_factory=dict)
    gpus_per_trial: float | None = None
    max_concurrent: int | None = None
    max_retries: int = 0
    max_worker_losses: int = 3
    seed: int | None = None
    time_budget: float | None = None
    target: float | None = None
    trial_walltime: float | None = None
    trial_timeout: float | None = None  # seconds an attempt may run (``tuner.timeouts``)
    startup_timeout: float | None = None
    queue_depth: int | None = None
    journal_fsync: str = "off"
    verdict_timeout: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise SettingsError(
                f"metric must be a non-empty string naming the result, got {self.metric!r}"
            )
        if self.mode not in ("min", "max"):
            raise SettingsError(f"mode must be 'min' or 'max', got {self.mode!r}")
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise SettingsError(f"{name} must be a positive integer, got {value!r}")
        for name in _NON_NEGATIVE_INTS:
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise SettingsError(f"{name} must be an integer >= 0, got {value!r}")
        for name in _SECONDS:
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and math.isfinite(value) and value > 0):
                raise SettingsError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.target is not None and not (_is_number(self.target) and math.isfinite(self.target)):
            raise SettingsError(f"target must be a finite number, got {self.target!r}")
        if not (
            _is_number(self.verdict_timeout)
            and math.isfinite(self.verdict_timeout)
            and self.verdict_timeout >= 0
        ):
            raise SettingsError(
                f"verdict_timeout must be a number of seconds >= 0 (how long a report at a "
                f"rung waits for the scheduler's decision; 0: never wait), got "
                f"{self.verdict_timeout!r}"
            )
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise SettingsError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.journal_fsync not in JOURNAL_FSYNC:
            raise SettingsError(
                f"journal_fsync must be one of {', '.join(map(repr, JOURNAL_FSYNC))} (when the "
                f"journal reaches the disk), got {self.journal_fsync!r}"
            )
        object.__setattr__(self, "resources", self._merged_resources())

    def _merged_resources(self) -> dict[str, float]:
        from daskhpo.dask.gpus import with_gpus  # pure: GPU request checks, no Dask import

        try:
            return with_gpus(check_resources(self.resources), self.gpus_per_trial)
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc

    def replace(self, **changes: Any) -> TuneSettings:
        """A copy with ``changes`` applied, validated again."""
        return dataclasses.replace(self, **changes)

    def num_trials_for(self, grid_size: int | None) -> int | None:
        """How many new trials the search creates: ``num_trials``, else the grid's size;
        raises when neither is known and nothing else ends the search."""
        if self.num_trials is not None:
            return self.num_trials
        if grid_size:
            return grid_size
        if self.time_budget is None and self.target is None:
            raise SettingsError(
                "num_trials is required (how many configurations to try), unless the space "
                "has grid domains or a time_budget is given"
            )
        return None

    def to_mapping(self) -> dict[str, Any]:
        """The settings as plain values (for ``experiment.json`` and experiment files);
        ``scheduler`` and ``searcher`` are kept only when they are descriptions, not objects."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("scheduler", "searcher") and not (
                value is None or isinstance(value, (str, Mapping))
            ):
                continue
            out[f.name] = dict(value) if f.name == "resources" else value
        out.pop("gpus_per_trial")  # already folded into resources
        return out


#: The names of every setting, for callers that accept them as keywords.
SETTING_NAMES = tuple(f.name for f in dataclasses.fields(TuneSettings))
