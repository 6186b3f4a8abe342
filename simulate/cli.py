"""``daskhpo simulate``: speed-up, cost and scheduler tables from the command line.

Parsing and printing only; the work is in :mod:`simulate.tables`. Output is a table in the
terminal (its main columns, fitting 100 characters; ``--wide`` shows every column), or
``--format csv|json`` for scripts (every column; same seed, same bytes), and ``--plot FILE.png``
writes the matching figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click
import pandas as pd

from simulate.cluster import MARKETS, parse_int_list
from simulate.faults import FaultModel
from simulate.tables import COST_COLUMNS, MODES, SCHEDULER_COLUMNS, SPEEDUP_COLUMNS

FORMATS = ("table", "csv", "json")

#: The columns the terminal shows without --wide.
SPEEDUP_VIEW = SPEEDUP_COLUMNS
COST_VIEW = [*COST_COLUMNS, "price_usd_per_h"]
SCHEDULER_VIEW = [*SCHEDULER_COLUMNS, "best_value", "makespan_s"]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(param: str) -> Callable[[click.Context, click.Parameter, str], list[int]]:
    def convert(ctx: click.Context, p: click.Parameter, value: str) -> list[int]:
        try:
            return parse_int_list(value, param)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def _floats(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    values: list[float] = []
    for part in _split(value):
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


def _choices(
    allowed: tuple[str, ...],
) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    def convert(ctx: click.Context, p: click.Parameter, value: str) -> list[str]:
        items = _split(value)
        bad = [item for item in items if item not in allowed]
        if bad or not items:
            raise click.BadParameter(
                f"{', '.join(map(repr, bad)) or repr(value)} is not one of {', '.join(allowed)}"
            )
        return items

    return convert


def _stragglers(
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


def _emit(table: pd.DataFrame, fmt: str, view: list[str], wide: bool) -> None:
    """CSV and JSON carry every column; the terminal table ``view``'s, or every one if ``wide``."""
    from simulate.text_table import render

    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.10g", lineterminator="\n"), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", double_precision=10))
    else:
        click.echo(render(table, None if wide else view))


def _run(fn: Callable[[], Any]) -> Any:
    """Turn the library's ValueErrors (bad SPECs, prices, counts) into usage errors."""
    try:
        return fn()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


_format = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Terminal table, or csv/json for scripts.",
)  # fmt: skip
_wide = click.option(
    "--wide", is_flag=True,
    help="Show every column in the terminal table (wider than 100 characters).",
)  # fmt: skip
_plot = click.option(
    "--plot", type=click.Path(dir_okay=False, writable=True), default=None,
    help="Also write a figure to this PNG file (needs matplotlib).",
)  # fmt: skip
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


@click.group(name="simulate")
def simulate() -> None:
    """Predict what a search costs in time and money, on a virtual clock."""


