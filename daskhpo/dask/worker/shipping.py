"""Carry an objective to the workers by value, and load it there inside the task.

Dask pickles task arguments with the standard pickle, which refers to a function by its
module's name. Two things go wrong with that: a module the workers cannot import (beside an
experiment file, in a notebook's folder) fails, and it fails while the worker *reads its
message*, which takes the worker down rather than the task. So the objective travels as
cloudpickle bytes inside :class:`ShippedObjective` (importable wherever daskhpo is) and is
loaded inside the task: a module that does not import is then an ordinary task error that the
driver reports. Each worker process loads a given objective once and keeps it, so its module
state lives between trials as an imported module's would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from daskhpo.errors import ObjectiveNotPicklable

#: Objectives loaded in this process, by the digest of their pickled bytes.
_LOADED: dict[str, Callable[[dict[str, Any]], Any]] = {}


class ShippedObjective:
    """An objective as cloudpickle bytes, loaded on first use in each process."""

    def __init__(self, objective: Callable[[dict[str, Any]], Any]) -> None:
        import cloudpickle

        self.name = str(getattr(objective, "__qualname__", objective))
        self.module = str(getattr(objective, "__module__", "?"))
        try:
            self.payload: bytes = cloudpickle.dumps(objective)
        except Exception as exc:
            raise ObjectiveNotPicklable(
                f"the objective {self.name!r} cannot be pickled to send it to the workers "
                f"({type(exc).__name__}: {exc}); define it at module level and keep locks, "
                "open files and clients out of what it refers to"
            ) from exc
        self.digest = hashlib.sha256(self.payload).hexdigest()
        _LOADED.setdefault(self.digest, objective)

    def load(self) -> Callable[[dict[str, Any]], Any]:
        """The objective itself, unpickled once per process."""
        objective = _LOADED.get(self.digest)
        if objective is None:
            import cloudpickle

            objective = _LOADED.setdefault(self.digest, cloudpickle.loads(self.payload))
        return objective

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.load()(config)

    def __repr__(self) -> str:
        return f"ShippedObjective({self.name}, {len(self.payload)} bytes)"


def ship(objective: Callable[[dict[str, Any]], Any]) -> ShippedObjective:
    """``objective`` ready to travel (unchanged if it already is)."""
    return objective if isinstance(objective, ShippedObjective) else ShippedObjective(objective)
