"""Replay of real learning curves from a table (CSV or Parquet), as a simulator workload.

A table has one row per configuration and step: the configuration's columns, a ``step``
column (1, 2, ... for every configuration alike), the metric's column (``loss``, else
``val_loss``, unless told; lower is better)
and optionally ``time_s``, the seconds that step took. A trial replays the rows of its
configuration: one report per step, for the table's total time (spread evenly over the steps,
as the simulator's backend does for every workload; 1 s per step without ``time_s``).
Every other column is a configuration column, except those of :data:`METRIC_COLUMNS` (other
metrics the table keeps); ``config_columns`` names them instead.

**Off the grid.** A sampled configuration that is not a row of the table is replayed as the
*nearest* configuration on its grid (``off_grid="nearest"``, the default): numeric columns are
compared on their range scaled to [0, 1] (on a log scale when every value is positive and they
span more than a factor of 10), other columns count 1 when they differ; ties go to the first
configuration in the table. ``off_grid="error"`` refuses such a configuration instead.
:meth:`TabulatedWorkload.space` samples the grid itself, so nothing falls off it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daskhpo.errors import ConfigError
from daskhpo.space import SearchSpace, choice

__all__ = ["METRIC_COLUMNS", "OFF_GRID", "TabulatedWorkload", "read_table"]

OFF_GRID = ("nearest", "error")
#: The metric columns looked for when none is named, in this order.
_METRICS = ("loss", "val_loss")
#: Columns taken for metrics, not configuration, when ``config_columns`` is not given.
METRIC_COLUMNS = ("loss", "val_loss", "accuracy", "val_accuracy", "error", "val_error")


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (``.csv``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"learning-curve table {str(p)!r} does not exist; give a CSV or Parquet file"
        )
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(p, comment="#")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ConfigError(f"learning-curve table {str(p)!r} cannot be read: {exc}") from None
    raise ConfigError(
        f"learning-curve table {str(p)!r} has the suffix {suffix!r}; use .csv or .parquet"
    )


class TabulatedWorkload:
    """Trials that replay a table's learning curves (see the module docstring for the format)."""

    def __init__(
        self,
        table: str | Path | pd.DataFrame,
        *,
        metric: str | None = None,
        step: str = "step",
        time: str | None = "time_s",
        config_columns: Sequence[str] | None = None,
        off_grid: str = "nearest",
    ) -> None:
        source = "the table" if isinstance(table, pd.DataFrame) else repr(str(table))
        frame = table if isinstance(table, pd.DataFrame) else read_table(table)
        if off_grid not in OFF_GRID:
            raise ConfigError(f"off_grid must be one of {list(OFF_GRID)}, got {off_grid!r}")
        if frame.empty:
            raise ConfigError(f"learning-curve table {source} has no rows; it needs one per step")
        columns = [str(c) for c in frame.columns]
        if metric is None:
            metric = next((m for m in _METRICS if m in columns), _METRICS[0])
        self.metric: str = metric
        self.off_grid, self.source = off_grid, source
        for needed in (step, metric):
            if needed not in columns:
                raise ConfigError(
                    f"learning-curve table {source} has no {needed!r} column (it has "
                    f"{columns}); add it, or name the column to use"
                )
        time_column = time if time is not None and time in columns else None
        extra = {step, metric, *([time_column] if time_column is not None else [])}
        configs = list(config_columns) if config_columns is not None else [
            c for c in columns if c not in extra and c not in METRIC_COLUMNS
        ]  # fmt: skip
        missing = [c for c in configs if c not in columns]
        if missing or not configs:
            raise ConfigError(
                f"learning-curve table {source} needs configuration columns besides "
                f"{sorted(extra)}; missing: {missing or 'all'} (it has {columns})"
            )
        self.config_columns = configs
        steps = _numeric(frame[step], step, source)
        if (steps < 1).any() or (steps != np.floor(steps)).any():
            raise ConfigError(
                f"learning-curve table {source}: column {step!r} must hold whole numbers >= 1, "
                f"got {sorted(set(steps[(steps < 1) | (steps != np.floor(steps))]))[:5]}"
            )
        values = _numeric(frame[metric], metric, source)
        times = (
            _numeric(frame[time_column], time_column, source)
            if time_column is not None
            else np.ones(len(frame))
        )
        if ((times < 0) | ~np.isfinite(times)).any():
            raise ConfigError(f"learning-curve table {source}: column {time!r} must be >= 0")
        work = pd.DataFrame({"_step": steps, "_value": values, "_time": times})
        keys = [
            tuple(_plain(v) for v in row)
            for row in frame[configs].itertuples(index=False, name=None)
        ]
        work["_key"] = keys
        all_steps = sorted(set(steps.tolist()))
        if all_steps != list(range(1, len(all_steps) + 1)):
            raise ConfigError(
                f"learning-curve table {source}: steps must run 1, 2, ..., N, got {all_steps[:8]}"
            )
        self.steps = len(all_steps)
        self._curves: dict[Hashable, tuple[list[float], float]] = {}
        for key, rows in work.groupby("_key", sort=False):
            rows = rows.sort_values("_step")
            if rows["_step"].tolist() != all_steps:
                named = dict(zip(configs, key, strict=True))  # type: ignore[arg-type]
                raise ConfigError(
                    f"learning-curve table {source}: configuration {named} has steps "
                    f"{rows['_step'].astype(int).tolist()[:8]}, not each of 1..{self.steps} "
                    f"once; give every step of every configuration (or, if a column here is "
                    f"not a parameter, pass config_columns)"
                )
            self._curves[key] = (rows["_value"].astype(float).tolist(), float(rows["_time"].sum()))
        self._grid = list(self._curves)
        self._scales = [_Scale(frame[c]) for c in configs]
        self._nearest: dict[Hashable, Hashable] = {}

    def space(self) -> SearchSpace:
        """A search space over the table's grid: each column a choice of its values."""
        params: dict[str, Any] = {}
        for i, name in enumerate(self.config_columns):
            params[name] = choice(sorted({key[i] for key in self._grid}, key=_sort_key))  # type: ignore[index]
        return SearchSpace(params)

    def lookup(self, config: Mapping[str, Any]) -> Hashable:
        """The table's configuration replayed for ``config`` (itself, or the nearest)."""
        missing = [c for c in self.config_columns if c not in config]
        if missing:
            raise ConfigError(
                f"configuration {dict(config)} lacks the table's columns {missing}; the "
                f"space must have a parameter for each of {self.config_columns}"
            )
        key = tuple(_plain(config[c]) for c in self.config_columns)
        if key in self._curves:
            return key
        found = self._nearest.get(key)
        if found is None:
            if self.off_grid == "error":
                raise ConfigError(
                    f"configuration {dict(zip(self.config_columns, key, strict=True))} is not "
                    f"on the grid of the learning-curve table {self.source}; sample "
                    f"TabulatedWorkload.space(), or use off_grid='nearest'"
                )
            found = min(self._grid, key=lambda g: self._distance(key, g))  # type: ignore[arg-type]
            self._nearest[key] = found
        return found

    def _distance(self, a: tuple[Any, ...], b: tuple[Any, ...]) -> float:
        return sum(s.distance(x, y) ** 2 for s, x, y in zip(self._scales, a, b, strict=True))

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        return self._curves[self.lookup(config)][1]

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        return list(self._curves[self.lookup(config)][0])

    def final_values(self) -> list[float]:
        """The last value of every configuration's curve (for a target quantile)."""
        return [values[-1] for values, _ in self._curves.values()]

    def __repr__(self) -> str:
        size = f"{len(self._grid)} configurations x {self.steps} steps"
        return f"TabulatedWorkload({self.source}, {size})"


class _Scale:
    """How one configuration column measures distance."""

    def __init__(self, column: pd.Series) -> None:
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        self.numeric = bool(numeric)
        self.log = False
        self.low, self.span = 0.0, 1.0
        if self.numeric:
            values = column.astype(float)
            low, high = float(values.min()), float(values.max())
            self.log = low > 0 and high / low > 10
            if self.log:
                low, high = math.log(low), math.log(high)
            self.low, self.span = low, (high - low) or 1.0

    def distance(self, a: Any, b: Any) -> float:
        if not self.numeric:
            return 0.0 if a == b else 1.0
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            return 1.0
        if self.log:
            x, y = math.log(max(x, 1e-300)), math.log(max(y, 1e-300))
        return abs(x - y) / self.span


def _numeric(column: pd.Series, name: str, source: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    converted = pd.to_numeric(column, errors="coerce")
    bad = column[converted.isna()]
    if len(bad):
        raise ConfigError(
            f"learning-curve table {source}: column {name!r} must be numeric, got "
            f"{bad.iloc[0]!r} (row {int(bad.index[0])})"
        )
    return np.asarray(converted, dtype=np.float64)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so a config matches the table's keys."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))
