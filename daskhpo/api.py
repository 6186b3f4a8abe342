"""``daskhpo.tune``: validate everything, start or join a cluster, run the Tuner, return results.

:func:`tune` is the Python API; :func:`run_search` is what it and experiment files share: one
:class:`~daskhpo.settings.TuneSettings`, a search space, an experiment directory, a cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daskhpo import records as rec
from daskhpo.dask.worker.shipping import ship
from daskhpo.errors import JournalError, SettingsError
from daskhpo.experiment.directory import ExperimentDir
from daskhpo.experiment.journal import Journal, read_records
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.results import Result
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace, as_space
from daskhpo.tuner import Tuner, TunerCallback

if TYPE_CHECKING:
    from daskhpo.backend import Backend
    from daskhpo.schedulers.base import Scheduler
    from daskhpo.searchers.base import Searcher


def tune(
    objective: Callable[[dict[str, Any]], Any],
    space: SearchSpace | Mapping[str, Any],
    *,
    metric: str,
    mode: str = "min",
    num_trials: int | None = None,
    scheduler: Any = None,
    searcher: Any = None,
    client: Any = None,
    cluster: Any = None,
    resources: Mapping[str, float] | None = None,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
    max_retries: int = 0,
    max_worker_losses: int = 3,
    experiment_dir: str | Path | None = None,
    seed: int | None = None,
    time_budget: float | None = None,
    target: float | None = None,
    progress: bool | None = None,
    callbacks: Sequence[TunerCallback] = (),
    queue_depth: int | None = None,
    trial_walltime: float | None = None,
    trial_timeout: float | None = None,
    startup_timeout: float | None = None,
    journal_fsync: str = "off",
    verdict_timeout: float = 0.5,
    resume: bool = False,
) -> Result:
    """Search ``space`` for the configuration that optimises ``metric`` of ``objective``.

    ``objective(config)`` returns a number (the metric) or a dict containing ``metric``; it may
    call :func:`daskhpo.report` for intermediate results and :func:`daskhpo.checkpoint_dir`
    for a directory that survives resubmission. Trials run on ``client`` if given, else on
    ``cluster`` (a description or a Cluster; default: a LocalCluster with one worker process
    per core). ``resources`` (e.g. ``{"GPU": 1}``) or ``gpus_per_trial`` annotate every trial;
    a GPU trial runs with ``CUDA_VISIBLE_DEVICES`` set to devices of its own. Everything is
    validated before any cluster starts (the settings by :class:`~daskhpo.settings.TuneSettings`).

    Stops after ``num_trials`` new trials (default: the grid size for grid spaces), after
    ``time_budget`` seconds, or once the best value reaches ``target``.

    On clusters whose workers retire (SLURM walltime, Dask ``--lifetime``), no trial starts on
    a worker that retires before ``trial_walltime`` seconds (default: learned from finished
    trials). While workers are on their way (queued jobs) the search waits for them, up to
    ``startup_timeout`` seconds if given.

    An attempt that runs longer than ``trial_timeout`` seconds is told to stop at its next
    report; one that does not within a grace period (5 s, or a tenth of ``trial_timeout``) has
    its worker restarted. Either way the trial fails ("timed out after N s"), retried under
    ``max_retries``; the other trials go on.

    ``journal_fsync`` says when the journal reaches the disk: ``"off"`` (the operating system
    has every record before the driver acts on it: a killed driver loses nothing, a power loss
    may), ``"step"`` (one ``fsync`` before each batch is acted on) or ``"record"`` (one per
    record); see :mod:`daskhpo.experiment.journal`. If the journal cannot be written (a full or
    read-only disk) the search stops, its trials are cancelled, and
    :class:`~daskhpo.errors.JournalError` says what to free before resuming.

    At the scheduler's milestones (ASHA's rungs, PBT's perturbation steps...) ``report()``
    waits up to ``verdict_timeout`` seconds for the decision on that step, so a trial stopped
    at a rung computes nothing beyond it (0: never wait; a stop then lands one step late).

    With ``resume=True`` and the ``experiment_dir`` of an earlier run (killed, interrupted or
    stopped by its budget), the search continues where it was: finished trials are not run
    again, trials that were in flight restart from their checkpoints, and the searcher and
    scheduler are rebuilt by replaying the journal.
    """
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {objective!r}")
    settings = TuneSettings(
        metric=metric,
        mode=mode,
        num_trials=num_trials,
        scheduler=scheduler,
        searcher=searcher,
        resources=resources or {},
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
        max_retries=max_retries,
        max_worker_losses=max_worker_losses,
        seed=seed,
        time_budget=time_budget,
        target=target,
        trial_walltime=trial_walltime,
        trial_timeout=trial_timeout,
        startup_timeout=startup_timeout,
        queue_depth=queue_depth,
        journal_fsync=journal_fsync,
        verdict_timeout=verdict_timeout,
    )
    return run_search(
        objective,
        as_space(space),
        settings,
        experiment_dir,
        cluster=cluster,
        client=client,
        progress=progress,
        callbacks=callbacks,
        resume=resume,
    )


def run_search(
    objective: Callable[[dict[str, Any]], Any],
    space: SearchSpace,
    settings: TuneSettings,
    experiment_dir: ExperimentDir | str | Path | None,
    *,
    cluster: Any = None,
    client: Any = None,
    progress: bool | None = None,
    callbacks: Sequence[TunerCallback] = (),
    resume: bool = False,
) -> Result:
    """Run one search in ``experiment_dir`` (a new one, made here unless it is an
    :class:`ExperimentDir` already; or continued with ``resume=True``).

    Everything is checked before the directory is made and before any cluster starts. A new
    search whose cluster never answers removes what it made of the directory.
    """
    directory = experiment_dir if isinstance(experiment_dir, ExperimentDir) else None
    path = None if isinstance(experiment_dir, ExperimentDir) else experiment_dir
    try:
        shipped = ship(objective)  # fails here, before any cluster, if it cannot be pickled
        scheduler = make_scheduler(settings.scheduler, space)
        searcher = make_searcher(settings.searcher, space)
        settings = settings.replace(
            num_trials=settings.num_trials_for(space.grid_size if space.grid_names else None)
        )
        if directory is None:
            directory = _open_directory(path, resume)
        with directory.lock():  # one driver per experiment, before anything is read or written
            return _run(
                shipped,
                _Search(space, settings, scheduler, searcher),
                directory,
                cluster=cluster,
                client=client,
                progress=progress,
                callbacks=callbacks,
                resume=resume,
            )
    except BaseException:
        if directory is not None and not resume:
            directory.discard()  # keeps everything once the journal was opened
        raise


def _open_directory(experiment_dir: str | Path | None, resume: bool) -> ExperimentDir:
    if not resume:
        return ExperimentDir.create(experiment_dir)
    if experiment_dir is None:
        raise SettingsError("resume=True needs the experiment_dir of the search to continue")
    return ExperimentDir.existing(experiment_dir)


@dataclass(frozen=True)
class _Search:
    """What a search is made of, checked and built."""

    space: SearchSpace
    settings: TuneSettings
    scheduler: Scheduler
    searcher: Searcher


def _run(
    objective: Callable[[dict[str, Any]], Any],
    search: _Search,
    directory: ExperimentDir,
    *,
    cluster: Any,
    client: Any,
    progress: bool | None,
    callbacks: Sequence[TunerCallback],
    resume: bool,
) -> Result:
    settings = search.settings
    records: list[rec.Record] = []
    if resume:
        settings = settings.replace(seed=directory.check_resumable(settings, search.space))
        records = list(read_records(directory.journal_path))
    else:
        if settings.seed is None:
            entropy = np.random.SeedSequence().entropy
            settings = settings.replace(seed=int(entropy) % (2**63))  # type: ignore[arg-type]
        directory.write_info(settings, search.space)

    from daskhpo.dask.backend import DaskBackend
    from daskhpo.dask.clusters import connect, owns_scheduler

    all_callbacks = list(callbacks)
    if progress is not False:  # the display module (and rich) loads only when it may show
        from daskhpo.display.progress import make_progress

        display = make_progress(progress, metric=settings.metric, mode=settings.mode)
        if display is not None:
            all_callbacks.append(display)

    with (
        connect(cluster, client, experiment_dir=directory.path) as (dask_client, expect_more),
        # the cluster answered: the search begins
        Journal(directory.journal_path, fsync=settings.journal_fsync) as journal,
    ):
        backend = DaskBackend(
            dask_client,
            objective,
            metric=settings.metric,
            experiment_dir=directory.path,
            resources=dict(settings.resources),
            expect_more_workers=expect_more,
            clock_offset=max((float(r.time) for r in records), default=0.0),
            tune_saturation=owns_scheduler(dask_client),
            verdict_timeout=settings.verdict_timeout,
        )
        try:
            backend.capacity()
            backend.check_objective()
            tuner = make_tuner(
                settings,
                backend=backend,
                space=search.space,
                scheduler=search.scheduler,
                searcher=search.searcher,
                journal=journal,
                callbacks=all_callbacks,
            )
            try:
                if records:
                    tuner.replay(records)
                tuner.run()
            except JournalError:
                _write_results_if_possible(directory, tuner)
                raise
        finally:
            backend.close()
    result = result_from_tuner(tuner, directory.path)
    directory.write_results(result)
    return result


def _write_results_if_possible(directory: ExperimentDir, tuner: Tuner) -> None:
    """The tables of a search its journal stopped: tried, but on the same full disk they may
    fail too, and that must not hide why the search stopped."""
    with contextlib.suppress(Exception):
        directory.write_results(result_from_tuner(tuner, directory.path))


def make_tuner(
    settings: TuneSettings,
    *,
    backend: Backend,
    space: SearchSpace,
    scheduler: Scheduler,
    searcher: Searcher,
    journal: Journal,
    callbacks: Sequence[TunerCallback],
) -> Tuner:
    """The one place a :class:`Tuner` is built from :class:`TuneSettings`."""
    return Tuner(
        settings=settings,
        backend=backend,
        space=space,
        scheduler=scheduler,
        searcher=searcher,
        journal=journal,
        callbacks=callbacks,
    )


def result_from_tuner(tuner: Tuner, experiment_dir: Path | None) -> Result:
    """Freeze a finished Tuner into a Result."""
    return Result(
        trials_list=list(tuner.trials.values()),
        reports_list=list(tuner.reports),
        metric=tuner.metric,
        mode=tuner.mode,
        config_names=tuner.space.names,
        experiment_dir=experiment_dir,
        stop_reason=tuner.stop_reason,
        interrupted=tuner.interrupted,
    )
