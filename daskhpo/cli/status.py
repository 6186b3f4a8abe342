"""``daskhpo status`` and ``daskhpo report``: what a search did, read from its directory.

Both read the journal through :class:`~daskhpo.experiment.view.ExperimentView` (or the trials
CSV of a finished search) as plain rows: neither loads pandas, unless ``report --plot`` draws.
"""

from __future__ import annotations

from pathlib import Path

import click

from daskhpo.cli.output import RECENT, TOP, console, counts, fmt, params, trial_table
from daskhpo.errors import ExperimentError


def _check_directory(directory: Path) -> Path:
    if not directory.is_dir():
        raise ExperimentError(f"{directory} is not a directory; pass an experiment directory")
    return directory


def _driver_state(directory: Path) -> str:
    """Running (and by whom) or stopped, from the driver's lock."""
    from daskhpo.experiment.directory import ExperimentDir

    lock = ExperimentDir(directory).lock()
    holder = lock.holder()
    if holder is not None and not lock.is_stale(holder):
        return f"running (driver {holder.describe()})"
    return (
        f"stopped before its end (no driver holds it): continue it with "
        f"`daskhpo resume {directory}`"
    )


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
def status(directory: Path) -> None:
    """Show where the search in DIRECTORY stands (works while it runs)."""
    from daskhpo.experiment.rows import view_rows
    from daskhpo.experiment.view import ExperimentView

    view = ExperimentView.from_directory(_check_directory(directory))
    info = view.info
    if info is None:  # from_directory always reads it
        raise ExperimentError(f"{directory} has no experiment settings")
    rows = {row["trial_id"]: row for row in view_rows(view)}
    out = console()
    if view.ended:
        state = f"finished ({view.stop_reason})"
    elif view.records:
        state = _driver_state(directory)
    else:
        state = "not started (the journal is empty)"
    elapsed = (
        "" if view.last_time is None else f"; last event {view.last_time:.1f} s after the start"
    )
    out.print(f"Experiment {directory}: {state}{elapsed}", soft_wrap=True)
    of = f" of {info.num_trials}" if info.num_trials else ""
    statuses = [row["status"] for row in rows.values()]
    out.print(f"Trials: {len(rows)}{of} created; {counts(statuses)}", soft_wrap=True)
    best = view.best_trial()
    if best is not None:
        out.print(
            f"Best {info.metric} = {fmt(best.metric_value(info.metric))} (trial "
            f"{best.trial_id}): {params(rows[best.trial_id], info.domain_names)}",
            soft_wrap=True,
        )
    recent = [rows[trial.trial_id] for trial in view.recent(RECENT)]
    if recent:
        out.print(
            trial_table(recent, info.metric, info.domain_names, "Most recent trials", extra=True)
        )


@click.command()
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
def report(directory: Path, top: int, plot_path: Path | None) -> None:
    """Print the best trials of the search in DIRECTORY (and plot them with --plot)."""
    from daskhpo.experiment.rows import best_rows, trial_rows
    from daskhpo.experiment.view import read_info

    info = read_info(_check_directory(directory))
    rows, source = trial_rows(directory, info)
    out = console()
    out.print(
        f"{len(rows)} trials from {source}: {counts(row['status'] for row in rows)}",
        soft_wrap=True,
    )
    best = best_rows(rows, info.metric, info.mode, top)
    if best:
        out.print(
            trial_table(best, info.metric, info.domain_names, f"Best {len(best)} ({info.mode})")
        )
    else:
        out.print(f"No completed trial with a value of {info.metric} yet.")
    if plot_path is not None:
        from daskhpo.display.plots import plot_report

        plot_report(directory, path=plot_path)
        out.print(f"Plot written to {plot_path}", soft_wrap=True)
