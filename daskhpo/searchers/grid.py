"""Grid search: every combination of the grid domains, each once per pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from daskhpo.searchers.base import Searcher


class GridSearcher(Searcher):
    """Walks the cross product of the space's ``grid`` domains.

    The order is ``itertools.product`` over the grid parameters in the order the space names
    them, the last one varying fastest. Non-grid domains are sampled afresh for every point.
    After the last combination the walk starts again (so ``num_trials = k * grid_size`` runs
    each combination ``k`` times), like ``num_samples`` with grid search in Ray Tune.
    """

    def __init__(self, repeat: bool = True) -> None:
        self._repeat = repeat
        self._points: Iterator[dict[str, Any]] | None = None

    def suggest(self, trial_id: int) -> dict[str, Any] | None:
        if self._points is None:
            self._points = self.space.grid_points()
        point = next(self._points, None)
        if point is None:
            if not self._repeat:
                return None
            self._points = self.space.grid_points()
            point = next(self._points)
        return self.space.sample(self.rng, fixed=point)
