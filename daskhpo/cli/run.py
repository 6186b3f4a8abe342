"""``daskhpo run``, ``daskhpo demo`` and ``daskhpo resume``: start or continue a search.

Everything heavy (the experiment code, the Tuner, Dask) loads inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from daskhpo.cli.interrupt import two_stage_interrupt
from daskhpo.cli.output import (
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    TOP,
    console,
    counts,
    trial_table,
)

if TYPE_CHECKING:
    from rich.console import Console

    from daskhpo.experiment.run import PreparedRun
    from daskhpo.results import Result


def _print_result(out: Console, result: Result, names: list[str]) -> None:
    from daskhpo.experiment.directory import JOURNAL, TRIALS_CSV
    from daskhpo.experiment.rows import best_rows
    from daskhpo.results import trials_table

    _, rows = trials_table(result.trials_list, result.config_names, [result.metric])
    out.print(
        f"Search ended: {result.stop_reason or 'unknown reason'}. {len(rows)} trials: "
        f"{counts(row['status'] for row in rows)}.",
        soft_wrap=True,
    )
    best = best_rows(rows, result.metric, result.mode, TOP)
    if best:
        title = f"Best {len(best)} trials ({result.mode})"
        out.print(trial_table(best, result.metric, names, title))
    if result.experiment_dir is not None:
        out.print(
            f"Results: {result.experiment_dir} ({TRIALS_CSV}, {JOURNAL}); "
            f"`daskhpo report {result.experiment_dir}` prints them again.",
            soft_wrap=True,
        )


def _first_error(result: Result) -> str:
    for trial in sorted(result.trials_list, key=lambda t: t.trial_id):
        if trial.error:
            lines = [line for line in trial.error.strip().splitlines() if line.strip()]
            return f"trial {trial.trial_id}: " + "\n".join(lines[-6:])
    return "no trial reported an error"


def _execute(ctx: click.Context, prepared: PreparedRun, *, quiet: bool, resume: bool) -> None:
    """Run (or continue) a prepared search, print its best trials, and set the exit code."""
    from daskhpo.trial import TrialStatus

    out = console()
    if not quiet:
        settings = prepared.spec.settings
        total = settings.num_trials
        verb = "Resuming" if resume else "Running"
        out.print(
            f"{verb} {prepared.spec.objective} ({total if total else 'until the budget'} "
            f"trials, {settings.metric} {settings.mode}); results in {prepared.experiment_dir}",
            soft_wrap=True,
        )
    try:
        with two_stage_interrupt():
            result = prepared.run(progress=False if quiet else None, resume=resume)
    except KeyboardInterrupt:  # before the search loop took over (cluster start-up)
        kept = "the search is as it was" if resume else "nothing ran, nothing was kept"
        click.echo(f"interrupted before the search began; {kept}", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    _print_result(out, result, list(prepared.spec.space.domains))
    if result.interrupted:
        click.echo(
            f"interrupted; the trials so far are in {prepared.experiment_dir}. "
            f"Continue with: daskhpo resume {prepared.experiment_dir}",
            err=True,
        )
        ctx.exit(EXIT_INTERRUPTED)
    if result.count(TrialStatus.COMPLETED) == 0:
        click.echo(f"error: no trial completed. The first error, {_first_error(result)}", err=True)
        ctx.exit(EXIT_NO_RESULT)


def _run(
    ctx: click.Context,
    experiment: Path,
    trials: int | None,
    workers: int | None,
    directory: Path | None,
    quiet: bool,
) -> None:
    from daskhpo.experiment.run import prepare_run
    from daskhpo.experiment.spec import ExperimentSpec

    spec = ExperimentSpec.from_file(experiment)
    prepared = prepare_run(spec, trials=trials, workers=workers, experiment_dir=directory)
    _execute(ctx, prepared, quiet=quiet, resume=False)


_trials_option = click.option(
    "--trials", type=int, default=None, help="Number of trials (overrides num_trials)."
)
_workers_option = click.option(
    "--workers",
    type=int,
    default=None,
    help="Number of local worker processes (overrides the local cluster's n_workers).",
)
_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Experiment directory (default: daskhpo-runs/<name>-<time> here).",
)
_quiet_option = click.option("--quiet", "-q", is_flag=True, help="No live progress line.")


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@_trials_option
@_workers_option
@_dir_option
@_quiet_option
@click.pass_context
def run(
    ctx: click.Context,
    experiment: Path,
    trials: int | None,
    workers: int | None,
    directory: Path | None,
    quiet: bool,
) -> None:
    """Run the search described by EXPERIMENT (a YAML file)."""
    _run(ctx, experiment, trials, workers, directory, quiet)


@click.command()
@_trials_option
@_workers_option
@_dir_option
@_quiet_option
@click.pass_context
def demo(
    ctx: click.Context,
    trials: int | None,
    workers: int | None,
    directory: Path | None,
    quiet: bool,
) -> None:
    """Run the shipped example: a random search over a quadratic objective."""
    from daskhpo.examples import DEMO_EXPERIMENT

    _run(ctx, DEMO_EXPERIMENT, trials, workers, directory, quiet)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_quiet_option
@click.pass_context
def resume(ctx: click.Context, directory: Path, quiet: bool) -> None:
    """Continue the search in DIRECTORY after a crash, Ctrl-C or a spent time budget.

    Completed trials are kept; trials that were running restart from their checkpoints.
    """
    from daskhpo.experiment.run import prepare_resume

    _execute(ctx, prepare_resume(directory), quiet=quiet, resume=True)
