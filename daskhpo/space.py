"""Search spaces: hyperparameter domains, their YAML form, sampling and grid enumeration.

A :class:`SearchSpace` maps parameter names to :class:`Domain` objects (sampled) or to
constants (copied into every configuration). Every random draw takes an explicit, seeded
``numpy.random.Generator`` so a search can be replayed exactly.

The YAML / plain-dict form (:meth:`SearchSpace.from_dict`) used in experiment files::

    lr: {loguniform: [1.0e-4, 1.0]}
    layers: {randint: [1, 8]}                   # both bounds inclusive
    width: {lograndint: {low: 16, high: 512}}   # [low, high] or {low:, high:}
    opt: {choice: [sgd, adam, rmsprop]}
    seed_like: {grid: [1, 2, 3]}
    dropout: {uniform: [0.0, 0.5]}
    max_epochs: 10                              # scalars and lists are constants
    extra: {constant: {a: 1}}                   # mapping constants must be wrapped

A mapping value must have exactly one key: a domain name or ``constant``.
"""

from __future__ import annotations

import abc
import copy
import difflib
import itertools
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from daskhpo.errors import SpaceError as SpaceError  # re-exported

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

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------- helpers


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _as_float(kind: str, what: str, value: Any) -> float:
    """Convert a real number (not a bool, not a string) to a Python float for a bound."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise SpaceError(
            f"{kind} needs numeric bounds, got {what}={value!r} ({type(value).__name__}); "
            f"write a number such as 0.5"
        )
    return float(value)


def _as_int(kind: str, what: str, value: Any) -> int:
    """Convert an integral number (Python or numpy int, not a bool) to a Python int."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise SpaceError(
            f"{kind} needs integer bounds, got {what}={value!r} ({type(value).__name__}); "
            f"write a whole number, or use uniform(...) for a real-valued range"
        )
    result = int(value)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise SpaceError(
            f"{kind} bounds must fit in a signed 64-bit integer, got {what}={result!r}; "
            f"use a smaller range"
        )
    return result


def _same(a: Any, b: Any) -> bool:
    """Equality that treats an ambiguous comparison (e.g. numpy arrays) as 'not equal'."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _is_real_value(value: Any) -> bool:
    return not _is_bool(value) and isinstance(value, numbers.Real) and math.isfinite(float(value))


def _is_int_value(value: Any) -> bool:
    return not _is_bool(value) and isinstance(value, numbers.Integral)


def _as_values(kind: str, values: Any) -> tuple[Any, ...]:
    """Turn the categories of a choice or grid into a tuple of plain Python objects."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (str, bytes)):
        raise SpaceError(
            f"{kind} needs a list of values, got the string {values!r}; "
            f"write {kind}([{values!r}]) for a single value"
        )
    if isinstance(values, (Set, Mapping)):
        raise SpaceError(
            f"{kind} needs an ordered list of values, got {values!r} "
            f"({type(values).__name__}); pass a list so draws are reproducible"
        )
    if not isinstance(values, Sequence):
        raise SpaceError(
            f"{kind} needs a list of values, got {values!r} ({type(values).__name__}); pass a list"
        )
    result = tuple(values)
    if not result:
        raise SpaceError(f"{kind} needs at least one value, got {values!r}; add values")
    return result


# --------------------------------------------------------------------------- domains


class Domain(abc.ABC):
    """One hyperparameter's set of values."""

    name: ClassVar[str]

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value using ``rng`` (and no other source of randomness)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON-able form, e.g. ``{"loguniform": [0.0001, 1.0]}``."""

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` could have been drawn from this domain."""


