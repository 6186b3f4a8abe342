"""The ``daskhpo`` command: parsing and printing only (the work is in experiment.py and
journal_view.py).

Bad input exits with status 2 and a one-paragraph message on stderr; ``daskhpo --debug ...``
shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from daskhpo import __version__
from daskhpo.backend import NoCapacityError
from daskhpo.results import Result
from daskhpo.trial import TrialStatus

#: Exit status for bad input (the same as click's usage errors).
EXIT_BAD_INPUT = 2
#: Exit status when the search ran but no trial completed.
EXIT_NO_RESULT = 1
#: Exit status after Ctrl-C (the results so far are saved).
EXIT_INTERRUPTED = 130

TOP = 5
RECENT = 10


# --------------------------------------------------------------------------- command group


class _Commands(click.Group):
    """The top-level group. Commands in :attr:`lazy` are imported only when needed, and are
    absent when their module does not exist in this installation."""

    lazy: ClassVar[dict[str, str]] = {
        "simulate": "simulate.cli:simulate",
        "plan": "simulate.plan_cli:plan",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(name for name in self.lazy if self._load(name) is not None)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self._load(cmd_name)
        return command

    def _load(self, name: str) -> click.Command | None:
        module_name, _, attribute = self.lazy[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                return None  # not part of this installation
            return _broken(name, exc)
        except Exception as exc:  # a bug in that module must not take the other commands down
            return _broken(name, exc)
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None


def _broken(name: str, exc: Exception) -> click.Command:
    @click.command(name, help=f"(unavailable: {type(exc).__name__})", add_help_option=False)
    def broken() -> None:
        raise click.ClickException(
            f"the {name!r} command failed to load: {type(exc).__name__}: {exc}"
        )

    return broken


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="daskhpo")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of short errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Asynchronous hyperparameter search on Dask.

    Start with `daskhpo demo`, then write an experiment file (see
    daskhpo/examples/quadratic.yaml) and `daskhpo run` it.
    """
    ctx.obj = {"debug": debug}
    # daskhpo's clusters have no dashboard; Dask still names the port it did not get.
    warnings.filterwarnings("ignore", "Port 8787 is already in use", UserWarning)


@contextlib.contextmanager
def _user_errors(ctx: click.Context) -> Iterator[None]:
    """Turn bad-input errors into one paragraph on stderr and exit status 2."""
    try:
        yield
    except (ValueError, NoCapacityError) as exc:
        if ctx.find_root().obj and ctx.find_root().obj.get("debug"):
            raise
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_BAD_INPUT)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def _params(row: pd.Series, names: list[str]) -> str:
    return ", ".join(
        f"{name}={_fmt(row.get(f'config/{name}'))}" for name in names if f"config/{name}" in row
    )