@simulate.command()
@click.option(
    "--workers",
    default="1,2,4,8",
    show_default=True,
    callback=_ints("workers"),
    help="Worker counts to compare, e.g. 1,2,4,8.",
)
@click.option("--trials", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--mode",
    "modes",
    default="sync,async",
    show_default=True,
    callback=_choices(MODES),
    help="sync (batches of K), async (FIFO), or both.",
)
@click.option(
    "--duration",
    default="exponential:mean=60",
    show_default=True,
    help="Trial durations in seconds: constant:60, exponential:mean=60, "
    "lognormal:mean=60,sigma=1, uniform:low=30,high=90, gamma:mean=60,cv=0.5.",
)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@seed_option
@click.option(
    "--startup-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Instance start-up time.",
)
@click.option(
    "--overhead-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Per-trial launch overhead.",
)
@click.option(
    "--speeds",
    default="1",
    show_default=True,
    callback=_floats,
    help="Worker speed factors, cycled over workers (e.g. 1,0.5).",
)
@click.option(
    "--failure-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Worker failures per worker-hour.",
)
@_format
@_wide
@_plot
def speedup(
    workers: list[int], trials: int, modes: list[str], duration: str, repeats: int, seed: int,
    startup_s: float, overhead_s: float, speeds: list[float], failure_rate: float, fmt: str,
    wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Sync vs async makespan and speed-up for a list of worker counts."""
    from simulate import tables

    table = _run(
        lambda: tables.speedup_table(
            workers, trials=trials, modes=modes, duration=duration, repeats=repeats, seed=seed,
            startup_s=startup_s, overhead_s=overhead_s, speeds=speeds,
            faults=FaultModel(failure_rate=failure_rate),
        )
    )  # fmt: skip
    _emit(table, fmt, SPEEDUP_VIEW, wide)
    if plot:
        from simulate.plots import speedup_figure

        k = min(max(workers), 8) if max(workers) > 1 else 1
        runs = tables.gantt_runs(k, trials=min(trials, 5 * k), duration=duration, seed=seed,
                                 modes=modes)  # fmt: skip
        _plot_to(lambda: speedup_figure(table, runs, plot))


@simulate.command()
@click.option(
    "--instances",
    default="1,10,100",
    show_default=True,
    callback=_ints("instances"),
    help="Instance counts to compare.",
)
@click.option(
    "--market", "markets", default="on-demand,spot", show_default=True, callback=_choices(MARKETS)
)
@click.option("--trials", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--duration", default="constant:60", show_default=True, help="Trial durations.")
@click.option(
    "--price",
    default="0.09",
    show_default=True,
    callback=_floats,
    help="On-demand USD per instance-hour; a list gives one row per price.",
)
@spot_discount_option
@billing_option
@click.option(
    "--startup-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Instance start-up time (billed).",
)
@click.option(
    "--overhead-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Per-trial launch overhead.",
)
@preemption_rate_option
@grace_option
@click.option(
    "--failure-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Worker failures per worker-hour.",
)
@click.option("--walltime-s", type=float, default=None, help="Instances retire after this long.")
@click.option(
    "--checkpoint-interval-s",
    type=float,
    default=None,
    help="Trials checkpoint this often; lost work restarts from the last one.",
)
@click.option(
    "--stragglers",
    default=None,
    callback=_stragglers,
    help="PROBABILITY:FACTOR, e.g. 0.01:10 (1 % of trials take 10x longer).",
)
@click.option("--mode", type=click.Choice(MODES), default="async", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True)
@seed_option
@_format
@_wide
@_plot
def cost(
    instances: list[int], markets: list[str], trials: int, duration: str, price: list[float],
    spot_discount: float, billing: str, startup_s: float, overhead_s: float,
    preemption_rate: float, grace_s: float, failure_rate: float, walltime_s: float | None,
    checkpoint_interval_s: float | None, stragglers: tuple[float, float], mode: str,
    repeats: int, seed: int, fmt: str, wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Time and cost per instance count and market (on-demand, spot)."""
    from simulate import tables

    table = _run(
        lambda: tables.cost_table(
            instances, markets=markets, trials=trials, duration=duration, price=price,
            spot_discount=spot_discount, billing=billing, startup_s=startup_s,
            overhead_s=overhead_s, preemption_rate=preemption_rate, grace_s=grace_s,
            failure_rate=failure_rate, walltime_s=walltime_s,
            checkpoint_interval_s=checkpoint_interval_s, straggler_prob=stragglers[0],
            straggler_factor=stragglers[1], mode=mode, repeats=repeats, seed=seed,
        )
    )  # fmt: skip
    _emit(table, fmt, COST_VIEW, wide)
    if plot:
        from simulate.plots import cost_figure

        _plot_to(lambda: cost_figure(table, plot))


@simulate.command()
@click.option(
    "--schedulers",
    "names",
    default=None,
    help="Comma-separated scheduler names (default: fifo and every registered one "
    "of sha, hyperband, asha, async_hyperband).",
)
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--trials", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--curve",
    default="power:steps=27,noise=0.01",
    show_default=True,
    help="Learning curves: power:steps=27,rate=1,noise=0.01 or exp:steps=20,scale=5.",
)
@click.option(
    "--epoch",
    default="lognormal:mean=10,sigma=0.3",
    show_default=True,
    help="Seconds per epoch (a duration SPEC, drawn once per trial).",
)
@click.option(
    "--target",
    type=float,
    default=None,
    help="Loss to reach (default: the --target-quantile of the space's final losses).",
)
@click.option("--target-quantile", type=float, default=0.01, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@seed_option
@_format
@_wide
@_plot
def schedulers(
    names: str | None, workers: int, trials: int, curve: str, epoch: str, target: float | None,
    target_quantile: float, repeats: int, seed: int, fmt: str, wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Time to target for random search vs SHA, ASHA and Hyperband on synthetic curves."""
    from simulate import tables

    table = _run(
        lambda: tables.scheduler_table(
            _split(names) if names else None, workers=workers, trials=trials, curve=curve,
            epoch=epoch, target=target, target_quantile=target_quantile, repeats=repeats,
            seed=seed,
        )
    )  # fmt: skip
    _emit(table, fmt, SCHEDULER_VIEW, wide)
    if plot:
        from simulate.plots import scheduler_figure

        _plot_to(lambda: scheduler_figure(table, plot))


def _plot_to(draw: Callable[[], Any]) -> None:
    try:
        path = draw()
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}", err=True)
