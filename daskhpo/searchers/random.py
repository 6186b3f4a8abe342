"""Random search: every configuration an independent draw from the space."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from daskhpo.searchers.base import Searcher


class RandomSearcher(Searcher):
    """Independent draws from the space, after any ``points_to_evaluate``.

    ``points_to_evaluate`` are configurations to try first (for example the current defaults);
    parameters they leave out are sampled.
    """

    def __init__(self, points_to_evaluate: Iterable[Mapping[str, Any]] | None = None) -> None:
        self._initial = [dict(p) for p in points_to_evaluate or ()]

    def suggest(self, trial_id: int) -> dict[str, Any] | None:
        fixed = self._initial.pop(0) if self._initial else None
        if fixed is not None:
            unknown = sorted(set(fixed) - set(self.space.names))
            if unknown:
                raise ValueError(
                    f"points_to_evaluate names parameters that are not in the space: {unknown}; "
                    f"the space has {self.space.names}"
                )
        return self.space.sample(self.rng, fixed=fixed)