def _trial_table(
    rows: pd.DataFrame, metric: str, names: list[str], title: str, *, extra: bool = False
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("trial", justify="right")
    table.add_column(metric, justify="right")
    table.add_column("hyperparameters", overflow="fold")
    table.add_column("status")
    if extra:
        table.add_column("attempt", justify="right")
        table.add_column("worker", overflow="fold")
    for _, row in rows.iterrows():
        cells = [
            _fmt(row["trial_id"]),
            _fmt(row.get(metric)),
            _params(row, names),
            _fmt(row["status"]),
        ]
        if extra:
            worker = _fmt(row.get("worker"))
            cells += [_fmt(row.get("attempt")), worker.split("://", 1)[-1]]
        table.add_row(*cells)
    return table


def _counts(statuses: list[str]) -> str:
    order = [s.value for s in TrialStatus]
    counts = {s: statuses.count(s) for s in order if statuses.count(s)}
    return ", ".join(f"{s.lower()} {n}" for s, n in counts.items()) or "none yet"


def _print_result(console: Console, result: Result, names: list[str]) -> None:
    from daskhpo.experiment.view import best_rows

    trials = result.trials
    console.print(
        f"Search ended: {result.stop_reason or 'unknown reason'}. {len(trials)} trials: "
        f"{_counts(list(trials['status']))}.",
        soft_wrap=True,
    )
    best = best_rows(trials, result.metric, result.mode, TOP)
    if len(best):
        console.print(
            _trial_table(best, result.metric, names, f"Best {len(best)} trials ({result.mode})")
        )
    if result.experiment_dir is not None:
        from daskhpo.experiment.directory import JOURNAL, TRIALS_CSV

        console.print(
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


# --------------------------------------------------------------------------- run / demo


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

    with _user_errors(ctx):
        spec = ExperimentSpec.from_file(experiment)
        prepared = prepare_run(spec, trials=trials, workers=workers, experiment_dir=directory)
    _execute(ctx, prepared, quiet=quiet, resume=False)


def _execute(ctx: click.Context, prepared: Any, *, quiet: bool, resume: bool) -> None:
    """Run (or continue) a prepared search, print its best trials, and set the exit code."""
    console = _console()
    with _user_errors(ctx):
        if not quiet:
            settings = prepared.spec.settings
            total = settings.num_trials
            verb = "Resuming" if resume else "Running"
            console.print(
                f"{verb} {prepared.spec.objective} ({total if total else 'until the budget'} "
                f"trials, {settings.metric} {settings.mode}); results in "
                f"{prepared.experiment_dir}",
                soft_wrap=True,
            )
        try:
            result = prepared.run(progress=False if quiet else None, resume=resume)
        except KeyboardInterrupt:  # before the search loop took over (cluster start-up)
            click.echo(f"interrupted; nothing ran yet in {prepared.experiment_dir}", err=True)
            ctx.exit(EXIT_INTERRUPTED)
    _print_result(console, result, list(prepared.spec.space.domains))
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


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@_trials_option
@_workers_option
@_dir_option
@click.option("--quiet", "-q", is_flag=True, help="No live progress line.")
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


@main.command()
@_trials_option
@_workers_option
@_dir_option
@click.option("--quiet", "-q", is_flag=True, help="No live progress line.")
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


# --------------------------------------------------------------------------- status / report


def _experiment_dir(ctx: click.Context, directory: Path) -> Any:
    from daskhpo.experiment.view import read_info

    with _user_errors(ctx):
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory; pass an experiment directory")
        return read_info(directory)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.pass_context
def status(ctx: click.Context, directory: Path) -> None:
    """Show where the search in DIRECTORY stands (works while it runs)."""
    from daskhpo.experiment.view import ExperimentView

    _experiment_dir(ctx, directory)
    with _user_errors(ctx):
        view = ExperimentView.from_directory(directory)
    info = view.info
    assert info is not None
    result = view.result(directory)
    trials = result.trials
    console = _console()
    if view.ended:
        state = f"finished ({view.stop_reason})"
    elif view.records:
        state = "in progress (no end record yet: still running, or its driver stopped)"
    else:
        state = "not started (the journal is empty)"
    elapsed = (
        "" if view.last_time is None else f"; last event {view.last_time:.1f} s after the start"
    )
    console.print(f"Experiment {directory}: {state}{elapsed}", soft_wrap=True)
    of = f" of {info.num_trials}" if info.num_trials else ""
    console.print(
        f"Trials: {len(trials)}{of} created; {_counts(list(trials['status']))}", soft_wrap=True
    )
    best = result.best_trial
    if best is not None:
        row = trials[trials["trial_id"] == best.trial_id].iloc[0]
        console.print(
            f"Best {info.metric} = {_fmt(result.best_value)} (trial {best.trial_id}): "
            f"{_params(row, info.domain_names)}",
            soft_wrap=True,
        )
    recent_ids = [t.trial_id for t in view.recent(RECENT)]
    recent = trials.set_index("trial_id", drop=False).loc[recent_ids]
    if len(recent):
        console.print(
            _trial_table(recent, info.metric, info.domain_names, "Most recent trials", extra=True)
        )


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=TOP, show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the incumbent trajectory, the trial timeline per worker and the "
    "intermediate curves to this PNG file.",
)
@click.pass_context
def report(ctx: click.Context, directory: Path, top: int, plot_path: Path | None) -> None:
    """Print the best trials of the search in DIRECTORY (and plot them with --plot)."""
    from daskhpo.experiment.view import best_rows, trials_table

    info = _experiment_dir(ctx, directory)
    trials, source = trials_table(directory, info)
    console = _console()
    console.print(
        f"{len(trials)} trials from {source}: {_counts(list(trials['status'].astype(str)))}",
        soft_wrap=True,
    )
    best = best_rows(trials, info.metric, info.mode, top)
    if len(best):
        console.print(
            _trial_table(best, info.metric, info.domain_names, f"Best {len(best)} ({info.mode})")
        )
    else:
        console.print(f"No completed trial with a value of {info.metric} yet.")
    if plot_path is not None:
        from daskhpo.display.plots import plot_report

        with _user_errors(ctx):
            plot_report(directory, path=plot_path)
        console.print(f"Plot written to {plot_path}", soft_wrap=True)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="No live progress line.")
@click.pass_context
def resume(ctx: click.Context, directory: Path, quiet: bool) -> None:
    """Continue the search in DIRECTORY after a crash, Ctrl-C or a spent time budget.

    Completed trials are kept; trials that were running restart from their checkpoints.
    """
    from daskhpo.experiment.run import prepare_resume

    with _user_errors(ctx):
        prepared = prepare_resume(directory)
    _execute(ctx, prepared, quiet=quiet, resume=True)


# More commands register above this line with @main.command(); optional ones that live in
# other packages go in _Commands.lazy.


if __name__ == "__main__":  # python -m daskhpo.cli.main
    main()
