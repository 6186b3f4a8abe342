"""daskhpo: asynchronous hyperparameter search on Dask.

``import daskhpo`` does not import ``distributed``; the Dask backend loads when a search starts.
"""

from daskhpo.api import tune
from daskhpo.reporting import TrialStopped, checkpoint_dir, current_trial, report
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
