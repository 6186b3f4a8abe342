"""Experiment files: parse and validate a YAML experiment, resolve its objective, run it.

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

Every key is checked, and the objective imported, before any cluster starts: a typo fails in a
second with the key, the value and the fix, not after a queue wait on a cluster. An objective
module that lives beside the file (and the helper modules it imports from there) is shipped to
the workers by value, so workers need not have that directory on their path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import difflib
import importlib
import importlib.machinery
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from daskhpo.api import check_resources, prepare_experiment_dir, tune
from daskhpo.dask.gpus import with_gpus
from daskhpo.dask.worker.shipping import ShippedObjective
from daskhpo.errors import ExperimentError as ExperimentError  # re-exported
from daskhpo.experiment.journal import JOURNAL_NAME
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.results import Result
from daskhpo.space import SearchSpace
from daskhpo.trial import check_mode
from daskhpo.tuner import TunerCallback

#: The copy of the experiment (overrides applied) kept in every experiment directory.
SAVED_SPEC = "experiment.yaml"
#: Where runs go when neither ``--dir`` nor ``experiment_dir`` says otherwise (under the cwd).
RUNS_DIR = "daskhpo-runs"

KNOWN_KEYS = (
    "objective",
    "space",
    "metric",
    "mode",
    "num_trials",
    "scheduler",
    "searcher",
    "cluster",
    "resources",
    "gpus_per_trial",
    "max_concurrent",
    "max_retries",
    "max_worker_losses",
    "seed",
    "time_budget",
    "target",
    "trial_walltime",
    "startup_timeout",
    "name",
    "experiment_dir",
)
REQUIRED_KEYS = ("objective", "space", "metric")

_OBJECTIVE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_BASE_DIR_LINE = "# base_dir: "

#: Top-level module name -> the experiment directory it was imported from (see _import_beside).
_imported_from: dict[str, Path] = {}


# --------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let the base class report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (first on line {first + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; errors name the file, the line and column, and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError(
            f"experiment file {str(path)!r} does not exist; check the path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"cannot read experiment file {str(path)!r}: {exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or "malformed YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise ExperimentError(
            f"{path}: invalid YAML{at}: {problem}{context}; fix the file there (YAML is "
            "indentation-sensitive: keys of one mapping line up, and a value after ':' "
            "needs a space)"
        ) from exc
    except yaml.YAMLError as exc:
        raise ExperimentError(f"{path}: invalid YAML: {exc}") from exc


# --------------------------------------------------------------------------- values


def _type(value: Any) -> str:
    return type(value).__name__


def _int(where: str, key: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ExperimentError(f"{where}{key} must be {what}, got {value!r} ({_type(value)})")
    return value


def _number(where: str, key: str, value: Any, *, positive: bool) -> float | None:
    """A finite number; numeric strings are accepted because YAML 1.1 reads ``1e3`` as one."""
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if number is None or not math.isfinite(number) or (positive and number <= 0):
        what = "a positive number" if positive else "a finite number"
        raise ExperimentError(f"{where}{key} must be {what}, got {value!r} ({_type(value)})")
    return number


def _check_cluster(where: str, value: Any) -> Any:
    from daskhpo.dask.clusters import (
        ClusterSpec,
    )  # imports distributed: only when there is a cluster

    try:
        spec = ClusterSpec.parse(value)
    except ValueError as exc:
        raise ExperimentError(f"{where}cluster: {exc}") from exc
    if spec.kind == "local":
        for option in ("n_workers", "threads_per_worker"):
            if option in spec.options:
                _int(where, f"cluster.local.{option}", spec.options[option], 1)
    return value


def _check_local_name(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "/" in value or "\\" in value:
        raise ExperimentError(
            f"{where}name must be a short non-empty string without slashes (it names the "
            f"experiment directory), got {value!r}"
        )
    return value


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment: everything ``tune`` needs, plus where the file was.

    Build it with :meth:`from_file` or :meth:`from_mapping`; both check every key without
    starting anything. :meth:`load_objective` imports the objective; :meth:`run` runs it.
    """

    objective: str  # "module:function"
    space: SearchSpace
    metric: str
    mode: str = "min"
    num_trials: int | None = None
    scheduler: Any = None  # a name or a one-key mapping (see daskhpo.registry)
    searcher: Any = None
    cluster: Any = None  # a description (see daskhpo.dask.clusters)
    resources: dict[str, float] | None = None
    gpus_per_trial: float | None = None  # sugar for resources: {GPU: n}
    max_concurrent: int | None = None
    max_retries: int = 0
    max_worker_losses: int = 3
    seed: int | None = None
    time_budget: float | None = None
    target: float | None = None
    trial_walltime: float | None = None  # expected seconds per trial (walltime awareness)
    startup_timeout: float | None = None  # give up waiting for workers after this long
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
                    f"{where}the required key {key!r} is missing; add e.g. "
                    + {
                        "objective": "'objective: train:objective' (module:function)",
                        "space": "'space: {lr: {loguniform: [1.0e-4, 1.0]}}'",
                        "metric": "'metric: loss' (the value the objective returns)",
                    }[key]
                )
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
        metric = data["metric"]
        if not isinstance(metric, str) or not metric.strip():
            raise ExperimentError(
                f"{where}metric must be a non-empty string naming the value to optimise, "
                f"got {metric!r}"
            )
        try:
            mode = check_mode(data.get("mode", "min"))
        except ValueError as exc:
            raise ExperimentError(f"{where}{exc}") from exc

        num_trials = _int(where, "num_trials", data.get("num_trials"), 1)
        time_budget = _number(where, "time_budget", data.get("time_budget"), positive=True)
        target = _number(where, "target", data.get("target"), positive=False)
        if num_trials is None and not space.grid_names and time_budget is None and target is None:
            raise ExperimentError(
                f"{where}num_trials is missing: say how many configurations to try (e.g. "
                "'num_trials: 100'), or give a time_budget, target or grid domains"
            )
        for key, build in (
            ("scheduler", lambda v: make_scheduler(v)),
            ("searcher", lambda v: make_searcher(v, space)),
        ):
            try:
                build(data.get(key))
            except (ValueError, TypeError) as exc:
                raise ExperimentError(f"{where}{key}: {exc}") from exc
        try:
            resources = check_resources(data.get("resources")) or None
        except ValueError as exc:
            raise ExperimentError(f"{where}resources: {exc}") from exc
        gpus_per_trial = _number(where, "gpus_per_trial", data.get("gpus_per_trial"), positive=True)
        try:
            with_gpus(resources or {}, gpus_per_trial)
        except ValueError as exc:
            raise ExperimentError(f"{where}{exc}") from exc
        experiment_dir = data.get("experiment_dir")
        if experiment_dir is not None:
            if not isinstance(experiment_dir, str) or not experiment_dir.strip():
                raise ExperimentError(
                    f"{where}experiment_dir must be a path (relative to the experiment file), "
                    f"got {experiment_dir!r}"
                )
            experiment_dir = (base / Path(experiment_dir).expanduser()).resolve()

        max_retries = _int(where, "max_retries", data.get("max_retries"), 0)
        max_worker_losses = _int(where, "max_worker_losses", data.get("max_worker_losses"), 0)
        if max_retries is None:
            max_retries = 0
        if max_worker_losses is None:
            max_worker_losses = 3

        return cls(
            objective=objective.strip(),
            space=space,
            metric=metric,
            mode=mode,
            num_trials=num_trials,
            scheduler=data.get("scheduler"),
            searcher=data.get("searcher"),
            cluster=_check_cluster(where, data.get("cluster")),
            resources=resources,
            gpus_per_trial=gpus_per_trial,
            max_concurrent=_int(where, "max_concurrent", data.get("max_concurrent"), 1),
            max_retries=max_retries,
            max_worker_losses=max_worker_losses,
            seed=_int(where, "seed", data.get("seed"), 0),
            time_budget=time_budget,
            target=target,
            trial_walltime=_number(
                where, "trial_walltime", data.get("trial_walltime"), positive=True
            ),
            startup_timeout=_number(
                where, "startup_timeout", data.get("startup_timeout"), positive=True
            ),
            name=_check_local_name(where, data.get("name")),
            experiment_dir=experiment_dir,
            base_dir=base,
            source=None if source is None else Path(source),
        )

    @property
    def _where(self) -> str:
        return f"{self.source}: " if self.source is not None else ""

    def to_mapping(self) -> dict[str, Any]:
        """The experiment as plain data (``from_mapping(spec.to_mapping())`` gives it back)."""
        data: dict[str, Any] = {
            "objective": self.objective,
            "space": self.space.to_dict(),
            "metric": self.metric,
            "mode": self.mode,
        }
        optional = {
            "num_trials": self.num_trials,
            "scheduler": self.scheduler,
            "searcher": self.searcher,
            "cluster": self.cluster,
            "resources": self.resources,
            "gpus_per_trial": self.gpus_per_trial,
            "max_concurrent": self.max_concurrent,
            "max_retries": self.max_retries or None,
            "max_worker_losses": None if self.max_worker_losses == 3 else self.max_worker_losses,
            "seed": self.seed,
            "time_budget": self.time_budget,
            "target": self.target,
            "trial_walltime": self.trial_walltime,
            "startup_timeout": self.startup_timeout,
            "name": self.name,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    def with_overrides(
        self, *, trials: int | None = None, workers: int | None = None
    ) -> ExperimentSpec:
        """The spec with ``--trials`` / ``--workers`` applied (validated like the file)."""
        spec = self
        where = "command line: "
        if trials is not None:
            spec = dataclasses.replace(spec, num_trials=_int(where, "--trials", trials, 1))
        if workers is not None:
            from daskhpo.dask.clusters import ClusterSpec

            n = _int(where, "--workers", workers, 1)
            current = ClusterSpec.parse(self.cluster)
            if current.kind != "local":
                raise ExperimentError(
                    f"--workers {workers} sets the size of a local cluster, but the experiment "
                    f"runs on a {current.kind!r} cluster ({self.cluster!r}); drop --workers, or "
                    "set 'cluster: {local: {n_workers: N}}' in the experiment file"
                )
            spec = dataclasses.replace(spec, cluster={"local": {**current.options, "n_workers": n}})
        return spec

    # ------------------------------------------------------------------ the objective

    def load_objective(self) -> Callable[[dict[str, Any]], Any]:
        """Import the objective, with the experiment file's directory first on ``sys.path``.

        Modules imported from that directory are then pickled by value, so that workers which
        do not have it on their path still run the objective.
        """
        module_name, _, attribute = self.objective.partition(":")
        module = _import_beside(module_name, self.base_dir, f"{self._where}objective ")
        value: Any = module
        for i, part in enumerate(attribute.split(".")):
            if not hasattr(value, part):
                owner = (
                    module_name if i == 0 else f"{module_name}:{'.'.join(attribute.split('.')[:i])}"
                )
                callables = _public_callables(value)
                close = difflib.get_close_matches(part, callables, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                listed = ", ".join(callables) if callables else "none"
                raise ExperimentError(
                    f"{self._where}objective {self.objective!r}: {owner} "
                    f"({getattr(module, '__file__', '?')}) has no attribute {part!r}; its "
                    f"public callables: {listed}.{hint} Fix the name after ':'"
                )
            value = getattr(value, part)
        if not callable(value):
            raise ExperimentError(
                f"{self._where}objective {self.objective!r} is not callable: it is "
                f"{value!r} ({_type(value)}); point it at a function taking the config dict"
            )
        ship_modules(self.base_dir)
        return value  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ running

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
        """Run the experiment; see :func:`run_experiment`."""
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


# --------------------------------------------------------------------------- importing


@contextlib.contextmanager
def _path_first(directory: Path) -> Iterator[None]:
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)  # the first occurrence: ours, unless the import added one


def _found_in(top: str, directory: Path) -> bool:
    try:
        return importlib.machinery.PathFinder.find_spec(top, [str(directory)]) is not None
    except (ImportError, ValueError):
        return False


#: Objectives rebuilt from their bytes in this process, by digest (see ShippedObjective).
def shippable(objective: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``objective`` wrapped in :class:`ShippedObjective` if its module is pickled by value
    (see :func:`ship_modules`), else unchanged."""
    import cloudpickle

    module = getattr(objective, "__module__", None) or ""
    registered = cloudpickle.list_registry_pickle_by_value()
    if any(module == name or module.startswith(name + ".") for name in registered):
        return ShippedObjective(objective)
    return objective


def _forget_other_experiments(base_dir: Path) -> None:
    """Drop modules imported earlier from another experiment's directory that this one also
    has (an ``objective.py`` or helper of the same name), so this directory's copy is used."""
    for top, directory in list(_imported_from.items()):
        if directory != base_dir and _found_in(top, base_dir):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
            del _imported_from[top]


def _remember(base_dir: Path) -> None:
    for name, module in list(sys.modules.items()):
        if "." not in name and module is not None and _root_dir(module) == base_dir:
            _imported_from[name] = base_dir


def _import_beside(module_name: str, base_dir: Path, what: str) -> ModuleType:
    """Import ``module_name`` preferring ``base_dir``; errors say what was searched."""
    top = module_name.partition(".")[0]
    _forget_other_experiments(base_dir)
    importlib.invalidate_caches()
    with _path_first(base_dir):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                raise ExperimentError(
                    f"{what}module {module_name!r} not found: looked beside the experiment "
                    f"file in {base_dir} and on the Python path. Put {top}.py (or a package "
                    f"{top}/) in {base_dir}, install the package that provides it, or fix the "
                    "module part before ':'"
                ) from exc
            raise ExperimentError(
                f"{what}module {module_name!r} was found but importing it failed: it imports "
                f"{missing!r}, which is not installed in this environment; install it (the "
                "workers need it too)"
            ) from exc
        except Exception as exc:
            raise ExperimentError(
                f"{what}module {module_name!r} raised {_type(exc)} while being imported: {exc}. "
                f"Fix the module; `cd {base_dir} && python -c 'import {module_name}'` shows "
                "the traceback"
            ) from exc
        finally:
            _remember(base_dir)
    return module


def _public_callables(obj: Any) -> list[str]:
    """Public callables defined in a module (or attributes of another object)."""
    names = []
    own = getattr(obj, "__name__", None) if isinstance(obj, ModuleType) else None
    for name, value in vars(obj).items() if hasattr(obj, "__dict__") else []:
        if name.startswith("_") or not callable(value):
            continue
        if own is not None and getattr(value, "__module__", own) != own:
            continue  # imported from elsewhere
        names.append(name)
    return sorted(names)


def _root_dir(module: ModuleType | None) -> Path | None:
    """The directory a top-level module was imported from (the sys.path entry)."""
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if file:
        path = Path(file).resolve()
        return path.parent.parent if path.name.startswith("__init__.") else path.parent
    for entry in getattr(module, "__path__", []):  # a namespace package
        return Path(entry).resolve().parent
    return None


def ship_modules(base_dir: Path) -> list[str]:
    """Register for pickling by value the modules workers could not import themselves.

    Those are the modules imported from ``base_dir`` as a path entry (the objective module
    beside the experiment file, its sibling helpers, packages in that directory) that
    ``sys.path`` itself does not provide (:func:`load_objective` puts ``base_dir`` on it only
    while importing). Installed packages (daskhpo among them) are left alone: workers import
    them, and they keep their worker-side state. Returns the names registered.
    """
    import cloudpickle

    base = base_dir.resolve()
    others = [p for p in sys.path if p]  # "" is the current directory: workers may differ
    shipped: dict[str, bool] = {}
    names = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top == "daskhpo" or module is None:
            continue
        if top not in shipped:
            shipped[top] = _root_dir(sys.modules.get(top)) == base and not _importable(top, others)
        if not shipped[top]:
            continue
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(base):
            cloudpickle.register_pickle_by_value(module)
            names.append(name)
    return sorted(names)


def _importable(top: str, path: list[str]) -> bool:
    try:
        return importlib.machinery.PathFinder.find_spec(top, path) is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- running


def _new_run_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``... if a run started in the same second."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = parent / (name if n == 1 else f"{name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ExperimentError(f"too many runs named {name!r} in {parent}; pass --dir")


def experiment_dir_for(spec: ExperimentSpec, override: str | Path | None = None) -> Path:
    """Create the directory a run writes to: ``override`` (relative to the current directory),
    else the spec's ``experiment_dir``, else ``daskhpo-runs/<name>-<time>``."""
    if override is not None:
        path = Path(override).expanduser().resolve()
    elif spec.experiment_dir is not None:
        path = spec.experiment_dir
    else:
        return _new_run_dir(Path.cwd() / RUNS_DIR, spec.default_dir_name())
    if (path / JOURNAL_NAME).exists():
        raise ExperimentError(
            f"{path} already holds a search (it has {JOURNAL_NAME}); choose a new directory "
            "with --dir, or omit it to get a fresh one under daskhpo-runs/"
        )
    try:
        return prepare_experiment_dir(path)
    except ValueError as exc:
        raise ExperimentError(str(exc)) from exc


def save_spec(spec: ExperimentSpec, experiment_dir: Path) -> Path:
    """Write the experiment as run to ``experiment_dir/experiment.yaml``."""
    header = [
        "# The experiment as run (command-line overrides applied).",
        f"# source: {spec.source if spec.source is not None else '(a mapping)'}",
        f"{_BASE_DIR_LINE}{spec.base_dir}",
    ]
    body = yaml.safe_dump(spec.to_mapping(), sort_keys=False, default_flow_style=None)
    path = experiment_dir / SAVED_SPEC
    path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    return path


def load_saved_spec(experiment_dir: str | Path) -> ExperimentSpec:
    """Read back ``experiment.yaml`` of a run, with objective modules looked up where the
    original experiment file was."""
    path = Path(experiment_dir).expanduser().resolve() / SAVED_SPEC
    base_dir: Path | None = None
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(_BASE_DIR_LINE):
                base_dir = Path(line[len(_BASE_DIR_LINE) :].strip())
                break
    return ExperimentSpec.from_file(path, base_dir=base_dir)


@dataclass(frozen=True)
class PreparedRun:
    """An experiment ready to start: overrides applied, objective imported, directory made."""

    spec: ExperimentSpec
    objective: Callable[[dict[str, Any]], Any]
    experiment_dir: Path

    def run(
        self,
        *,
        progress: bool | None = None,
        client: Any = None,
        callbacks: Sequence[TunerCallback] = (),
        resume: bool = False,
    ) -> Result:
        """Run the search with ``daskhpo.tune`` (on ``client`` if given, else the spec's
        cluster); results land in :attr:`experiment_dir`. ``resume=True`` continues the
        search already journaled there (see :func:`prepare_resume`)."""
        spec = self.spec
        return tune(
            self.objective,
            spec.space,
            metric=spec.metric,
            mode=spec.mode,
            num_trials=spec.num_trials,
            scheduler=spec.scheduler,
            searcher=spec.searcher,
            client=client,
            cluster=None if client is not None else spec.cluster,
            resources=spec.resources,
            gpus_per_trial=spec.gpus_per_trial,
            max_concurrent=spec.max_concurrent,
            max_retries=spec.max_retries,
            max_worker_losses=spec.max_worker_losses,
            experiment_dir=self.experiment_dir,
            seed=spec.seed,
            time_budget=spec.time_budget,
            target=spec.target,
            trial_walltime=spec.trial_walltime,
            startup_timeout=spec.startup_timeout,
            progress=progress,
            callbacks=callbacks,
            resume=resume,
        )


def prepare_run(
    spec: ExperimentSpec,
    *,
    trials: int | None = None,
    workers: int | None = None,
    experiment_dir: str | Path | None = None,
) -> PreparedRun:
    """Apply overrides, import the objective, create the directory and save the spec there.

    Nothing here starts a cluster, so every mistake in the experiment surfaces first.
    """
    spec = spec.with_overrides(trials=trials, workers=workers)
    objective = shippable(spec.load_objective())
    run_dir = experiment_dir_for(spec, experiment_dir)
    save_spec(spec, run_dir)
    return PreparedRun(spec, objective, run_dir)


def prepare_resume(experiment_dir: str | Path) -> PreparedRun:
    """Get a run directory's search ready to continue: its saved experiment is read back
    and its objective imported from where the original experiment file was. Run it with
    ``.run(resume=True)``."""
    run_dir = Path(experiment_dir).expanduser().resolve()
    if not (run_dir / SAVED_SPEC).is_file():
        raise ExperimentError(
            f"{run_dir} has no {SAVED_SPEC}: it was not started from an experiment file; "
            "resume it from Python with daskhpo.tune(..., experiment_dir=..., resume=True)"
        )
    spec = load_saved_spec(run_dir)
    return PreparedRun(spec, shippable(spec.load_objective()), run_dir)


def run_experiment(
    spec: ExperimentSpec,
    *,
    trials: int | None = None,
    workers: int | None = None,
    experiment_dir: str | Path | None = None,
    progress: bool | None = None,
    client: Any = None,
    callbacks: Sequence[TunerCallback] = (),
) -> Result:
    """Run an experiment with ``daskhpo.tune`` and return its :class:`~daskhpo.Result`.

    ``trials`` overrides ``num_trials``; ``workers`` sets the size of a local cluster;
    ``client`` runs on an existing Dask client instead of the spec's cluster. The experiment
    directory is ``experiment_dir``, else the spec's, else ``daskhpo-runs/<name>-<time>``.
    """
    if client is not None and workers is not None:
        raise ExperimentError(
            f"workers={workers} sizes a cluster daskhpo starts; it does not apply to client=..."
        )
    prepared = prepare_run(spec, trials=trials, workers=workers, experiment_dir=experiment_dir)
    return prepared.run(progress=progress, client=client, callbacks=callbacks)
