"""``daskhpo plan DIR``: predict time and cost of a search from an experiment that ran.

Parsing and printing only; the work is in :mod:`simulate.plan` and :mod:`simulate.calibrate`.
The table format shows what the calibration fitted and why, the predictions with their 90 %
bands and one recommendation; ``--format csv|json`` prints only the table (same seed, same
bytes), the recommendation going to stderr.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import pandas as pd

from simulate.cli import (
    FORMATS,
    billing_option,
    grace_option,
    preemption_rate_option,
    seed_option,
    spot_discount_option,
)
from simulate.cluster import MARKETS, parse_int_list


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _workers(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        return parse_int_list(value, "workers")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _markets(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    items = _split(value)
    bad = [item for item in items if item not in MARKETS]
    if bad or not items:
        raise click.BadParameter(
            f"{', '.join(map(repr, bad)) or repr(value)} is not one of {', '.join(MARKETS)}"
        )
    return items


def _emit(table: pd.DataFrame, fmt: str) -> None:
    """The table as text, CSV or JSON records (same table, same bytes)."""
    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.10g", lineterminator="\n"), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", double_precision=10))
    else:
        click.echo(table.to_string(index=False))


def _best_text(value: float, beyond: float, bounds: tuple[float, float] | None) -> str:
    """The predicted best value, or, when most runs' best lay beyond the measured values,
    which side of them it lies on (how far is not in the data)."""
    if bounds is None or not math.isfinite(value):
        return "n/a (no values measured)"
    if beyond >= 0.5:
        low, high = bounds
        edge = f"≤ {low:.4g}" if value - low <= high - value else f"≥ {high:.4g}"
        return f"{edge} (extrapolation)"
    return f"{value:.4g}"


def _table_view(
    table: pd.DataFrame, metric: str, bounds: tuple[float, float] | None
) -> pd.DataFrame:
    """The columns a person reads, as text."""
    from simulate.plan import human_time

    def money(v: float) -> str:
        return "-" if not math.isfinite(v) else f"${v:,.2f}" if v >= 0.01 else f"${v:.2g}"

    def number(v: float) -> str:
        return "-" if not math.isfinite(v) else f"{v:.4g}"

    view = pd.DataFrame(
        {
            "scheduler": table["scheduler"],
            "workers": table["workers"],
            "market": table["market"],
            "makespan": [human_time(v) for v in table["makespan_s"]],
            "90% band": [
                f"{human_time(lo)}–{human_time(hi)}"
                for lo, hi in zip(table["makespan_s_low"], table["makespan_s_high"], strict=True)
            ],
            "instance-h": [number(v) for v in table["instance_hours"]],
            "cost": [money(v) for v in table["cost_usd"]],
            "cost band": [
                f"{money(lo)}–{money(hi)}"
                for lo, hi in zip(table["cost_usd_low"], table["cost_usd_high"], strict=True)
            ],
            "utilization": [f"{v:.0%}" for v in table["utilization"]],
            f"best {metric}": [
                _best_text(v, beyond, bounds)
                for v, beyond in zip(
                    table["best_value"], table["best_value_beyond_data"], strict=True
                )
            ],
        }
    )
    return view


@click.command(name="plan")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--workers",
    default="8,64,512",
    show_default=True,
    callback=_workers,
    help="Worker counts to predict, e.g. 8,64,512.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="Trials in the planned search (default: the experiment's num_trials).",
)
@click.option(
    "--scheduler",
    "schedulers",
    default=None,
    help="Comma-separated scheduler names, e.g. asha,fifo (default: the experiment's own).",
)
@click.option("--market", "markets", default="on-demand,spot", show_default=True, callback=_markets)
@click.option(
    "--price",
    type=click.FloatRange(min=0),
    default=0.09,
    show_default=True,
    help="On-demand USD per instance-hour.",
)
@spot_discount_option
@billing_option
@preemption_rate_option
@grace_option
@click.option(
    "--startup-s",
    type=click.FloatRange(min=0),
    default=None,
    help="Instance start-up time (default: the workers' first start as measured).",
)
@click.option(
    "--overhead-s",
    type=click.FloatRange(min=0),
    default=None,
    help="Per-trial overhead (default: as measured between trials on a worker).",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Hours: recommend the cheapest setting that finishes by then.",
)
@click.option(
    "--same-configs",
    is_flag=True,
    help="Simulate the configurations the experiment's own seed tries (predicts that very "
    "search, extended) instead of new ones in each repeat.",
)
@click.option(
    "--until",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Calibrate from the first SECONDS of the experiment only (a search still running, "
    "or the first part of a long one).",
)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@seed_option
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Terminal table (with the fit and a recommendation), or csv/json for scripts.",
)  # fmt: skip
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write a figure (cost vs time, best value over time) to this PNG file.",
)
@click.option(
    "--save-calibration",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the fitted workload model to this JSON file.",
)
def plan(
    directory: Path, workers: list[int], trials: int | None, schedulers: str | None,
    markets: list[str], price: float, spot_discount: float, billing: str,
    preemption_rate: float, grace_s: float, startup_s: float | None, overhead_s: float | None,
    deadline: float | None, same_configs: bool, until: float | None, repeats: int, seed: int,
    fmt: str,
    plot: str | None, save_calibration: Path | None,
) -> None:  # fmt: skip
    """Predict time and cost of a search on other clusters and schedulers, calibrated from
    the experiment in DIR (a small search that ran for real)."""
    from simulate.calibrate import calibrate
    from simulate.plan import plan_figure, recommend, simulate_plan

    try:
        cal = calibrate(directory, until=until)
        search_seed = None
        if same_configs:
            search_seed = cal.measured.get("seed")
            if search_seed is None:
                raise ValueError(
                    f"--same-configs needs the experiment's seed, which {directory} does not "
                    "record; leave the flag out"
                )
        result = simulate_plan(
            cal, workers=workers, trials=trials,
            schedulers=_split(schedulers) if schedulers else None, markets=markets,
            price=price, spot_discount=spot_discount, billing=billing,
            preemption_rate=preemption_rate, grace_s=grace_s, startup_s=startup_s,
            overhead_s=overhead_s, repeats=repeats, seed=seed, search_seed=search_seed,
        )  # fmt: skip
        verdict = recommend(result.table, deadline_h=deadline)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if save_calibration is not None:
        cal.save(save_calibration)
    if fmt == "table":
        for line in cal.summary():
            click.echo(line)
        click.echo("")
        _emit(_table_view(result.table, cal.metric, cal.data.metric_range), "table")
        click.echo("")
        click.echo(verdict)
    else:
        _emit(result.table, fmt)
        click.echo(verdict, err=True)
    if plot:
        try:
            path = plan_figure(result, plot)
        except ImportError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"wrote {path}", err=True)