@dataclass(frozen=True)
class Uniform(Domain):
    """Real numbers drawn uniformly from the half-open interval [low, high)."""

    name: ClassVar[str] = "uniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        low = _as_float(self.name, "low", self.low)
        high = _as_float(self.name, "high", self.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpaceError(
                f"uniform needs finite bounds, got low={low!r}, high={high!r}; use finite numbers"
            )
        if not low < high:
            raise SpaceError(
                f"uniform needs low < high, got low={low!r}, high={high!r}; "
                f"swap the bounds, or use a constant for a single value"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        u = float(rng.random())
        # This form cannot overflow for wide ranges; clamp rounding back into [low, high).
        value = self.low * (1.0 - u) + self.high * u
        return _clamp_half_open(value, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return _is_real_value(value) and self.low <= float(value) < self.high


@dataclass(frozen=True)
class LogUniform(Domain):
    """Positive reals in [low, high) whose logarithm is uniform (for rates, penalties...)."""

    name: ClassVar[str] = "loguniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        low = _as_float(self.name, "low", self.low)
        high = _as_float(self.name, "high", self.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpaceError(
                f"loguniform needs finite bounds, got low={low!r}, high={high!r}; "
                f"use finite numbers"
            )
        if not low > 0:
            raise SpaceError(
                f"loguniform needs 0 < low < high, got low={low!r}, high={high!r}; "
                f"log needs a positive lower bound, so use uniform(...) for a range "
                f"that includes 0"
            )
        if not low < high:
            raise SpaceError(
                f"loguniform needs 0 < low < high, got low={low!r}, high={high!r}; "
                f"swap the bounds, or use a constant for a single value"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        u = float(rng.random())
        log_low, log_high = math.log(self.low), math.log(self.high)
        value = math.exp(log_low * (1.0 - u) + log_high * u)
        return _clamp_half_open(value, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return _is_real_value(value) and self.low <= float(value) < self.high


def _clamp_half_open(value: float, low: float, high: float) -> float:
    """Pull a float that rounding pushed outside [low, high) back inside it."""
    if value >= high:
        value = math.nextafter(high, -math.inf)
    return max(value, low)


@dataclass(frozen=True)
class RandInt(Domain):
    """Integers drawn uniformly from [low, high], BOTH bounds inclusive.

    Unlike Ray Tune's ``randint`` (exclusive upper bound) and like Optuna's ``suggest_int``:
    ``randint(1, 3)`` yields 1, 2 or 3.
    """

    name: ClassVar[str] = "randint"
    low: int
    high: int

    def __post_init__(self) -> None:
        low = _as_int(self.name, "low", self.low)
        high = _as_int(self.name, "high", self.high)
        if not low <= high:
            raise SpaceError(
                f"randint needs low <= high (both inclusive), got low={low!r}, high={high!r}; "
                f"swap the bounds"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return _is_int_value(value) and self.low <= int(value) <= self.high


@dataclass(frozen=True)
class LogRandInt(Domain):
    """Integers in [low, high], both inclusive, spread log-uniformly (for widths, batch sizes).

    A draw is ``floor(exp(u))`` with ``u`` uniform on ``[log(low), log(high + 1))``, so each
    integer ``k`` gets probability proportional to ``log((k + 1) / k)``.
    """

    name: ClassVar[str] = "lograndint"
    low: int
    high: int

    def __post_init__(self) -> None:
        low = _as_int(self.name, "low", self.low)
        high = _as_int(self.name, "high", self.high)
        if not low >= 1:
            raise SpaceError(
                f"lograndint needs 1 <= low <= high, got low={low!r}, high={high!r}; "
                f"log needs a positive lower bound, so use randint(...) for a range "
                f"that includes 0 or negative numbers"
            )
        if not low <= high:
            raise SpaceError(
                f"lograndint needs low <= high (both inclusive), got low={low!r}, "
                f"high={high!r}; swap the bounds"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> int:
        u = float(rng.random())
        log_low, log_high = math.log(self.low), math.log(self.high + 1)
        value = math.floor(math.exp(log_low * (1.0 - u) + log_high * u))
        # exp(log(low)) may round just below low; exp(log(high + 1)) is excluded by u < 1.
        return max(self.low, min(self.high, int(value)))

    def to_dict(self) -> dict[str, Any]:
        return {self.name: [self.low, self.high]}

    def contains(self, value: Any) -> bool:
        return _is_int_value(value) and self.low <= int(value) <= self.high


@dataclass(frozen=True)
class Choice(Domain):
    """One of a fixed list of categories, each equally likely; returns the object itself."""

    name: ClassVar[str] = "choice"
    categories: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", _as_values(self.name, self.categories))

    def sample(self, rng: np.random.Generator) -> Any:
        return self.categories[int(rng.integers(len(self.categories)))]

    def to_dict(self) -> dict[str, Any]:
        return {self.name: list(self.categories)}

    def contains(self, value: Any) -> bool:
        return any(_same(value, c) for c in self.categories)


@dataclass(frozen=True)
class Grid(Domain):
    """Values enumerated exhaustively by the grid searcher, each exactly once.

    Duplicates are rejected because they would run the same grid point twice. ``sample``
    picks uniformly; it is only used when something random-samples a grid domain.
    """

    name: ClassVar[str] = "grid"
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        values = _as_values(self.name, self.values)
        for i, value in enumerate(values):
            if any(_same(value, earlier) for earlier in values[:i]):
                raise SpaceError(
                    f"grid values must be distinct, got {value!r} twice in {list(values)!r}; "
                    f"remove the duplicate"
                )
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self) -> dict[str, Any]:
        return {self.name: list(self.values)}

    def contains(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)


# --------------------------------------------------------------------------- factories


def uniform(low: float, high: float) -> Uniform:
    """Real numbers uniform on [low, high)."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """Positive reals on [low, high) with a uniform logarithm; needs 0 < low < high."""
    return LogUniform(low, high)


def randint(low: int | np.integer[Any], high: int | np.integer[Any]) -> RandInt:
    """Integers uniform on [low, high], BOTH bounds inclusive (like Optuna, unlike Ray Tune)."""
    return RandInt(_as_int(RandInt.name, "low", low), _as_int(RandInt.name, "high", high))


def lograndint(low: int | np.integer[Any], high: int | np.integer[Any]) -> LogRandInt:
    """Integers on [low, high], both inclusive, log-distributed; needs low >= 1."""
    return LogRandInt(_as_int(LogRandInt.name, "low", low), _as_int(LogRandInt.name, "high", high))


def choice(categories: Sequence[Any] | np.ndarray[Any, Any]) -> Choice:
    """One of ``categories``, uniformly; any sequence is accepted and stored as a tuple."""
    return Choice(_as_values(Choice.name, categories))


def grid(values: Sequence[Any] | np.ndarray[Any, Any]) -> Grid:
    """Values the grid searcher enumerates exhaustively, in the given order."""
    return Grid(_as_values(Grid.name, values))


# --------------------------------------------------------------------------- YAML form

_DOMAINS: dict[str, type[Domain]] = {
    cls.name: cls for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice, Grid)
}
_CONSTANT = "constant"
_KNOWN = [*_DOMAINS, _CONSTANT]


def _bound_args(param: str, kind: str, args: Any) -> tuple[Any, Any]:
    """Read ``[low, high]`` or ``{low: ..., high: ...}``."""
    if isinstance(args, Mapping):
        if set(args) != {"low", "high"}:
            raise SpaceError(
                f"parameter {param!r}: {kind} takes {{low: ..., high: ...}}, got keys "
                f"{sorted(map(str, args))!r}; give exactly 'low' and 'high'"
            )
        return args["low"], args["high"]
    if isinstance(args, Sequence) and not isinstance(args, (str, bytes)):
        if len(args) != 2:
            raise SpaceError(
                f"parameter {param!r}: {kind} takes two bounds [low, high], got {args!r}; "
                f"write e.g. {{{kind}: [1, 10]}}"
            )
        return args[0], args[1]
    raise SpaceError(
        f"parameter {param!r}: {kind} takes [low, high] or {{low: ..., high: ...}}, "
        f"got {args!r}; write e.g. {{{kind}: [1, 10]}}"
    )


def _yaml_float(param: str, kind: str, what: str, value: Any) -> Any:
    """Accept numeric strings for float bounds: YAML 1.1 reads ``1e-4`` as a string."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise SpaceError(
                f"parameter {param!r}: {kind} needs numeric bounds, got {what}={value!r}; "
                f"write a number such as 0.5"
            ) from None
    return value


def _domain_from_yaml(param: str, kind: str, args: Any) -> Domain:
    try:
        if kind in (Uniform.name, LogUniform.name):
            low, high = _bound_args(param, kind, args)
            low = _yaml_float(param, kind, "low", low)
            high = _yaml_float(param, kind, "high", high)
            return Uniform(low, high) if kind == Uniform.name else LogUniform(low, high)
        if kind in (RandInt.name, LogRandInt.name):
            low, high = _bound_args(param, kind, args)
            return RandInt(low, high) if kind == RandInt.name else LogRandInt(low, high)
        values = _as_values(kind, args)
        return Choice(values) if kind == Choice.name else Grid(values)
    except SpaceError as exc:
        if str(exc).startswith(f"parameter {param!r}:"):
            raise
        raise SpaceError(f"parameter {param!r}: {exc}") from exc


def _value_from_yaml(param: str, value: Any) -> Any:
    """Interpret one YAML value: a one-key mapping names a domain or ``constant``."""
    if not isinstance(value, Mapping):
        return value
    if len(value) != 1:
        raise SpaceError(
            f"parameter {param!r}: a mapping value must have exactly one key naming a domain "
            f"({', '.join(_KNOWN)}), got {dict(value)!r}; to use a mapping as a constant, "
            f"wrap it as {{constant: ...}}"
        )
    ((kind, args),) = value.items()
    if kind == _CONSTANT:
        return args
    if not isinstance(kind, str) or kind not in _DOMAINS:
        close = difflib.get_close_matches(str(kind), _KNOWN, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpaceError(
            f"parameter {param!r}: unknown domain {kind!r}; known: {', '.join(_KNOWN)}; "
            f"{hint}to use a mapping as a constant, wrap it as {{constant: ...}}"
        )
    return _domain_from_yaml(param, kind, args)


# --------------------------------------------------------------------------- space


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise SpaceError(
            f"parameter names must be non-empty strings, got {name!r} "
            f"({type(name).__name__}); rename the parameter"
        )


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
            _check_name(name)
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
        """Build a space from its YAML/plain-dict form (the syntax is in the module docstring).

        ``{loguniform: [1e-4, 1]}`` and friends are domains, ``{constant: x}`` is the
        constant ``x``, and scalars and lists are constants as written.
        """
        if not isinstance(data, Mapping):
            raise SpaceError(
                f"a search space must be a mapping of parameter names to domains, got "
                f"{data!r} ({type(data).__name__}); write e.g. {{lr: {{loguniform: [1e-4, 1]}}}}"
            )
        params: dict[str, Any] = {}
        for name, value in data.items():
            _check_name(name)
            params[name] = _value_from_yaml(name, value)
        return cls(params)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/plain-dict form; ``SearchSpace.from_dict(space.to_dict()) == space``."""
        out: dict[str, Any] = {}
        for name, value in self._params.items():
            if isinstance(value, Domain):
                out[name] = value.to_dict()
            elif isinstance(value, Mapping):
                out[name] = {_CONSTANT: copy.deepcopy(value)}
            else:
                out[name] = copy.deepcopy(value)
        return out

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
        return [k for k, v in self._params.items() if isinstance(v, Grid)]

    @property
    def grid_size(self) -> int:
        """Number of grid points: the product of the grid lengths, 1 if there is no grid."""
        return math.prod(len(self._params[k].values) for k in self.grid_names)

    def sample(
        self, rng: np.random.Generator, fixed: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Draw one configuration with every parameter, in insertion order.

        Domains are sampled in insertion order, so the same ``rng`` state gives the same
        configuration. Constants are deep-copied so callers may mutate them. Keys in
        ``fixed`` (e.g. a grid point) take the given value and are not sampled.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"sample needs a numpy.random.Generator, got {rng!r} ({type(rng).__name__}); "
                f"pass numpy.random.default_rng(seed)"
            )
        fixed = {} if fixed is None else fixed
        unknown = [k for k in fixed if k not in self._params]
        if unknown:
            raise SpaceError(
                f"fixed values name parameters that are not in the space: {unknown!r}; "
                f"the space has {self.names!r}"
            )
        config: dict[str, Any] = {}
        for name, value in self._params.items():
            if name in fixed:
                config[name] = copy.deepcopy(fixed[name])
            elif isinstance(value, Domain):
                config[name] = value.sample(rng)
            else:
                config[name] = copy.deepcopy(value)
        return config

    def grid_points(self) -> Iterator[dict[str, Any]]:
        """Yield each combination of grid values once, as ``{grid name: value}``.

        The order is ``itertools.product`` over :attr:`grid_names` in insertion order, so
        the LAST grid parameter varies fastest. With no grid, yields one empty dict. Pass a
        point as ``sample(rng, fixed=point)`` to fill in the other parameters.
        """
        names = self.grid_names
        for combo in itertools.product(*(self._params[k].values for k in names)):
            yield dict(zip(names, copy.deepcopy(combo), strict=True))

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` has exactly this space's keys, each in its domain or equal to
        its constant (used to check that a resumed search matches its space)."""
        if not isinstance(config, Mapping) or set(config) != set(self._params):
            return False
        for name, value in self._params.items():
            if isinstance(value, Domain):
                if not value.contains(config[name]):
                    return False
            elif not _same(config[name], value):
                return False
        return True

    def __getitem__(self, name: str) -> Any:
        return self._params[name]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        if list(self._params) != list(other._params):
            return False
        return all(_same(self._params[k], other._params[k]) for k in self._params)

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
