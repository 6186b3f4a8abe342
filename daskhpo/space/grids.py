"""Grid enumeration: the combinations of a space's :class:`Grid` parameters, each once.

Named ``grids`` so that the module never shadows the ``grid`` factory on the package.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from daskhpo.space.domains import Grid

__all__ = ["grid_names", "grid_points", "grid_size"]


def grid_names(params: Mapping[str, Any]) -> list[str]:
    """Names whose value is a :class:`Grid`, in insertion order."""
    return [k for k, v in params.items() if isinstance(v, Grid)]


def grid_size(params: Mapping[str, Any]) -> int:
    """Number of grid points: the product of the grid lengths, 1 if there is no grid."""
    return math.prod(len(params[k]) for k in grid_names(params))


def grid_points(params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Each combination of grid values once, as ``{grid name: value}``; the LAST grid
    parameter varies fastest (``itertools.product`` order); one empty dict with no grid."""
    names = grid_names(params)
    for combo in itertools.product(*(params[k].values for k in names)):
        yield dict(zip(names, copy.deepcopy(combo), strict=True))
