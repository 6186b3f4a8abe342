"""Imported by the workers of clusters daskhpo starts, as they start.

The modules a trial task runs are loaded before the first trial, not during it. Such workers
ignore SIGINT: a Ctrl-C in the terminal reaches every process of its process group, and the
driver, which owns these workers, ends the search and closes them itself; without this each
worker process would print its own ``KeyboardInterrupt`` traceback. Dask's warning that a
cancelled task's coroutine "ended with CancelledError" is dropped too: the driver cancels
running trials on purpose (time budget, target, Ctrl-C) and records each as CANCELLED.
"""

import contextlib
import logging
import signal
import threading

import daskhpo.dask.worker.plugin
import daskhpo.dask.worker.reporting  # noqa: F401

if threading.current_thread() is threading.main_thread():
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _not_a_cancelled_trial(record: logging.LogRecord) -> bool:
    return "ended with CancelledError" not in record.getMessage()


logging.getLogger("distributed.worker.state_machine").addFilter(_not_a_cancelled_trial)
