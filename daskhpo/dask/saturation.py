"""Let Dask prefetch a trial per worker only while trials take milliseconds.

Prefetching (Dask's ``worker-saturation`` above 1) hides the scheduler's round trip between two
trials, which matters only for very short ones; for longer ones it can put a trial behind a
straggler while another worker idles, so daskhpo's own clusters start at 1.0 (first in, first
out, to the first free thread) and switch to Dask's setting while the median of recent trials
stays under :data:`PREFETCH_BELOW` seconds. Only on clusters daskhpo owns.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from typing import Any

import dask

logger = logging.getLogger(__name__)

#: Trials shorter than this (median, seconds) let Dask prefetch one per worker.
PREFETCH_BELOW = 0.05


class Saturation:
    """Sets the scheduler's ``worker-saturation`` from recent trial durations."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.value: float | None = None  # what was last set

    def adapt(self, durations: Sequence[float]) -> None:
        """Set the saturation the median of ``durations`` calls for, if it changed."""
        if len(durations) < 4:
            return
        if statistics.median(durations) >= PREFETCH_BELOW:
            wanted = 1.0
        else:  # Dask's own setting (1.1 unless configured otherwise)
            wanted = float(dask.config.get("distributed.scheduler.worker-saturation", 1.1))
        if wanted == self.value:
            return
        self.value = wanted
        try:
            self.client.run_on_scheduler(_set_saturation, wanted)
        except Exception as exc:  # the scheduler is going away: nothing left to tune
            logger.debug("could not set worker-saturation: %s", exc)


def _set_saturation(value: float, dask_scheduler: Any = None) -> None:
    """Runs on the scheduler: how many tasks each worker thread may hold (Dask's
    ``distributed.scheduler.worker-saturation``)."""
    dask_scheduler.WORKER_SATURATION = value
