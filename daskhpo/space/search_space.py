"""The search space: a validated, ordered mapping of parameter names to domains or constants.

A :class:`SearchSpace` maps parameter names to :class:`Domain` objects (sampled) or to
constants (copied into every configuration). Every random draw takes an explicit, seeded
``numpy.random.Generator`` so a search can be replayed exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from daskhpo.errors import SpaceError
from daskhpo.space._checks import same
from daskhpo.space.domains import Domain
from daskhpo.space.grids import grid_names, grid_points, grid_size
from daskhpo.space.parsing import check_name, params_from_dict, params_to_dict
from daskhpo.space.sampling import sample_config

__all__ = ["SearchSpace", "as_space"]


class SearchSpace:
    """A validated mapping from parameter names to Domains or constants.

    Insertion order matters: domains are sampled in that order (so a seed gives the same
    configuration only for the same order), grid points follow it, and ``==`` compares it.
    Any value that is not a :class:`Domain` is a constant, copied into every configuration.
    """

    __hash__ = None  # type: ignore[assignment]  # constants may be mutable

    def __init__(self, params: Mapping[str, Any]) -> None:
        if isinstance(params, SearchSpace):
            raise TypeError(
                "SearchSpace(...) takes a mapping of parameters, got a SearchSpace; "
                "use it directly, or call as_space(obj) to accept either"
            )
        if not isinstance(params, Mapping):
            raise TypeError(
                f"SearchSpace(...) takes a mapping of parameter names to domains or constants, "
                f"got {params!r} ({type(params).__name__}); pass a dict"
            )
        if not params:
            raise SpaceError(
                "a search space needs at least one parameter, got an empty mapping; "
                "add e.g. {'lr': loguniform(1e-4, 1.0)}"
            )
        self._params: dict[str, Any] = {}
        for name, value in params.items():
            check_name(name)
            if isinstance(value, Domain):
                self._params[name] = value
                continue
            try:
                self._params[name] = copy.deepcopy(value)
            except Exception as exc:  # deepcopy may raise nearly anything
                raise SpaceError(
                    f"parameter {name!r}: constant {value!r} cannot be copied ({exc}); "
                    f"every configuration gets its own copy, so pass a copyable value"
                ) from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Build a space from its YAML/plain-dict form (the syntax is in
        :mod:`daskhpo.space.parsing`).

        ``{loguniform: [1e-4, 1]}`` and friends are domains, ``{constant: x}`` is the
        constant ``x``, and scalars and lists are constants as written.
        """
        return cls(params_from_dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The YAML/plain-dict form; ``SearchSpace.from_dict(space.to_dict()) == space``."""
        return params_to_dict(self._params)

    @property
    def names(self) -> list[str]:
        """Parameter names in insertion order."""
        return list(self._params)

    @property
    def domains(self) -> dict[str, Domain]:
        """The sampled parameters."""
        return {k: v for k, v in self._params.items() if isinstance(v, Domain)}

    @property
    def constants(self) -> dict[str, Any]:
        """The constant parameters (copies: mutating them does not change the space)."""
        return {k: copy.deepcopy(v) for k, v in self._params.items() if not isinstance(v, Domain)}

    @property
    def grid_names(self) -> list[str]:
        """Names whose value is a :class:`Grid`, in insertion order."""
        return grid_names(self._params)

    @property
    def grid_size(self) -> int:
        """Number of grid points: the product of the grid lengths, 1 if there is no grid."""
        return grid_size(self._params)

    def sample(
        self, rng: np.random.Generator, fixed: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Draw one configuration with every parameter, in insertion order.

        Domains are sampled in insertion order, so the same ``rng`` state gives the same
        configuration. Constants are deep-copied so callers may mutate them. Keys in
        ``fixed`` (e.g. a grid point) take the given value and are not sampled.
        """
        return sample_config(self._params, rng, fixed)

    def grid_points(self) -> Iterator[dict[str, Any]]:
        """Yield each combination of grid values once, as ``{grid name: value}``.

        The order is ``itertools.product`` over :attr:`grid_names` in insertion order, so
        the LAST grid parameter varies fastest. With no grid, yields one empty dict. Pass a
        point as ``sample(rng, fixed=point)`` to fill in the other parameters.
        """
        return grid_points(self._params)

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` has exactly this space's keys, each in its domain or equal to
        its constant (used to check that a resumed search matches its space)."""
        if not isinstance(config, Mapping) or set(config) != set(self._params):
            return False
        for name, value in self._params.items():
            if isinstance(value, Domain):
                if not value.contains(config[name]):
                    return False
            elif not same(config[name], value):
                return False
        return True

    def __getitem__(self, name: str) -> Any:
        return self._params[name]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        if list(self._params) != list(other._params):
            return False
        return all(same(self._params[k], other._params[k]) for k in self._params)

    def __repr__(self) -> str:
        return f"SearchSpace({self._params!r})"

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params


def as_space(obj: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """Return a SearchSpace unchanged, or wrap a mapping of names to domains/constants."""
    if isinstance(obj, SearchSpace):
        return obj
    if isinstance(obj, Mapping):
        return SearchSpace(obj)
    raise TypeError(
        f"expected a SearchSpace or a mapping of parameter names to domains, got "
        f"{type(obj).__name__}; pass a dict such as {{'lr': loguniform(1e-4, 1.0)}}"
    )
