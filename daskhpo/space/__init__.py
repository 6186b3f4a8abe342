"""Search spaces: hyperparameter domains, their YAML form, sampling and grid enumeration.

A :class:`SearchSpace` maps parameter names to :class:`Domain` objects (sampled) or to
constants (copied into every configuration). Every random draw takes an explicit, seeded
``numpy.random.Generator`` so a search can be replayed exactly. The YAML form is described
in :mod:`daskhpo.space.parsing`.

One job per module: ``domains`` (the domain classes and factories), ``parsing`` (the
plain-dict form), ``sampling`` (one configuration from a generator), ``grids`` (grid
enumeration), ``search_space`` (the validated mapping that ties them together).
"""

from __future__ import annotations

from daskhpo.errors import SpaceError as SpaceError  # re-exported
from daskhpo.space.domains import (
    Choice,
    Domain,
    Grid,
    LogRandInt,
    LogUniform,
    RandInt,
    Uniform,
    choice,
    grid,
    lograndint,
    loguniform,
    randint,
    uniform,
)
from daskhpo.space.search_space import SearchSpace, as_space

__all__ = [
    "Choice",
    "Domain",
    "Grid",
    "LogRandInt",
    "LogUniform",
    "RandInt",
    "SearchSpace",
    "SpaceError",
    "Uniform",
    "as_space",
    "choice",
    "grid",
    "lograndint",
    "loguniform",
    "randint",
    "uniform",
]
