"""``daskhpo.tune``: validate everything, start or join a cluster, run the Tuner, return results."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from daskhpo.dask.gpus import with_gpus
from daskhpo.dask.worker.shipping import ship
from daskhpo.experiment.journal import JOURNAL_NAME, Journal, read_journal
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.results import Result
from daskhpo.space import SearchSpace, as_space
from daskhpo.trial import check_mode
from daskhpo.tuner import Tuner, TunerCallback

EXPERIMENT_FILE = "experiment.json"


def _positive_int(name: str, value: Any, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_resources(resources: Mapping[str, Any] | None) -> dict[str, float]:
    """Validate per-trial resources such as ``{"GPU": 1}``."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise ValueError(f"resources must be a mapping like {{'GPU': 1}}, got {resources!r}")
    clean: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"resource names must be non-empty strings, got {name!r}")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not (math.isfinite(amount) and amount > 0)
        ):
            raise ValueError(
                f"resource {name!r} must be a positive number of units, got {amount!r}"
            )
        clean[name] = float(amount)
    return clean


def prepare_experiment_dir(experiment_dir: str | Path | None) -> Path:
    """Create (or pick a temporary) experiment directory and check that it is writable."""
    if experiment_dir is None:
        return Path(tempfile.mkdtemp(prefix="daskhpo-"))
    path = Path(experiment_dir).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValueError(
            f"experiment directory {str(path)!r} is not writable ({exc.strerror}); "
            "choose another with experiment_dir=... (or --dir)"
        ) from exc
    return path


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
    startup_timeout: float | None = None,
    resume: bool = False,
) -> Result:
    """Search ``space`` for the configuration that optimises ``metric`` of ``objective``.

    ``objective(config)`` returns a number (the metric) or a dict containing ``metric``; it may
    call :func:`daskhpo.report` for intermediate results and :func:`daskhpo.checkpoint_dir`
    for a directory that survives resubmission. Trials run on ``client`` if given, else on
    ``cluster`` (a description or a Cluster; default: a LocalCluster with one worker process
    per core). ``resources`` (e.g. ``{"GPU": 1}``) or ``gpus_per_trial`` annotate every trial;
    a GPU trial runs with ``CUDA_VISIBLE_DEVICES`` set to devices of its own. Everything is
    validated before any cluster starts.

    Stops after ``num_trials`` new trials (default: the grid size for grid spaces), after
    ``time_budget`` seconds, or once the best value reaches ``target``.

    On clusters whose workers retire (SLURM walltime, Dask ``--lifetime``), no trial starts on
    a worker that retires before ``trial_walltime`` seconds (default: learned from finished
    trials). While workers are on their way (queued jobs) the search waits for them, up to
    ``startup_timeout`` seconds if given.

    With ``resume=True`` and the ``experiment_dir`` of an earlier run (killed, interrupted or
    stopped by its budget), the search continues where it was: finished trials are not run
    again, trials that were in flight restart from their checkpoints, and the searcher and
    scheduler are rebuilt by replaying the journal.
    """
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {objective!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric must be a non-empty string naming the result, got {metric!r}")
    mode = check_mode(mode)
    search_space = as_space(space)
    num_trials = _positive_int("num_trials", num_trials)
    if num_trials is None:
        if search_space.grid_names:
            num_trials = search_space.grid_size
        elif time_budget is None and target is None:
            raise ValueError(
                "num_trials is required (how many configurations to try), unless the space "
                "has grid domains or a time_budget is given"
            )
    max_concurrent = _positive_int("max_concurrent", max_concurrent)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    for name, value in (("trial_walltime", trial_walltime), ("startup_timeout", startup_timeout)):
        if value is not None and not (
            isinstance(value, (int, float)) and math.isfinite(value) and value > 0
        ):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if time_budget is not None and not (
        isinstance(time_budget, (int, float)) and math.isfinite(time_budget) and time_budget > 0
    ):
        raise ValueError(f"time_budget must be a positive number of seconds, got {time_budget!r}")
    trial_resources = with_gpus(check_resources(resources), gpus_per_trial)
    shipped = ship(objective)  # fails here, before any cluster, if it cannot be pickled
    the_scheduler = make_scheduler(scheduler)
    the_searcher = make_searcher(searcher, search_space)
    records: list[dict[str, Any]] = []
    if resume:
        if experiment_dir is None:
            raise ValueError("resume=True needs the experiment_dir of the search to continue")
        exp_dir = Path(experiment_dir).expanduser().resolve()
        saved = load_experiment(exp_dir)
        seed = check_resumable(saved, metric=metric, mode=mode, space=search_space, seed=seed)
        records = list(read_journal(exp_dir / JOURNAL_NAME))
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) % (2**63)  # type: ignore[arg-type]
        exp_dir = prepare_experiment_dir(experiment_dir)
        if (exp_dir / JOURNAL_NAME).exists():
            raise ValueError(
                f"{str(exp_dir)!r} already holds an experiment; continue it with resume=True "
                "(daskhpo resume DIR) or choose a new experiment directory"
            )
        (exp_dir / EXPERIMENT_FILE).write_text(
            json.dumps(
                {
                    "metric": metric,
                    "mode": mode,
                    "space": search_space.to_dict(),
                    "num_trials": num_trials,
                    "seed": seed,
                    "resources": trial_resources,
                },
                indent=2,
                default=str,
            )
        )

    from daskhpo.dask.backend import DaskBackend
    from daskhpo.dask.clusters import connect, owns_scheduler

    all_callbacks = list(callbacks)
    if progress is not False:  # the display module (and rich) loads only when it may show
        from daskhpo.display.progress import make_progress

        display = make_progress(progress, metric=metric, mode=mode)
        if display is not None:
            all_callbacks.append(display)

    journal = Journal(exp_dir / JOURNAL_NAME)
    try:
        with connect(cluster, client, experiment_dir=exp_dir) as (dask_client, expect_more):
            backend = DaskBackend(
                dask_client,
                shipped,
                metric=metric,
                experiment_dir=exp_dir,
                resources=trial_resources,
                expect_more_workers=expect_more,
                clock_offset=max((float(r.get("time", 0.0)) for r in records), default=0.0),
                tune_saturation=owns_scheduler(dask_client),
            )
            try:
                backend.capacity()
                backend.check_objective()
                tuner = Tuner(
                    backend=backend,
                    space=search_space,
                    scheduler=the_scheduler,
                    searcher=the_searcher,
                    metric=metric,
                    mode=mode,
                    num_trials=num_trials,
                    time_budget=time_budget,
                    target=target,
                    resources=trial_resources,
                    max_concurrent=max_concurrent,
                    max_retries=max_retries,
                    max_worker_losses=max_worker_losses,
                    queue_depth=queue_depth,
                    trial_walltime=trial_walltime,
                    startup_timeout=startup_timeout,
                    journal=journal,
                    seed=seed,
                    callbacks=all_callbacks,
                )
                if records:
                    tuner.replay(records)
                    journal.write("resume", time=backend.now(), replayed=len(records))
                tuner.run()
            finally:
                backend.close()
    finally:
        journal.close()
    result = result_from_tuner(tuner, exp_dir)
    write_results(result, exp_dir)
    return result


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


