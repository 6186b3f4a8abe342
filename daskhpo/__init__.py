"""daskhpo: asynchronous hyperparameter search on Dask.

``import daskhpo`` does not import ``distributed``; the Dask backend loads when a search starts.
"""

from daskhpo.api import tune
from daskhpo.reporting import TrialStopped, checkpoint_dir, current_trial, report
from daskhpo.results import Result
from daskhpo.schedulers import BatchScheduler, FIFOScheduler, Scheduler
from daskhpo.searchers import GridSearcher, RandomSearcher, Searcher
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
    "BatchScheduler",
    "Decision",
    "FIFOScheduler",
    "GridSearcher",
    "RandomSearcher",
    "Result",
    "Scheduler",
    "SearchSpace",
    "Searcher",
    "SpaceError",
    "Suggestion",
    "Trial",
    "TrialStatus",
    "TrialStopped",
    "__version__",
    "checkpoint_dir",
    "choice",
    "current_trial",
    "grid",
    "lograndint",
    "loguniform",
    "randint",
    "report",
    "tune",
    "uniform",
]
