"""Checks and conversions shared by the domains and the YAML form: numbers, bounds, values.

Kept apart so that a new kind of parameter (a conditional one, say) reuses the same messages.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

from daskhpo.errors import SpaceError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------- helpers


def is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def as_float(kind: str, what: str, value: Any) -> float:
    """Convert a real number (not a bool, not a string) to a Python float for a bound."""
    if is_bool(value) or not isinstance(value, numbers.Real):
        raise SpaceError(
            f"{kind} needs numeric bounds, got {what}={value!r} ({type(value).__name__}); "
            f"write a number such as 0.5"
        )
    return float(value)


def as_int(kind: str, what: str, value: Any) -> int:
    """Convert an integral number (Python or numpy int, not a bool) to a Python int."""
    if is_bool(value) or not isinstance(value, numbers.Integral):
        raise SpaceError(
            f"{kind} needs integer bounds, got {what}={value!r} ({type(value).__name__}); "
            f"write a whole number, or use uniform(...) for a real-valued range"
        )
    result = int(value)
    if not INT64_MIN <= result <= INT64_MAX:
        raise SpaceError(
            f"{kind} bounds must fit in a signed 64-bit integer, got {what}={result!r}; "
            f"use a smaller range"
        )
    return result


def same(a: Any, b: Any) -> bool:
    """Equality that treats an ambiguous comparison (e.g. numpy arrays) as 'not equal'."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def is_real_value(value: Any) -> bool:
    return not is_bool(value) and isinstance(value, numbers.Real) and math.isfinite(float(value))


def is_int_value(value: Any) -> bool:
    return not is_bool(value) and isinstance(value, numbers.Integral)


def as_values(kind: str, values: Any) -> tuple[Any, ...]:
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


def clamp_half_open(value: float, low: float, high: float) -> float:
    """Pull a float that rounding pushed outside [low, high) back inside it."""
    if value >= high:
        value = math.nextafter(high, -math.inf)
    return max(value, low)
