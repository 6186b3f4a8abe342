"""daskhpo: asynchronous hyperparameter search on Dask.

``import daskhpo`` does not import ``distributed``; the Dask backend loads when a search starts.

Names load on first use (PEP 562): a worker that imports ``daskhpo.dask.worker.reporting``
pays for that module alone, not for pandas and the driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daskhpo.api import tune
    from daskhpo.dask.worker.reporting import TrialStopped, checkpoint_dir, current_trial, report
    from daskhpo.results import Result
    from daskhpo.schedulers import (
        ASHAScheduler,
        AsyncHyperbandScheduler,
        BatchScheduler,
        FIFOScheduler,
        HyperbandScheduler,
        MedianStoppingScheduler,
        PBTScheduler,
        Scheduler,
        SuccessiveHalvingScheduler,
        hyperband_brackets,
    )
    from daskhpo.searchers import GridSearcher, OptunaSearcher, RandomSearcher, Searcher
    from daskhpo.space import (
        SearchSpace,
        SpaceError,
        choice,
        grid,
        lograndint,
        loguniform,
        randint,
        uniform,
    )
    from daskhpo.trial import Decision, Suggestion, Trial, TrialStatus

__version__ = "0.1.0"

__all__ = [
    "ASHAScheduler",
    "AsyncHyperbandScheduler",
    "BatchScheduler",
    "Decision",
    "FIFOScheduler",
    "GridSearcher",
    "HyperbandScheduler",
    "MedianStoppingScheduler",
    "OptunaSearcher",
    "PBTScheduler",
    "RandomSearcher",
    "Result",
    "Scheduler",
    "SearchSpace",
    "Searcher",
    "SpaceError",
    "SuccessiveHalvingScheduler",
    "Suggestion",
    "Trial",
    "TrialStatus",
    "TrialStopped",
    "__version__",
    "checkpoint_dir",
    "choice",
    "current_trial",
    "grid",
    "hyperband_brackets",
    "lograndint",
    "loguniform",
    "randint",
    "report",
    "tune",
    "uniform",
]

#: Where each public name lives.
_EXPORTS = {
    "tune": "daskhpo.api",
    "TrialStopped": "daskhpo.dask.worker.reporting",
    "checkpoint_dir": "daskhpo.dask.worker.reporting",
    "current_trial": "daskhpo.dask.worker.reporting",
    "report": "daskhpo.dask.worker.reporting",
    "Result": "daskhpo.results",
    "ASHAScheduler": "daskhpo.schedulers",
    "AsyncHyperbandScheduler": "daskhpo.schedulers",
    "BatchScheduler": "daskhpo.schedulers",
    "FIFOScheduler": "daskhpo.schedulers",
    "HyperbandScheduler": "daskhpo.schedulers",
    "MedianStoppingScheduler": "daskhpo.schedulers",
    "PBTScheduler": "daskhpo.schedulers",
    "Scheduler": "daskhpo.schedulers",
    "SuccessiveHalvingScheduler": "daskhpo.schedulers",
    "hyperband_brackets": "daskhpo.schedulers",
    "GridSearcher": "daskhpo.searchers",
    "OptunaSearcher": "daskhpo.searchers",
    "RandomSearcher": "daskhpo.searchers",
    "Searcher": "daskhpo.searchers",
    "SearchSpace": "daskhpo.space",
    "SpaceError": "daskhpo.space",
    "choice": "daskhpo.space",
    "grid": "daskhpo.space",
    "lograndint": "daskhpo.space",
    "loguniform": "daskhpo.space",
    "randint": "daskhpo.space",
    "uniform": "daskhpo.space",
    "Decision": "daskhpo.trial",
    "Suggestion": "daskhpo.trial",
    "Trial": "daskhpo.trial",
    "TrialStatus": "daskhpo.trial",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'daskhpo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
