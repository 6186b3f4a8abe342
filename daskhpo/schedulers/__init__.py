"""Schedulers decide when trials start, stop, pause and resume."""

from daskhpo.schedulers.asha import ASHAScheduler
from daskhpo.schedulers.base import Scheduler
from daskhpo.schedulers.batch import BatchScheduler
from daskhpo.schedulers.fifo import FIFOScheduler
from daskhpo.schedulers.hyperband import (
    AsyncHyperbandScheduler,
    HyperbandScheduler,
    hyperband_brackets,
)
from daskhpo.schedulers.median import MedianStoppingScheduler
from daskhpo.schedulers.pbt import PBTScheduler
from daskhpo.schedulers.sha import SuccessiveHalvingScheduler

__all__ = [
    "ASHAScheduler",
    "AsyncHyperbandScheduler",
    "BatchScheduler",
    "FIFOScheduler",
    "HyperbandScheduler",
    "MedianStoppingScheduler",
    "PBTScheduler",
    "Scheduler",
    "SuccessiveHalvingScheduler",
    "hyperband_brackets",
]
