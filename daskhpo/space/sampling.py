"""Drawing one configuration from a space's parameters with a seeded generator.

Parameters are visited in insertion order, so the same generator state and the same order give
the same configuration; every constant is deep-copied so callers may mutate what they get.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from daskhpo.errors import SpaceError
from daskhpo.space.domains import Domain

__all__ = ["sample_config"]


def sample_config(
    params: Mapping[str, Any], rng: np.random.Generator, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One configuration of ``params`` (``{name: Domain or constant}``); keys in ``fixed``
    (e.g. a grid point) take the given value and are not sampled."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"sample needs a numpy.random.Generator, got {rng!r} ({type(rng).__name__}); "
            f"pass numpy.random.default_rng(seed)"
        )
    fixed = {} if fixed is None else fixed
    unknown = [k for k in fixed if k not in params]
    if unknown:
        raise SpaceError(
            f"fixed values name parameters that are not in the space: {unknown!r}; "
            f"the space has {list(params)!r}"
        )
    config: dict[str, Any] = {}
    for name, value in params.items():
        if name in fixed:
            config[name] = copy.deepcopy(fixed[name])
        elif isinstance(value, Domain):
            config[name] = value.sample(rng)
        else:
            config[name] = copy.deepcopy(value)
    return config
