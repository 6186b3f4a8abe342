"""The YAML / plain-dict form of a search space, read and written.

The syntax used in experiment files::

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

import copy
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from daskhpo.errors import SpaceError
from daskhpo.space._checks import as_values
from daskhpo.space.domains import (
    DOMAINS,
    Choice,
    Domain,
    Grid,
    LogRandInt,
    LogUniform,
    RandInt,
    Uniform,
)

__all__ = ["CONSTANT", "check_name", "params_from_dict", "params_to_dict"]

#: The key that wraps a mapping meant as a constant.
CONSTANT = "constant"
_KNOWN = [*DOMAINS, CONSTANT]


def check_name(name: Any) -> None:
    """Refuse a parameter name that is not a non-empty string."""
    if not isinstance(name, str) or not name:
        raise SpaceError(
            f"parameter names must be non-empty strings, got {name!r} "
            f"({type(name).__name__}); rename the parameter"
        )


def params_from_dict(data: Any) -> dict[str, Any]:
    """Read the plain-dict form into ``{name: Domain or constant}`` (not yet a space)."""
    if not isinstance(data, Mapping):
        raise SpaceError(
            f"a search space must be a mapping of parameter names to domains, got "
            f"{data!r} ({type(data).__name__}); write e.g. {{lr: {{loguniform: [1e-4, 1]}}}}"
        )
    params: dict[str, Any] = {}
    for name, value in data.items():
        check_name(name)
        params[name] = _value_from_yaml(name, value)
    return params


def params_to_dict(params: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``{name: Domain or constant}`` in the plain-dict form (mappings wrapped)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Domain):
            out[name] = value.to_dict()
        elif isinstance(value, Mapping):
            out[name] = {CONSTANT: copy.deepcopy(value)}
        else:
            out[name] = copy.deepcopy(value)
    return out


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
        values = as_values(kind, args)
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
    if kind == CONSTANT:
        return args
    if not isinstance(kind, str) or kind not in DOMAINS:
        close = difflib.get_close_matches(str(kind), _KNOWN, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpaceError(
            f"parameter {param!r}: unknown domain {kind!r}; known: {', '.join(_KNOWN)}; "
            f"{hint}to use a mapping as a constant, wrap it as {{constant: ...}}"
        )
    return _domain_from_yaml(param, kind, args)
