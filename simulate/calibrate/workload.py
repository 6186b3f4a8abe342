"""The simulator's :class:`~simulate.workloads.Workload` drawn from a calibration."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from simulate.calibrate.features import Array
from simulate.calibrate.results import MeasuredResults
from simulate.draws import STREAM_CURVE, STREAM_DURATION, STREAM_METRIC, KeyedDraws

if TYPE_CHECKING:
    from simulate.calibrate.calibration import Calibration

__all__ = ["CalibratedWorkload"]


class CalibratedWorkload:
    """A :class:`~simulate.workloads.Workload` drawn from a :class:`Calibration`.

    Per-trial draws depend only on (seed, stream, trial id), like the synthetic workloads, so
    runs with one seed see the same trials whatever the scheduler or the cluster. Trials that
    return one result get measured ones (:class:`~simulate.calibrate.results.MeasuredResults`).
    """

    def __init__(self, calibration: Calibration, *, seed: int = 0, steps: int | None = None):
        cal = calibration
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
        if steps is not None and (steps < 1 or cal.curve is None):
            raise ValueError(
                f"steps={steps!r}: only a calibration with learning curves has steps, and "
                "they must be >= 1"
            )
        self.calibration = cal
        self.metric = cal.metric
        self.steps = cal.steps if steps is None else steps
        self._columns = cal.columns
        self._time = KeyedDraws(seed, STREAM_DURATION, lambda rng, n: rng.random(n))
        self._value = KeyedDraws(seed, STREAM_METRIC, lambda rng, n: rng.random(n))
        self._shape: Array | None = None
        self._noise: KeyedDraws | None = None
        self._last: tuple[int, Mapping[str, Any], list[float]] | None = None
        self._results = (
            MeasuredResults(cal.data.trials, cal.final, cal.columns, cal.space)
            if not self.steps
            else None
        )
        if self.steps and cal.curve is not None:
            self._shape = cal.curve.shape(np.arange(1, self.steps + 1, dtype=np.float64))
            if cal.curve.noise > 0:
                width = self.steps
                self._noise = KeyedDraws(
                    seed, STREAM_CURVE, lambda rng, n: rng.standard_normal((n, width))
                )

    def _row(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        """The features of a trial's configuration (kept for the next call of the trial)."""
        cached = self._last
        if cached is not None and cached[0] == trial_id and cached[1] is config:
            return cached[2]
        row = [1.0, *(c.value(config) for c in self._columns)]
        self._last = (trial_id, config, row)
        return row

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """Seconds of work for the full run (all steps)."""
        seconds = math.exp(
            self.calibration.durations.draw(self._row(trial_id, config), self._time[trial_id])
        )
        return seconds * self.steps if self.steps else seconds

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        """The metric after each step (or the one final value)."""
        cal = self.calibration
        row = self._row(trial_id, config)
        u = self._value[trial_id]
        if self._shape is not None and cal.curve is not None:
            c = cal.curve
            floor, gain = c.levels(row)
            values = floor + gain * self._shape + c.offset(u)
            if self._noise is not None:
                values = values + c.noise * np.asarray(self._noise[trial_id])
            result: list[float] = values.tolist()
            return result
        if self._results is not None and len(self._results):
            return [self._results.value(config, row, u)]
        return [float(u)]  # nothing was measured: a placeholder no prediction uses
