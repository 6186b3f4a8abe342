"""Importing an experiment's objective, and shipping the modules beside it by value.

An objective module that lives beside the experiment file (and the helper modules it imports
from there) is imported with that directory first on ``sys.path``, then registered with
cloudpickle to travel by value, so workers need not have that directory on their path.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.machinery
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from daskhpo.dask.worker.shipping import ShippedObjective
from daskhpo.errors import ExperimentError

#: Top-level module name -> the experiment directory it was imported from (see _import_beside).
_imported_from: dict[str, Path] = {}


@contextlib.contextmanager
def _path_first(directory: Path) -> Iterator[None]:
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)  # the first occurrence: ours, unless the import added one


def _found_in(top: str, directory: Path) -> bool:
    try:
        return importlib.machinery.PathFinder.find_spec(top, [str(directory)]) is not None
    except (ImportError, ValueError):
        return False


def shippable(objective: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``objective`` wrapped in :class:`ShippedObjective` if its module is pickled by value
    (see :func:`ship_modules`), else unchanged."""
    import cloudpickle

    module = getattr(objective, "__module__", None) or ""
    registered = cloudpickle.list_registry_pickle_by_value()
    if any(module == name or module.startswith(name + ".") for name in registered):
        return ShippedObjective(objective)
    return objective


def _forget_other_experiments(base_dir: Path) -> None:
    """Drop modules imported earlier from another experiment's directory that this one also
    has (an ``objective.py`` or helper of the same name), so this directory's copy is used."""
    for top, directory in list(_imported_from.items()):
        if directory != base_dir and _found_in(top, base_dir):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
            del _imported_from[top]


def _remember(base_dir: Path) -> None:
    for name, module in list(sys.modules.items()):
        if "." not in name and module is not None and _root_dir(module) == base_dir:
            _imported_from[name] = base_dir


def _import_beside(module_name: str, base_dir: Path, what: str) -> ModuleType:
    """Import ``module_name`` preferring ``base_dir``; errors say what was searched."""
    top = module_name.partition(".")[0]
    _forget_other_experiments(base_dir)
    importlib.invalidate_caches()
    with _path_first(base_dir):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                raise ExperimentError(
                    f"{what}module {module_name!r} not found: looked beside the experiment "
                    f"file in {base_dir} and on the Python path. Put {top}.py (or a package "
                    f"{top}/) in {base_dir}, install the package that provides it, or fix the "
                    "module part before ':'"
                ) from exc
            raise ExperimentError(
                f"{what}module {module_name!r} was found but importing it failed: it imports "
                f"{missing!r}, which is not installed in this environment; install it (the "
                "workers need it too)"
            ) from exc
        except Exception as exc:
            raise ExperimentError(
                f"{what}module {module_name!r} raised {type(exc).__name__} while being "
                f"imported: {exc}. Fix the module; `cd {base_dir} && python -c "
                f"'import {module_name}'` shows the traceback"
            ) from exc
        finally:
            _remember(base_dir)
    return module


def _public_callables(obj: Any) -> list[str]:
    """Public callables defined in a module (or attributes of another object)."""
    names = []
    own = getattr(obj, "__name__", None) if isinstance(obj, ModuleType) else None
    for name, value in vars(obj).items() if hasattr(obj, "__dict__") else []:
        if name.startswith("_") or not callable(value):
            continue
        if own is not None and getattr(value, "__module__", own) != own:
            continue  # imported from elsewhere
        names.append(name)
    return sorted(names)


def _root_dir(module: ModuleType | None) -> Path | None:
    """The directory a top-level module was imported from (the sys.path entry)."""
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if file:
        path = Path(file).resolve()
        return path.parent.parent if path.name.startswith("__init__.") else path.parent
    for entry in getattr(module, "__path__", []):  # a namespace package
        return Path(entry).resolve().parent
    return None


def ship_modules(base_dir: Path) -> list[str]:
    """Register for pickling by value the modules workers could not import themselves.

    Those are the modules imported from ``base_dir`` as a path entry (the objective module
    beside the experiment file, its sibling helpers, packages in that directory) that
    ``sys.path`` itself does not provide (:func:`load_objective` puts ``base_dir`` on it only
    while importing). Installed packages (daskhpo among them) are left alone: workers import
    them, and they keep their worker-side state. Returns the names registered.
    """
    import cloudpickle

    base = base_dir.resolve()
    others = [p for p in sys.path if p]  # "" is the current directory: workers may differ
    shipped: dict[str, bool] = {}
    names = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top == "daskhpo" or module is None:
            continue
        if top not in shipped:
            shipped[top] = _root_dir(sys.modules.get(top)) == base and not _importable(top, others)
        if not shipped[top]:
            continue
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(base):
            cloudpickle.register_pickle_by_value(module)
            names.append(name)
    return sorted(names)


def _importable(top: str, path: list[str]) -> bool:
    try:
        return importlib.machinery.PathFinder.find_spec(top, path) is not None
    except (ImportError, ValueError):
        return False


def load_objective(
    objective: str, base_dir: Path, where: str = ""
) -> Callable[[dict[str, Any]], Any]:
    """Import ``objective`` ("module:function") with ``base_dir`` first on ``sys.path``.

    Modules imported from that directory are then pickled by value, so that workers which do
    not have it on their path still run the objective. ``where`` prefixes error messages
    (the experiment file).
    """
    module_name, _, attribute = objective.partition(":")
    module = _import_beside(module_name, base_dir, f"{where}objective ")
    value: Any = module
    for i, part in enumerate(attribute.split(".")):
        if not hasattr(value, part):
            owner = module_name if i == 0 else f"{module_name}:{'.'.join(attribute.split('.')[:i])}"
            callables = _public_callables(value)
            close = difflib.get_close_matches(part, callables, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(callables) if callables else "none"
            raise ExperimentError(
                f"{where}objective {objective!r}: {owner} "
                f"({getattr(module, '__file__', '?')}) has no attribute {part!r}; its "
                f"public callables: {listed}.{hint} Fix the name after ':'"
            )
        value = getattr(value, part)
    if not callable(value):
        raise ExperimentError(
            f"{where}objective {objective!r} is not callable: it is "
            f"{value!r} ({type(value).__name__}); point it at a function taking the config dict"
        )
    ship_modules(base_dir)
    return value  # type: ignore[no-any-return]
