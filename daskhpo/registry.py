"""Build schedulers and searchers from names and plain mappings (experiment files, tune()).

``"fifo"``, ``{"batch": {"batch_size": 4}}`` or an instance are all accepted, so the Python API
and experiment files share one vocabulary. New schedulers register here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from daskhpo.errors import ConfigError
from daskhpo.schedulers.asha import ASHAScheduler
from daskhpo.schedulers.base import Scheduler
from daskhpo.schedulers.batch import BatchScheduler
from daskhpo.schedulers.fifo import FIFOScheduler
from daskhpo.schedulers.hyperband import AsyncHyperbandScheduler, HyperbandScheduler
from daskhpo.schedulers.median import MedianStoppingScheduler
from daskhpo.schedulers.pbt import PBTScheduler
from daskhpo.schedulers.sha import SuccessiveHalvingScheduler
from daskhpo.searchers.base import Searcher
from daskhpo.searchers.grid import GridSearcher
from daskhpo.searchers.optuna import OptunaSearcher
from daskhpo.searchers.random import RandomSearcher
from daskhpo.space import SearchSpace

SCHEDULERS: dict[str, Callable[..., Scheduler]] = {
    "fifo": FIFOScheduler,
    "batch": BatchScheduler,
    "sha": SuccessiveHalvingScheduler,
    "hyperband": HyperbandScheduler,
    "asha": ASHAScheduler,
    "async_hyperband": AsyncHyperbandScheduler,
    "ahb": AsyncHyperbandScheduler,
    "median": MedianStoppingScheduler,
    "pbt": PBTScheduler,
}
SEARCHERS: dict[str, Callable[..., Searcher]] = {
    "random": RandomSearcher,
    "grid": GridSearcher,
    "optuna": OptunaSearcher,
}

#: Schedulers that stop or promote at rungs up to a budget they must know (``max_resource``).
NEEDS_MAX_RESOURCE = frozenset({"asha", "sha", "hyperband", "async_hyperband", "ahb"})
#: Constants of a space that name the budget a trial trains to, looked for in this order when
#: a rung scheduler is named without ``max_resource``.
BUDGET_CONSTANTS = ("max_resource", "max_epochs", "num_epochs", "epochs", "max_steps", "max_t")

T = TypeVar("T")


def _build(value: Any, table: Mapping[str, Callable[..., T]], base: type, what: str) -> T:
    if isinstance(value, base):
        return value  # type: ignore[return-value]
    name, options = _parse(value, table, base, what)
    return _construct(table, name, options, what)


def _parse(
    value: Any, table: Mapping[str, Callable[..., Any]], base: type, what: str
) -> tuple[str, Mapping[str, Any]]:
    """The lower-case name and the options of ``value`` (a name or a one-key mapping)."""
    options: Any
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, Mapping) and len(value) == 1:
        ((name, options),) = value.items()
        options = {} if options is None else options
    else:
        raise ValueError(
            f"{what} must be a name ({sorted(table)}), a one-key mapping like "
            f"{{{sorted(table)[0]!r}: {{...}}}}, or a {base.__name__} instance; got {value!r}"
        )
    if not isinstance(name, str) or name.lower() not in table:
        close = difflib.get_close_matches(str(name), list(table), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {what} {name!r}; known: {sorted(table)}{hint}")
    if not isinstance(options, Mapping):
        raise ValueError(f"options of {what} {name!r} must be a mapping, got {options!r}")
    return name.lower(), options


def _construct(
    table: Mapping[str, Callable[..., T]], name: str, options: Mapping[str, Any], what: str
) -> T:
    try:
        return table[name](**options)
    except TypeError as exc:
        raise ValueError(f"bad options for {what} {name!r}: {exc}") from exc


def make_scheduler(value: Any, space: SearchSpace | None = None) -> Scheduler:
    """A scheduler from None (FIFO), a name, a one-key mapping, or an instance.

    A rung scheduler named without ``max_resource`` (``"asha"``) takes its budget from the
    space's budget constant (``max_epochs: 10`` and the like, see ``BUDGET_CONSTANTS``), the
    number the objective trains to; with none there, the error shows both ways to say it.
    """
    value = "fifo" if value is None else value
    if isinstance(value, Scheduler):
        return value
    name, options = _parse(value, SCHEDULERS, Scheduler, "scheduler")
    if name in NEEDS_MAX_RESOURCE and "max_resource" not in options:
        budget = _budget_constant(space)
        if budget is None:
            raise ConfigError(
                f"scheduler {name!r} needs max_resource, the step (epoch, iteration...) a "
                f"trial trains to at most: pass scheduler={{{name!r}: {{'max_resource': "
                "81}}, or put the budget in the space as a constant, e.g. "
                "'max_epochs': 81"
            )
        options = {**options, "max_resource": budget}
    return _construct(SCHEDULERS, name, options, "scheduler")


def _budget_constant(space: SearchSpace | None) -> float | None:
    if space is None:
        return None
    constants = space.constants
    for key in BUDGET_CONSTANTS:
        value = constants.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value
    return None


def make_searcher(value: Any, space: SearchSpace) -> Searcher:
    """A searcher from None (grid if the space has grid domains, else random), a name..."""
    if value is None:
        value = "grid" if space.grid_names else "random"
    return _build(value, SEARCHERS, Searcher, "searcher")
