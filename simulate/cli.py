"""``daskhpo simulate``: speed-up, cost and scheduler tables from the command line.

Parsing and printing only; the work is in :mod:`simulate.tables`. Output is a table in the
terminal (its main columns, fitting 100 characters; ``--wide`` shows every column), or
``--format csv|json`` for scripts (every column; same seed, same bytes), and ``--plot FILE.png``
writes the matching figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from simulate.cli_options import (
    COST_VIEW,
    FORMATS,
    SCHEDULER_VIEW,
    SPEEDUP_VIEW,
    billing_option,
    choice_list,
    emit,
    float_list,
    format_option,
    grace_option,
    int_list,
    overhead_option,
    parse_stragglers,
    plot_option,
    preemption_rate_option,
    progress_for,
    report_overhead_option,
    run_table,
    seed_option,
    split_names,
    spot_discount_option,
    sweep_options,
    table_option,
    wide_option,
)
from simulate.cluster import MARKETS
from simulate.faults import FaultModel
from simulate.tables import MODES

__all__ = [
    "COST_VIEW",
    "FORMATS",
    "SCHEDULER_VIEW",
    "SPEEDUP_VIEW",
    "billing_option",
    "grace_option",
    "preemption_rate_option",
    "seed_option",
    "simulate",
    "spot_discount_option",
]


@click.group(name="simulate")
def simulate() -> None:
    """Predict what a search costs in time and money, on a virtual clock."""


@simulate.command()
@click.option(
    "--workers",
    default="1,2,4,8",
    show_default=True,
    callback=int_list("workers"),
    help="Worker counts to compare, e.g. 1,2,4,8.",
)
@click.option("--trials", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--mode",
    "modes",
    default="sync,async",
    show_default=True,
    callback=choice_list(MODES),
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
@overhead_option
@report_overhead_option
@click.option(
    "--speeds",
    default="1",
    show_default=True,
    callback=float_list,
    help="Worker speed factors, cycled over workers (e.g. 1,0.5).",
)
@click.option(
    "--failure-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Worker failures per worker-hour.",
)
@click.option(
    "--run-tuner",
    is_flag=True,
    help="Simulate every row through the Tuner, including the ones computed in closed form "
    "(no reports, no faults, alike workers: same numbers, slower).",
)
@table_option
@sweep_options
@format_option
@wide_option
@plot_option
def speedup(
    workers: list[int], trials: int, modes: list[str], duration: str, repeats: int, seed: int,
    startup_s: float, overhead_s: float, report_overhead_s: float, speeds: list[float],
    failure_rate: float,
    run_tuner: bool, table_path: str | None, jobs: int,
    address: str | None, cluster: Any, quiet: bool, fmt: str, wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Sync vs async makespan and speed-up for a list of worker counts."""
    from simulate import tables

    progress = progress_for("speedup", quiet)
    table = run_table(
        lambda: tables.speedup_table(
            workers, trials=trials, modes=modes, duration=duration, repeats=repeats, seed=seed,
            startup_s=startup_s, overhead_s=overhead_s, report_overhead_s=report_overhead_s,
            speeds=speeds,
            faults=FaultModel(failure_rate=failure_rate), table=table_path, jobs=jobs,
            address=address, cluster=cluster, progress=progress, closed_form=not run_tuner,
        ),
        progress,
    )  # fmt: skip
    emit(table, fmt, SPEEDUP_VIEW, wide)
    if plot:
        from simulate.plots import speedup_figure

        k = min(max(workers), 8) if max(workers) > 1 else 1
        runs = tables.gantt_runs(k, trials=min(trials, 5 * k), duration=duration, seed=seed,
                                 modes=modes, table=table_path)  # fmt: skip
        _plot_to(lambda: speedup_figure(table, runs, plot))


