"""Options, parsers and output shared by the ``daskhpo simulate`` commands (and ``daskhpo plan``).

Parsing and printing only. ``--jobs``/``--address``/``--cluster``/``--quiet`` choose where a
table's runs go (:mod:`simulate.sweep`) and whether a progress line is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click
import pandas as pd

from daskhpo.errors import ClusterError
from simulate.cluster import parse_int_list
from simulate.tables import COST_COLUMNS, SCHEDULER_COLUMNS, SPEEDUP_COLUMNS

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "csv", "json")

#: The columns the terminal shows without --wide.
SPEEDUP_VIEW = SPEEDUP_COLUMNS
COST_VIEW = [*COST_COLUMNS, "price_usd_per_h"]
SCHEDULER_VIEW = [*SCHEDULER_COLUMNS, "best_value", "makespan_s"]


def split_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def int_list(param: str) -> Callable[[click.Context, click.Parameter, str], list[int]]:
    def convert(ctx: click.Context, p: click.Parameter, value: str) -> list[int]:
        try:
            return parse_int_list(value, param)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def float_list(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    values: list[float] = []
    for part in split_names(value):
        try:
            number = float(part)
        except ValueError:
            raise click.BadParameter(
                f"{part!r} in {value!r} is not a number; give a comma-separated list like 0.09,0.9"
            ) from None
        if not math.isfinite(number) or number < 0:
            raise click.BadParameter(f"{part!r} in {value!r} must be a number >= 0")
        values.append(number)
    if not values:
        raise click.BadParameter(f"give at least one number, got {value!r}")
    return values


def choice_list(
    allowed: tuple[str, ...],
) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    def convert(ctx: click.Context, p: click.Parameter, value: str) -> list[str]:
        items = split_names(value)
        bad = [item for item in items if item not in allowed]
        if bad or not items:
            raise click.BadParameter(
                f"{', '.join(map(repr, bad)) or repr(value)} is not one of {', '.join(allowed)}"
            )
        return items

    return convert


def parse_stragglers(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float]:
    if not value:
        return 0.0, 1.0
    prob, sep, factor = value.partition(":")
    try:
        if not sep:
            raise ValueError
        p, f = float(prob), float(factor)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not PROBABILITY:FACTOR; e.g. 0.01:10 makes 1 % of trials 10x slower"
        ) from None
    return p, f


def emit(table: pd.DataFrame, fmt: str, view: list[str], wide: bool) -> None:
    """CSV and JSON carry every column; the terminal table ``view``'s, or every one if ``wide``."""
    from simulate.text_table import render

    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.10g", lineterminator="\n"), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", double_precision=10))
    else:
        click.echo(render(table, None if wide else view))


def run_table(fn: Callable[[], Any], progress: Any = None) -> Any:
    """Turn the library's ValueErrors (bad SPECs, prices, counts, tables) into usage errors;
    end the progress line, if any, before anything else is printed."""
    try:
        return fn()
    except ClusterError:
        raise  # printed as tune prints it, one line
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()


format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Terminal table, or csv/json for scripts.",
)  # fmt: skip
wide_option = click.option(
    "--wide", is_flag=True,
    help="Show every column in the terminal table (wider than 100 characters).",
)  # fmt: skip
plot_option = click.option(
    "--plot", type=click.Path(dir_okay=False, writable=True), default=None,
    help="Also write a figure to this PNG file (needs matplotlib).",
)  # fmt: skip
table_option = click.option(
    "--table", "table_path", type=click.Path(dir_okay=False), default=None,
    help="Take trial durations from this learning-curve table (CSV or Parquet; a "
    "configuration's time_s summed over its steps) instead of --duration: trials sample "
    "the table's grid.",
)  # fmt: skip
overhead_option = click.option(
    "--overhead-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Per-trial launch overhead (seconds before its first step).",
)
report_overhead_option = click.option(
    "--report-overhead-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds each report costs on top of its step (sending it, saving a checkpoint), "
    "for workloads with learning curves; simulate.calibrate.report_overhead measures it on a "
    "real search against a table.",
)
seed_option = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)

# Market and fault options shared with `daskhpo plan`.
spot_discount_option = click.option(
    "--spot-discount",
    type=float,
    default=0.8,
    show_default=True,
    help="Fraction spot saves over on-demand (0.8: 80 % cheaper).",
)
billing_option = click.option(
    "--billing",
    default="second",
    show_default=True,
    help="second, second:MIN (e.g. second:60 for a 60 s minimum), minute or hour.",
)
preemption_rate_option = click.option(
    "--preemption-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Spot preemptions per instance-hour.",
)
grace_option = click.option(
    "--grace-s",
    type=float,
    default=120.0,
    show_default=True,
    help="Notice before a preempted instance dies.",
)


def _cluster_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """The description, validated as tune validates it; a bad one raises tune's
    ClusterError, which the ``daskhpo`` command prints as one line."""
    if value is None:
        return None
    from simulate.sweep import cluster_description

    return cluster_description(value)


def sweep_options(fn: F) -> F:
    """``--jobs``, ``--address``, ``--cluster`` and ``--quiet``: where a table's runs go, and
    its progress."""
    fn = click.option(
        "--quiet", is_flag=True, help="No progress line on stderr (none is drawn off a terminal)."
    )(fn)
    fn = click.option(
        "--address", default=None,
        help="Run the table's searches on the Dask cluster whose scheduler is at this address "
        "(e.g. tcp://host:8786); the table is the same as with one process.",
    )(fn)  # fmt: skip
    fn = click.option(
        "--cluster", default=None, callback=_cluster_option,
        help="Run the table's searches on a Dask cluster described as for tune: YAML such as "
        "'{local: {n_workers: 2}}' or '{slurm: {jobs: 4}}', an address, or a file holding "
        "one (an experiment file's cluster key); the table is the same as with one process.",
    )(fn)  # fmt: skip
    fn = click.option(
        "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
        help="Local processes to run the table's searches in; the table is the same.",
    )(fn)  # fmt: skip
    return fn


def progress_for(label: str, quiet: bool) -> Any:
    """A progress line for a sweep (drawn only on a terminal, and not with --quiet)."""
    from simulate.sweep import ProgressLine

    return ProgressLine(label, quiet=quiet)