def write_results(result: Result, experiment_dir: Path) -> None:
    """``trials.csv`` and ``reports.csv`` beside the journal, for scripts and checks."""
    result.to_csv(experiment_dir / "trials.csv")
    result.reports_to_csv(experiment_dir / "reports.csv")


def load_experiment(experiment_dir: Path) -> dict[str, Any]:
    """The settings an experiment directory was created with."""
    meta = experiment_dir / EXPERIMENT_FILE
    if not meta.is_file() or not (experiment_dir / JOURNAL_NAME).is_file():
        raise ValueError(
            f"{str(experiment_dir)!r} is not a daskhpo experiment directory (it has no "
            f"{EXPERIMENT_FILE} and {JOURNAL_NAME}); pass the directory a search wrote"
        )
    try:
        data: dict[str, Any] = json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(meta)!r} is damaged ({exc}); it cannot be resumed") from exc
    return data


def check_resumable(
    saved: Mapping[str, Any], *, metric: str, mode: str, space: SearchSpace, seed: int | None
) -> int:
    """Refuse to continue a search under different rules; returns the seed to use."""
    problems = []
    if saved.get("metric") != metric:
        problems.append(f"metric {saved.get('metric')!r} -> {metric!r}")
    if saved.get("mode") != mode:
        problems.append(f"mode {saved.get('mode')!r} -> {mode!r}")
    if json.loads(json.dumps(space.to_dict(), default=str)) != saved.get("space"):
        problems.append("the search space changed")
    saved_seed = int(saved.get("seed", 0))
    if seed is not None and seed != saved_seed:
        problems.append(f"seed {saved_seed} -> {seed}")
    if problems:
        raise ValueError(
            "cannot resume: " + "; ".join(problems) + ". Resume with the original settings, "
            "or start a new experiment directory."
        )
    return saved_seed
