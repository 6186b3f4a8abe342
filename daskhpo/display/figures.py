"""Making and saving figures without pyplot, and axes that label the values they show.

matplotlib loads only when a figure is made; figures are built from ``Figure`` directly, so
plotting keeps no global state and works without a display (and leaves a notebook's backend
alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure


def figure_class() -> type[Figure]:
    """The matplotlib Figure class, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'daskhpo[plot]'") from exc
    return Figure


def new_figure(**options: Any) -> Figure:
    """A matplotlib ``Figure(**options)`` made without pyplot, for figures drawn elsewhere
    (the simulator's); an ImportError that says how to install matplotlib if it is missing."""
    return figure_class()(**options)


def axes_for(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``size`` inches with one axes."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = new_figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def finish(fig: Figure, path: str | Path | None) -> Figure:
    """Write ``fig`` to ``path`` (a PNG, say) when given; returns it."""
    if path is not None:
        fig.savefig(Path(path), dpi=110)
    return fig


def log_ticks(values: Iterable[float], most: int = 6) -> list[float]:
    """Round numbers (1, 2, 5 times a power of ten, or finer) inside the range of ``values``,
    at least two of them: ticks for a log axis whose values span less than a few decades."""
    positive = [float(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    if not positive:
        return []
    lo, hi = min(positive), max(positive)
    if hi / lo < 1.000001:
        return [_round(lo)]
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [
            _round(m * 10.0**k)
            for k in decades
            for m in mantissas
            if lo * 0.999 <= m * 10.0**k <= hi * 1.001
        ]
        if len(ticks) >= 3 or (len(ticks) == 2 and mantissas[-1] == 9):
            step = math.ceil(len(ticks) / most)
            return ticks[::step]
    return [_round(lo), _round(math.sqrt(lo * hi)), _round(hi)]


def _round(value: float) -> float:
    """``value`` to two significant digits (0.30000000000000004 is 0.3)."""
    return float(f"{value:.2g}")


def label_log_axis(axis: Axis, values: Iterable[float]) -> None:
    """Put :func:`log_ticks` of ``values`` on a log-scaled ``axis``, as plain numbers, with
    unlabelled minor ticks (matplotlib's own labels only powers of ten, and may print none
    near the values, or crowd the minor ones)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ticks = log_ticks(values)
    if not ticks:
        return
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())
