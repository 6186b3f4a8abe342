"""Tables as a person reads them in a terminal: chosen columns, one number format per column.

A column's format is picked from all of its values, not value by value, so ``11,590`` never
sits beside ``1.159e+04``: whole numbers get thousands separators, shares (utilization,
efficiency, reached) are percentages, other numbers get as many decimals as the smallest one
needs for four significant digits, and the whole column is in scientific notation only when
fixed decimals would be unreadable. Missing values print as ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PERCENT_COLUMNS", "TERMINAL_WIDTH", "column_format", "render"]

#: Columns holding shares of one, shown as percentages.
PERCENT_COLUMNS = ("efficiency", "utilization", "reached")
#: What a default view must fit.
TERMINAL_WIDTH = 100
#: Decimals at most before a column switches to scientific notation.
_MAX_DECIMALS = 6
#: Magnitudes from which fixed-point numbers are too long to read.
_HUGE = 1e12


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number (bools and text are not)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return None


def column_format(name: str, values: Sequence[float]) -> Callable[[float], str]:
    """The one format for a numeric column ``name`` holding ``values``."""
    finite = [v for v in values if math.isfinite(v)]

    def wrap(fmt: Callable[[float], str]) -> Callable[[float], str]:
        def show(v: float) -> str:
            if math.isnan(v):
                return "-"
            return fmt(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")

        return show

    if name in PERCENT_COLUMNS:
        return wrap(lambda v: f"{v:.1%}" if name != "reached" else f"{v:.0%}")
    magnitudes = [abs(v) for v in finite if v != 0]
    if not magnitudes:
        return wrap(lambda v: f"{v:,.0f}")
    if max(magnitudes) >= _HUGE:
        return wrap(lambda v: f"{v:.3e}")
    if all(float(v).is_integer() for v in finite):
        return wrap(lambda v: f"{v:,.0f}")
    decimals = 3 - math.floor(math.log10(min(magnitudes)))
    if decimals > _MAX_DECIMALS:
        return wrap(lambda v: f"{v:.3e}")
    places = max(decimals, 0)
    return wrap(lambda v: f"{v:,.{places}f}")


def render(table: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """``table`` (only ``columns``, in that order, when given) as aligned text: numbers right,
    text left, two spaces between columns."""
    names = [c for c in (columns if columns is not None else table.columns) if c in table]
    cells: list[list[str]] = []
    numeric: list[bool] = []
    for name in names:
        raw = list(table[name])
        numbers = [_number(v) for v in raw]
        is_number = bool(raw) and all(n is not None for n in numbers)
        if is_number:
            values = [float(n) for n in numbers if n is not None]
            show = column_format(str(name), values)
            cells.append([show(v) for v in values])
        else:
            cells.append(["-" if v is None else str(v) for v in raw])
        numeric.append(is_number)
    widths = [
        max([len(str(name)), *(len(c) for c in col)])
        for name, col in zip(names, cells, strict=True)
    ]

    def line(items: Sequence[str]) -> str:
        parts = [
            item.rjust(width) if right else item.ljust(width)
            for item, width, right in zip(items, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rows = [line([str(n) for n in names])]
    rows.extend(line([col[i] for col in cells]) for i in range(len(table)))
    return "\n".join(rows)
