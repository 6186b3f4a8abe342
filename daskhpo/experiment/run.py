"""Running an experiment file: overrides, its directory, the saved copy, and resuming it.

:func:`prepare_run` does everything that can fail without a cluster (overrides, importing the
objective, making the directory, saving the experiment there as run); :meth:`PreparedRun.run`
then searches through :func:`daskhpo.api.run_search`, the same path ``daskhpo.tune`` takes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from daskhpo.api import run_search
from daskhpo.errors import ExperimentError
from daskhpo.experiment.directory import JOURNAL, ExperimentDir
from daskhpo.experiment.imports import shippable
from daskhpo.experiment.spec import ExperimentSpec

if TYPE_CHECKING:
    from daskhpo.results import Result
    from daskhpo.tuner import TunerCallback

#: Where runs go when neither ``--dir`` nor ``experiment_dir`` says otherwise (under the cwd).
RUNS_DIR = "daskhpo-runs"
_BASE_DIR_LINE = "# base_dir: "


def experiment_dir_for(spec: ExperimentSpec, override: str | Path | None = None) -> ExperimentDir:
    """Create the directory a run writes to: ``override`` (relative to the current directory),
    else the spec's ``experiment_dir``, else ``daskhpo-runs/<name>-<time>``."""
    if override is not None:
        path = Path(override).expanduser().resolve()
    elif spec.experiment_dir is not None:
        path = spec.experiment_dir
    else:
        return ExperimentDir.create_unique(Path.cwd() / RUNS_DIR, spec.default_dir_name())
    if ExperimentDir(path).holds_experiment():
        raise ExperimentError(
            f"{path} already holds a search (it has {JOURNAL}); choose a new directory "
            "with --dir, or omit it to get a fresh one under daskhpo-runs/"
        )
    return ExperimentDir.create(path)


def save_spec(spec: ExperimentSpec, directory: ExperimentDir) -> Path:
    """Write the experiment as run into ``directory`` (for ``daskhpo resume``)."""
    header = [
        "# The experiment as run (command-line overrides applied).",
        f"# source: {spec.source if spec.source is not None else '(a mapping)'}",
        f"{_BASE_DIR_LINE}{spec.base_dir}",
    ]
    body = yaml.safe_dump(spec.to_mapping(), sort_keys=False, default_flow_style=None)
    path = directory.spec_path
    path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    return path


def load_saved_spec(experiment_dir: str | Path) -> ExperimentSpec:
    """Read back the experiment a run saved, with objective modules looked up where the
    original experiment file was."""
    path = ExperimentDir(Path(experiment_dir).expanduser().resolve()).spec_path
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
    directory: ExperimentDir

    @property
    def experiment_dir(self) -> Path:
        return self.directory.path

    def run(
        self,
        *,
        progress: bool | None = None,
        client: Any = None,
        callbacks: Sequence[TunerCallback] = (),
        resume: bool = False,
    ) -> Result:
        """Run the search (on ``client`` if given, else the spec's cluster); results land in
        :attr:`experiment_dir`. ``resume=True`` continues the search already journaled there
        (see :func:`prepare_resume`)."""
        return run_search(
            self.objective,
            self.spec.space,
            self.spec.settings,
            self.directory,
            client=client,
            cluster=None if client is not None else self.spec.cluster,
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
    directory = experiment_dir_for(spec, experiment_dir)
    save_spec(spec, directory)
    return PreparedRun(spec, objective, directory)


def prepare_resume(experiment_dir: str | Path) -> PreparedRun:
    """Get a run directory's search ready to continue: its saved experiment is read back
    and its objective imported from where the original experiment file was. Run it with
    ``.run(resume=True)``."""
    directory = ExperimentDir.existing(experiment_dir)
    if not directory.spec_path.is_file():
        raise ExperimentError(
            f"{directory.path} has no {directory.spec_path.name}: it was not started from an "
            "experiment file; resume it from Python with daskhpo.tune(..., experiment_dir=..., "
            "resume=True)"
        )
    spec = load_saved_spec(directory.path)
    return PreparedRun(spec, shippable(spec.load_objective()), directory)


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
    """Run an experiment and return its :class:`~daskhpo.Result`.

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
