"""How many trials Dask may hand each worker thread ahead of time (``worker-saturation``).

Prefetching (Dask's ``worker-saturation`` above 1) hides the scheduler's round trip between
two trials, which matters only for very short ones; for longer ones it can put a trial behind
a straggler while another worker idles, so daskhpo's own clusters start at 1.0 (first in,
first out, to the first free thread) and switch to Dask's setting while the median of recent
trials stays under :data:`PREFETCH_BELOW` seconds.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Collection
from typing import Any

import dask
from distributed import Client

logger = logging.getLogger(__name__)

#: Trials shorter than this (median, seconds) let Dask prefetch one per worker.
PREFETCH_BELOW = 0.05


def wanted_saturation(durations: Collection[float]) -> float | None:
    """The saturation for trials of these recent ``durations`` (None: too few to tell)."""
    if len(durations) < 4:
        return None
    if statistics.median(durations) >= PREFETCH_BELOW:
        return 1.0
    # Dask's own setting (1.1 unless configured otherwise)
    return float(dask.config.get("distributed.scheduler.worker-saturation", 1.1))


def set_saturation(client: Client, value: float) -> None:
    """Set the scheduler's saturation; a scheduler going away is left alone."""
    try:
        client.run_on_scheduler(_set_saturation, value)
    except Exception as exc:  # the scheduler is going away: nothing left to tune
        logger.debug("could not set worker-saturation: %s", exc)


def _set_saturation(value: float, dask_scheduler: Any = None) -> None:
    """Runs on the scheduler: how many tasks each worker thread may hold (Dask's
    ``distributed.scheduler.worker-saturation``)."""
    dask_scheduler.WORKER_SATURATION = value
