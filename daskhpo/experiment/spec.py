"""Experiment files: an :class:`ExperimentSpec` is a validated experiment.

An experiment file names everything ``daskhpo.tune`` needs::

    objective: quadratic:objective      # module:function; the module may sit beside this file
    space:
      lr: {loguniform: [1.0e-4, 1.0]}
      layers: {randint: [1, 8]}
    metric: loss
    mode: min
    num_trials: 200
    seed: 0
    cluster: {local: {n_workers: 2}}

Its search settings (``metric``, ``num_trials``, ...) are checked by
:class:`~daskhpo.settings.TuneSettings`, as ``tune``'s keywords are; the rest (objective,
space, cluster, name, experiment_dir) here. Every key is checked, and the objective imported,
before any cluster starts: a typo fails in a second with the file, the key, the value and the
fix, not after a queue wait on a cluster. Running one is :mod:`daskhpo.experiment.run`.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhpo.errors import ExperimentError as ExperimentError  # re-exported
from daskhpo.errors import SettingsError
from daskhpo.experiment.imports import load_objective
from daskhpo.experiment.yamlfile import load_yaml
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.settings import SETTING_NAMES, TuneSettings
from daskhpo.space import SearchSpace

if TYPE_CHECKING:
    from daskhpo.results import Result
    from daskhpo.tuner import TunerCallback

#: Keys that are not search settings: what is searched, where, and on what.
OTHER_KEYS = ("objective", "space", "cluster", "name", "experiment_dir")
KNOWN_KEYS = (*OTHER_KEYS[:2], *SETTING_NAMES, *OTHER_KEYS[2:])
REQUIRED_KEYS = ("objective", "space", "metric")
_EXAMPLES = {
    "objective": "'objective: train:objective' (module:function)",
    "space": "'space: {lr: {loguniform: [1.0e-4, 1.0]}}'",
    "metric": "'metric: loss' (the value the objective returns)",
}

_OBJECTIVE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
#: Settings that hold a number: YAML 1.1 reads ``1e3`` as a string, so those are converted.
_NUMBERS = tuple(
    name
    for name, hint in typing.get_type_hints(TuneSettings).items()
    if hint in (float, float | None)
)


def _type(value: Any) -> str:
    return type(value).__name__


def _yaml_number(value: Any) -> Any:
    """``"1e3"`` as 1000.0 (YAML 1.1 has no exponent without a dot); anything else as is."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _settings(data: Mapping[str, Any], where: str) -> TuneSettings:
    """The file's search settings, checked by TuneSettings; the message gains the file and,
    for one bad key, its name and the value's type."""
    values = {k: data[k] for k in SETTING_NAMES if data.get(k) is not None}
    values.update({k: _yaml_number(values[k]) for k in _NUMBERS if k in values})
    try:
        return TuneSettings(**values)
    except SettingsError as exc:
        for key, value in values.items():
            try:
                TuneSettings(**{"metric": "m", key: value})
            except SettingsError as alone:
                named = str(alone).startswith(key)
                raise ExperimentError(
                    f"{where}{alone} ({_type(value)})" if named else f"{where}{key}: {alone}"
                ) from exc
        raise ExperimentError(f"{where}{exc}") from exc


def _check_cluster(where: str, value: Any) -> Any:
    from daskhpo.dask.clusters.spec import ClusterSpec

    try:
        spec = ClusterSpec.parse(value)
    except ValueError as exc:
        raise ExperimentError(f"{where}cluster: {exc}") from exc
    if spec.kind == "local":
        for option in ("n_workers", "threads_per_worker"):
            if option in spec.options:
                _positive_int(where, f"cluster.local.{option}", spec.options[option])
    return value


