"""Schedulers decide when trials start, stop, pause and resume."""

from daskhpo.schedulers.base import Scheduler
from daskhpo.schedulers.batch import BatchScheduler
from daskhpo.schedulers.fifo import FIFOScheduler

__all__ = ["BatchScheduler", "FIFOScheduler", "Scheduler"]
