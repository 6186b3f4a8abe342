"""Results of trials that return one value, drawn from the results the experiment measured.

A simulated trial's result is never a value the fit invents: a configuration the experiment
ran gets the result it measured, and any other gets a measured result resampled at the rank
the fitted regression gives it among configurations of the space. The simulated results so
have the measured distribution (a regression that extrapolates cannot make a loss negative),
while configurations the fit finds better still get the better results.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from daskhpo.space import SearchSpace
from simulate.calibrate.features import Column
from simulate.calibrate.observe import TrialData
from simulate.calibrate.regression import LinearFit

__all__ = ["REFERENCE_CONFIGS", "MeasuredResults", "config_key"]

#: Configurations of the space that rank a regression's draws (a fixed, seeded sample).
REFERENCE_CONFIGS = 1024
_REFERENCE_SEED = 0x5EED


def config_key(config: Mapping[str, Any]) -> str:
    """A configuration as text that is equal for equal configurations."""
    return json.dumps(dict(config), sort_keys=True, default=str)


class MeasuredResults:
    """The measured results of ``trials``, handed out by configuration and rank."""

    def __init__(
        self,
        trials: Sequence[TrialData],
        fit: LinearFit | None,
        columns: Sequence[Column],
        space: Mapping[str, Any],
    ) -> None:
        scored = [t for t in trials if t.final is not None]
        self._known = {config_key(t.config): float(t.final or 0.0) for t in scored}
        self._sorted = sorted(float(t.final or 0.0) for t in scored)
        self._fit = fit if fit is not None and fit.kind == "regression" else None
        self._columns = tuple(columns)
        self._space = dict(space)
        self._reference: list[float] | None = None

    def __len__(self) -> int:
        return len(self._sorted)

    def value(self, config: Mapping[str, Any], row: Sequence[float], u: float) -> float:
        """The result of a trial with ``config`` (design ``row``) and uniform draw ``u``."""
        known = self._known.get(config_key(config))
        if known is not None:
            return known
        n = len(self._sorted)
        rank = u if self._fit is None else self._rank(self._fit.draw(row, u))
        return self._sorted[min(int(rank * n), n - 1)]

    def _rank(self, draw: float) -> float:
        """Where ``draw`` falls among the regression's draws over the space, in [0, 1]."""
        if self._reference is None:
            assert self._fit is not None
            fit = self._fit
            rng = np.random.default_rng(_REFERENCE_SEED)
            space = SearchSpace.from_dict(self._space)
            draws = []
            for u in rng.random(REFERENCE_CONFIGS).tolist():
                config = space.sample(rng)
                draws.append(fit.draw([1.0, *(c.value(config) for c in self._columns)], u))
            self._reference = sorted(draws)
        return bisect.bisect_left(self._reference, draw) / len(self._reference)