def _positive_int(where: str, key: str, value: Any) -> int:
    """A cluster option or command-line count (not a search setting)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExperimentError(
            f"{where}{key} must be a positive integer, got {value!r} ({_type(value)})"
        )
    return value


def _check_name(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "/" in value or "\\" in value:
        raise ExperimentError(
            f"{where}name must be a short non-empty string without slashes (it names the "
            f"experiment directory), got {value!r}"
        )
    return value


def _check_keys(data: Any, where: str) -> Mapping[str, Any]:
    if data is None:
        raise ExperimentError(
            f"{where}the experiment is empty; it needs at least "
            f"{', '.join(REQUIRED_KEYS)} (see daskhpo/examples/quadratic.yaml)"
        )
    if not isinstance(data, Mapping):
        raise ExperimentError(
            f"{where}an experiment must be a mapping of keys ({', '.join(KNOWN_KEYS)}), "
            f"got {data!r} ({_type(data)})"
        )
    for key in data:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExperimentError(
                f"{where}unknown key {key!r}{hint} Known keys: {', '.join(KNOWN_KEYS)}"
            )
    for key in REQUIRED_KEYS:
        if data.get(key) is None:
            raise ExperimentError(
                f"{where}the required key {key!r} is missing; add e.g. {_EXAMPLES[key]}"
            )
    return data


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment: its search settings, what is searched, and where it came from.

    Build it with :meth:`from_file` or :meth:`from_mapping`; both check every key without
    starting anything. :meth:`load_objective` imports the objective; :meth:`run` runs it.
    """

    objective: str  # "module:function"
    space: SearchSpace
    settings: TuneSettings
    cluster: Any = None  # a description (see daskhpo.dask.clusters)
    name: str | None = None
    experiment_dir: Path | None = None  # absolute; relative paths are read from base_dir
    base_dir: Path = Path()  # the experiment file's directory: objective modules live here
    source: Path | None = None  # the experiment file, if it came from one

    # ------------------------------------------------------------------ parsing

    @classmethod
    def from_file(cls, path: str | Path, *, base_dir: str | Path | None = None) -> ExperimentSpec:
        """Read and validate an experiment file (objective modules are looked up beside it,
        or in ``base_dir``)."""
        path = Path(path).expanduser().resolve()
        data = load_yaml(path)
        return cls.from_mapping(
            data, base_dir=path.parent if base_dir is None else base_dir, source=path
        )

    @classmethod
    def from_mapping(
        cls, data: Any, base_dir: str | Path = ".", *, source: str | Path | None = None
    ) -> ExperimentSpec:
        """Validate an experiment given as a plain mapping (the parsed YAML)."""
        where = f"{source}: " if source is not None else ""
        data = _check_keys(data, where)
        base = Path(base_dir).expanduser().resolve()
        objective = data["objective"]
        if not isinstance(objective, str) or not _OBJECTIVE.match(objective.strip()):
            raise ExperimentError(
                f"{where}objective must be 'module:function', e.g. 'train:objective' for "
                f"a function objective in train.py beside the experiment file; got {objective!r}"
            )
        try:
            space = SearchSpace.from_dict(data["space"])
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"{where}space: {exc}") from exc
        settings = _settings(data, where)
        try:
            settings.num_trials_for(space.grid_size if space.grid_names else None)
        except SettingsError as exc:
            raise ExperimentError(
                f"{where}num_trials is missing: say how many configurations to try (e.g. "
                "'num_trials: 100'), or give a time_budget, target or grid domains"
            ) from exc
        for key, build in (
            ("scheduler", lambda v: make_scheduler(v, space)),
            ("searcher", lambda v: make_searcher(v, space)),
        ):
            try:
                build(data.get(key))
            except (ValueError, TypeError) as exc:
                raise ExperimentError(f"{where}{key}: {exc}") from exc
        experiment_dir = data.get("experiment_dir")
        if experiment_dir is not None:
            if not isinstance(experiment_dir, str) or not experiment_dir.strip():
                raise ExperimentError(
                    f"{where}experiment_dir must be a path (relative to the experiment file), "
                    f"got {experiment_dir!r}"
                )
            experiment_dir = (base / Path(experiment_dir).expanduser()).resolve()
        return cls(
            objective=objective.strip(),
            space=space,
            settings=settings,
            cluster=_check_cluster(where, data.get("cluster")),
            name=_check_name(where, data.get("name")),
            experiment_dir=experiment_dir,
            base_dir=base,
            source=None if source is None else Path(source),
        )

    @property
    def _where(self) -> str:
        return f"{self.source}: " if self.source is not None else ""

    def to_mapping(self) -> dict[str, Any]:
        """The experiment as plain data (``from_mapping(spec.to_mapping())`` gives it back);
        settings left at their defaults are left out."""
        defaults = TuneSettings(metric=self.settings.metric).to_mapping()
        data: dict[str, Any] = {"objective": self.objective, "space": self.space.to_dict()}
        for key, value in self.settings.to_mapping().items():
            if key in ("metric", "mode") or (value != defaults[key] and value is not None):
                data[key] = value
        for key, value in (("cluster", self.cluster), ("name", self.name)):
            if value is not None:
                data[key] = value
        return data

    def with_overrides(
        self, *, trials: int | None = None, workers: int | None = None
    ) -> ExperimentSpec:
        """The spec with ``--trials`` / ``--workers`` applied (validated like the file)."""
        spec = self
        if trials is not None:
            try:
                settings = self.settings.replace(num_trials=trials)
            except SettingsError as exc:
                message = str(exc).replace("num_trials", "--trials", 1)
                raise ExperimentError(f"command line: {message} ({_type(trials)})") from exc
            spec = dataclasses.replace(spec, settings=settings)
        if workers is not None:
            from daskhpo.dask.clusters.spec import ClusterSpec

            n = _positive_int("command line: ", "--workers", workers)
            current = ClusterSpec.parse(self.cluster)
            if current.kind != "local":
                raise ExperimentError(
                    f"--workers {workers} sets the size of a local cluster, but the experiment "
                    f"runs on a {current.kind!r} cluster ({self.cluster!r}); drop --workers, or "
                    "set 'cluster: {local: {n_workers: N}}' in the experiment file"
                )
            spec = dataclasses.replace(spec, cluster={"local": {**current.options, "n_workers": n}})
        return spec

    # ------------------------------------------------------------------ using it

    def load_objective(self) -> Callable[[dict[str, Any]], Any]:
        """Import the objective, with the experiment file's directory first on ``sys.path``
        (see :func:`daskhpo.experiment.imports.load_objective`)."""
        return load_objective(self.objective, self.base_dir, self._where)

    def run(
        self,
        *,
        trials: int | None = None,
        workers: int | None = None,
        experiment_dir: str | Path | None = None,
        progress: bool | None = None,
        client: Any = None,
        callbacks: Sequence[TunerCallback] = (),
    ) -> Result:
        """Run the experiment; see :func:`daskhpo.experiment.run.run_experiment`."""
        from daskhpo.experiment.run import run_experiment

        return run_experiment(
            self,
            trials=trials,
            workers=workers,
            experiment_dir=experiment_dir,
            progress=progress,
            client=client,
            callbacks=callbacks,
        )

    def default_dir_name(self) -> str:
        """``<name or file stem>-<YYYYmmdd-HHMMSS>`` (the local time now)."""
        stem = self.name or (self.source.stem if self.source is not None else "experiment")
        stem = re.sub(r"[^\w.-]+", "-", stem).strip("-") or "experiment"
        return f"{stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
