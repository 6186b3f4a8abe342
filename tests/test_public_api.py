"""The public surface says what it exports in one consistent way, and the code stays in small
modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import daskhpo

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def _type_checking_names() -> set[str]:
    tree = ast.parse((ROOT / "daskhpo" / "__init__.py").read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in statement.names)
    return names


def test_all_the_lazy_exports_and_the_type_checking_imports_name_the_same_things():
    exports = set(daskhpo._EXPORTS)
    assert set(daskhpo.__all__) == exports | {"__version__"}
    assert len(daskhpo.__all__) == len(set(daskhpo.__all__))
    assert _type_checking_names() == exports


def test_every_exported_name_is_the_object_of_the_module_it_comes_from():
    for name, module in daskhpo._EXPORTS.items():
        assert getattr(daskhpo, name) is getattr(importlib.import_module(module), name), name
    assert isinstance(daskhpo.__version__, str)


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no_such_thing"):
        daskhpo.no_such_thing


def test_no_module_is_over_400_lines():
    too_long = {}
    for folder in ("daskhpo", "simulate", "benchmarks", "hpc"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long[str(path.relative_to(ROOT))] = lines
    assert not too_long, f"split these modules (at most {MAX_LINES} lines each): {too_long}"
