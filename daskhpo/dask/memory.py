"""Why a worker went away: its nanny restarted it for exceeding its memory limit.

A trial that outgrows its worker's memory limit gets the worker terminated by its nanny
(Dask's ``distributed.worker.memory.terminate``, 95 % of the limit by default), which logs a
``worker-restart-memory`` event on the scheduler with the worker's address and how much
memory it used. The driver subscribes to that topic, so an attempt lost with such a worker
says so (limit and use) instead of being an anonymous loss. Clusters whose Dask is too old to
send the event still lose the attempt, without the reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: The topic of the event a nanny logs as it terminates its worker for using too much memory.
MEMORY_TOPIC = "worker-restart-memory"


def mib(amount: float) -> str:
    """``amount`` bytes in MiB, for messages."""
    return f"{amount / 2**20:.0f} MiB"


class MemoryKills:
    """The workers restarted for their memory, and why, as the nannies said (see module)."""

    def __init__(self, client: Any, memory_limit: Callable[[str], float | None]) -> None:
        self.client = client
        self._limit = memory_limit
        #: Worker address -> why its nanny restarted it. Written on the client's event loop,
        #: read by the driver: single dictionary operations, atomic.
        self.reasons: dict[str, str] = {}
        try:
            client.subscribe_topic(MEMORY_TOPIC, self._on_event)
        except Exception as exc:  # an old scheduler: losses stay without their reason
            logger.debug("could not subscribe to %s: %s", MEMORY_TOPIC, exc)

    def _on_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if not isinstance(message, dict) or not message.get("worker"):
            return
        worker = str(message["worker"])
        limit = self._limit(worker)
        rss = message.get("rss")
        used = f" (used {mib(rss)})" if isinstance(rss, (int, float)) else ""
        of = f" of {mib(limit)}" if limit else ""
        self.reasons[worker] = (
            f"its worker {worker} was restarted by its nanny for exceeding its memory limit"
            f"{of}{used}"
        )

    def reason(self, worker: str | None) -> str | None:
        """Why ``worker`` was restarted, if its nanny said it was for its memory."""
        return None if worker is None else self.reasons.get(worker)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the client may already be closed
            self.client.unsubscribe_topic(MEMORY_TOPIC)