@simulate.command()
@click.option(
    "--instances",
    default="1,10,100",
    show_default=True,
    callback=int_list("instances"),
    help="Instance counts to compare.",
)
@click.option(
    "--market",
    "markets",
    default="on-demand,spot",
    show_default=True,
    callback=choice_list(MARKETS),
)
@click.option("--trials", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--duration", default="constant:60", show_default=True, help="Trial durations.")
@click.option(
    "--price",
    default="0.09",
    show_default=True,
    callback=float_list,
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
@overhead_option
@report_overhead_option
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
    callback=parse_stragglers,
    help="PROBABILITY:FACTOR, e.g. 0.01:10 (1 % of trials take 10x longer).",
)
@click.option("--mode", type=click.Choice(MODES), default="async", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True)
@seed_option
@table_option
@sweep_options
@format_option
@wide_option
@plot_option
def cost(
    instances: list[int], markets: list[str], trials: int, duration: str, price: list[float],
    spot_discount: float, billing: str, startup_s: float, overhead_s: float,
    report_overhead_s: float,
    preemption_rate: float, grace_s: float, failure_rate: float, walltime_s: float | None,
    checkpoint_interval_s: float | None, stragglers: tuple[float, float], mode: str,
    repeats: int, seed: int, table_path: str | None, jobs: int, address: str | None,
    cluster: Any, quiet: bool, fmt: str, wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Time and cost per instance count and market (on-demand, spot)."""
    from simulate import tables

    progress = progress_for("cost", quiet)
    table = run_table(
        lambda: tables.cost_table(
            instances, markets=markets, trials=trials, duration=duration, price=price,
            spot_discount=spot_discount, billing=billing, startup_s=startup_s,
            overhead_s=overhead_s, report_overhead_s=report_overhead_s,
            preemption_rate=preemption_rate, grace_s=grace_s,
            failure_rate=failure_rate, walltime_s=walltime_s,
            checkpoint_interval_s=checkpoint_interval_s, straggler_prob=stragglers[0],
            straggler_factor=stragglers[1], mode=mode, repeats=repeats, seed=seed,
            table=table_path, jobs=jobs,
            address=address, cluster=cluster, progress=progress,
        ),
        progress,
    )  # fmt: skip
    emit(table, fmt, COST_VIEW, wide)
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
@click.option(
    "--table", "table_path", type=click.Path(dir_okay=False), default=None,
    help="Replay the learning curves of this CSV or Parquet table (config columns, step, "
    "loss or val_loss, time_s) instead of --curve/--epoch; sampled configurations off its "
    "grid replay the nearest one.",
)  # fmt: skip
@overhead_option
@report_overhead_option
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@seed_option
@sweep_options
@format_option
@wide_option
@plot_option
def schedulers(
    names: str | None, workers: int, trials: int, curve: str, epoch: str, target: float | None,
    target_quantile: float, table_path: str | None, overhead_s: float, report_overhead_s: float,
    repeats: int, seed: int, jobs: int,
    address: str | None, cluster: Any, quiet: bool, fmt: str, wide: bool, plot: str | None,
) -> None:  # fmt: skip
    """Time to target for random search vs SHA, ASHA and Hyperband on synthetic curves, or on
    a table of real learning curves (--table)."""
    from simulate import tables

    progress = progress_for("schedulers", quiet)
    table = run_table(
        lambda: tables.scheduler_table(
            split_names(names) if names else None, workers=workers, trials=trials, curve=curve,
            epoch=epoch, target=target, target_quantile=target_quantile, repeats=repeats,
            seed=seed, table=table_path, overhead_s=overhead_s,
            report_overhead_s=report_overhead_s, jobs=jobs, address=address, cluster=cluster,
            progress=progress,
        ),
        progress,
    )  # fmt: skip
    emit(table, fmt, SCHEDULER_VIEW, wide)
    if plot:
        from simulate.plots import scheduler_figure

        _plot_to(lambda: scheduler_figure(table, plot))


def _plot_to(draw: Callable[[], Any]) -> None:
    try:
        path = draw()
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}", err=True)
