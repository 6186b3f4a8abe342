"""Run one measurement in this fresh interpreter and print its result as one JSON line.

Usage: ``python measure.py CASE``; the last line of output is ``RESULT {...}``. ``run.py``
starts one such process per measurement and repeat.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

PREFIX = "RESULT "
#: The module holding a case, by the second word of its name (``w1_ray_reuse`` -> Ray).
MODULES = {"ray": "cases_ray", "optuna": "cases_optuna", "synetune": "cases_synetune"}


def find_case(name: str) -> Callable[[], dict[str, Any]]:
    """The function measuring ``name``; a peer's module is imported only when asked for."""
    parts = name.split("_")
    module_name = MODULES.get(parts[1] if len(parts) > 1 else "", "cases_dask")
    cases: dict[str, Callable[[], dict[str, Any]]] = importlib.import_module(module_name).CASES
    if name not in cases:
        raise SystemExit(f"unknown case {name!r}; {module_name} has {sorted(cases)}")
    return cases[name]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: python measure.py CASE")
    case = find_case(argv[0])
    try:
        result = case()
    except ModuleNotFoundError as exc:  # a peer that is not installed
        result = {"skipped": f"{exc.name} is not installed"}
    print(PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
