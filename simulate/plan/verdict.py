"""The verdict of a plan: one plain sentence recommending a setting, and times people read."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from simulate.plan.options import check_rate

if TYPE_CHECKING:
    from simulate.plan.sweep import PlanResult

__all__ = ["describe", "human_time", "money", "recommend"]


def human_time(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.2 h``, ``2.1 days``."""
    if not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


def money(usd: float) -> str:
    """``$1,234.50``; below a dollar two significant digits (``$0.0031``), so that small
    costs are told apart instead of all reading ``$0.00``."""
    if not math.isfinite(usd):
        return "-"
    if usd == 0 or abs(usd) >= 1:
        return f"${usd:,.2f}"
    return f"${usd:.2g}"


def _record(frame: pd.DataFrame) -> dict[str, Any]:
    """The first row of ``frame`` as a plain dict."""
    return {str(k): v for k, v in frame.iloc[0].items()}


def _setting(row: Mapping[str, Any]) -> str:
    return f"{row['scheduler']} on {int(row['workers'])} {row['market']} worker(s)"


def _figures(row: Mapping[str, Any]) -> str:
    return (
        f"{human_time(row['makespan_s'])} ({human_time(row['makespan_s_low'])}–"
        f"{human_time(row['makespan_s_high'])}), {money(row['cost_usd'])} "
        f"({money(row['cost_usd_low'])}–{money(row['cost_usd_high'])})"
    )


def recommend(table: pd.DataFrame, *, deadline_h: float | None = None) -> str:
    """One sentence: the cheapest setting that finishes by ``deadline_h`` hours (by the top
    of its band), or the fastest one when none does; without a deadline, the cheapest and
    the fastest."""
    if table.empty:
        return "Nothing to recommend: the plan has no rows."
    rows = table.sort_values(["cost_usd", "makespan_s", "workers"], kind="stable")
    fastest = _record(table.sort_values(["makespan_s", "cost_usd"], kind="stable"))
    spot_note = ""
    if deadline_h is not None:
        hours = check_rate("deadline_h", deadline_h)
        limit = hours * 3600.0
        ok = rows[rows["makespan_s_high"] <= limit]
        if ok.empty:
            return (
                f"No setting finishes within {human_time(limit)}; the fastest is "
                f"{_setting(fastest)}: {_figures(fastest)}."
            )
        pick = _record(ok)
        if pick["market"] == "spot" and not pick.get("preemption_rate", 0.0):
            spot_note = " (no preemptions assumed: give a preemption rate to price the risk)"
        return (
            f"Cheapest within {human_time(limit)}: {_setting(pick)}: {_figures(pick)}{spot_note}."
        )
    pick = _record(rows)
    if pick["market"] == "spot" and not pick.get("preemption_rate", 0.0):
        spot_note = " (no preemptions assumed)"
    return (
        f"Cheapest: {_setting(pick)}: {_figures(pick)}{spot_note}. "
        f"Fastest: {_setting(fastest)}: {_figures(fastest)}."
    )


def describe(result: PlanResult) -> str:
    """The calibration summary as text (for notebooks and the command line)."""
    return "\n".join(result.calibration.summary())
