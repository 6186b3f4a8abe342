"""SPEC strings, ``name:key=value,key=value`` (or ``name:value``): parsing and argument checks
shared by duration distributions, duration models and learning curves."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["parse_spec", "positive", "take_args", "unknown_name"]


def parse_spec(spec: str, what: str = "duration") -> tuple[str, dict[str, float]]:
    """Split ``name:k=v,k=v`` (or ``name:v``) into a name and numeric arguments.

    A bare number after the colon is returned under the key ``""``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} SPEC must be a string like 'exponential:mean=60', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    args: dict[str, float] = {}
    if not rest.strip():
        return name, args
    for part in rest.split(","):
        key, eq, raw = part.partition("=")
        if not eq:
            key, raw = "", key
        key = key.strip().lower()
        if key in args:
            raise ValueError(f"{what} SPEC {spec!r} gives {key or 'the value'!r} twice")
        raw = raw.strip()
        if key == "param":
            args[key] = raw  # type: ignore[assignment]  # a parameter name, kept as text
            continue
        try:
            args[key] = float(raw)
        except ValueError:
            raise ValueError(
                f"{what} SPEC {spec!r}: {key or 'value'}={raw!r} is not a number; "
                "write e.g. 'lognormal:mean=60,sigma=1'"
            ) from None
    return name, args


def take_args(
    spec: str,
    name: str,
    args: dict[str, Any],
    required: tuple[str, ...],
    optional: Mapping[str, Any],
) -> dict[str, Any]:
    """Check that ``args`` has exactly the allowed keys; fill in optional defaults."""
    allowed = (*required, *optional)
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name} takes {', '.join(f'{k}=...' for k in allowed)}; got {unknown} in {spec!r}"
        )
    missing = [k for k in required if k not in args]
    if missing:
        example = ",".join(f"{k}=..." for k in required)
        raise ValueError(f"{name} needs {missing} in {spec!r}; write '{name}:{example}'")
    return {**optional, **args}


def positive(spec: str, key: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` when it is a finite number > 0 (or >= 0 with ``allow_zero``), else an error
    naming ``key`` in ``spec``."""
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{key} must be a finite number {bound}, got {value!r} in {spec!r}")
    return value


def unknown_name(name: str, spec: str, known: tuple[str, ...], what: str) -> ValueError:
    """The error for a SPEC whose name is not one of ``known``, with the closest one."""
    close = [k for k in known if name and k.startswith(name)] or difflib.get_close_matches(
        name, known, n=1
    )
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {name!r} in {spec!r}; known: {', '.join(known)}{hint}")
