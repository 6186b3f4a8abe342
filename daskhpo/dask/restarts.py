"""Why a worker went away: its nanny restarted it for its memory, or the driver did.

A trial that outgrows its worker's memory limit gets the worker terminated by its nanny
(Dask's ``distributed.worker.memory.terminate``, 95 % of the limit by default), which logs a
``worker-restart-memory`` event on the scheduler with the worker's address and how much
memory it used. The driver subscribes to that topic, so an attempt lost with such a worker
says so (limit and use) instead of being an anonymous loss. Clusters whose Dask is too old to
send the event still lose the attempt, without the reason.

The driver restarts a worker itself to end a trial that ran past ``trial_timeout`` and did not
stop when told (:meth:`WorkerRestarts.restart`); the other attempts lost with that worker say so.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: The topic of the event a nanny logs as it terminates its worker for using too much memory.
MEMORY_TOPIC = "worker-restart-memory"
#: Seconds the backend's ``close`` waits for worker restarts still under way.
RESTART_WAIT_S = 60.0


def mib(amount: float) -> str:
    """``amount`` bytes in MiB, for messages."""
    return f"{amount / 2**20:.0f} MiB"


class WorkerRestarts:
    """The workers restarted for their memory (as their nannies said) or by the driver, and why."""

    def __init__(self, client: Any, memory_limit: Callable[[str], float | None]) -> None:
        self.client = client
        self._limit = memory_limit
        #: Worker address -> why its nanny restarted it. Written on the client's event loop,
        #: read by the driver: single dictionary operations, atomic.
        self.reasons: dict[str, str] = {}
        self._threads: list[threading.Thread] = []  # restarts under way
        self._reruns: bool | None = None  # see scheduler_reruns_tasks
        try:
            client.subscribe_topic(MEMORY_TOPIC, self._on_event)
        except Exception as exc:  # an old scheduler: losses stay without their reason
            logger.debug("could not subscribe to %s: %s", MEMORY_TOPIC, exc)

    def scheduler_reruns_tasks(self) -> bool:
        """Whether the scheduler starts a task again when its worker dies (its
        ``allowed-failures`` above 0; daskhpo's own clusters set 0). Only then must each
        attempt leave a start mark (:mod:`daskhpo.dask.worker.reruns`), a small file per
        attempt that a shared filesystem would rather not hold. Asked once."""
        if self._reruns is None:
            try:
                allowed = self.client.run_on_scheduler(_allowed_failures)
                self._reruns = not (isinstance(allowed, int) and allowed <= 0)
            except Exception as exc:  # cannot tell: mark, the safe side
                logger.debug("could not read the scheduler's allowed-failures: %s", exc)
                self._reruns = True
        return self._reruns

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
        """Why ``worker`` was restarted, if it was for its memory or by the driver."""
        return None if worker is None else self.reasons.get(worker)

    def restart(self, worker: str, trial_id: int) -> None:
        """Restart ``worker`` in its nanny to end trial ``trial_id``, which hung past its
        ``trial_timeout``, in the background (the driver goes on meanwhile).

        Without a nanny the worker cannot be restarted: the stuck thread keeps its slot, and a
        warning says so.
        """
        self.reasons.setdefault(
            worker,
            f"its worker {worker} was restarted to end trial {trial_id}, which hung past "
            "trial_timeout",
        )
        thread = threading.Thread(
            target=self._restart, args=(worker,), name=f"daskhpo-restart-{worker}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _restart(self, worker: str) -> None:
        try:
            done = self.client.restart_workers([worker], raise_for_error=False)
        except Exception as exc:
            done = {worker: f"{type(exc).__name__}: {exc}"}
        status = done.get(worker, "?") if isinstance(done, dict) else done
        if status != "OK":
            logger.warning(
                "could not restart worker %s to end a trial that ran past trial_timeout (%s); "
                "its thread keeps running. Workers started with a nanny (the default) can be.",
                worker,
                status,
            )

    def close(self, timeout: float = RESTART_WAIT_S) -> None:
        """Wait (up to ``timeout`` s) for restarts under way, so that the search ends with its
        cluster whole, and stop listening."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(Exception):  # the client may already be closed
            self.client.unsubscribe_topic(MEMORY_TOPIC)


def _allowed_failures(dask_scheduler: Any = None) -> Any:
    """Runs on the scheduler: how often it reruns a task whose worker died."""
    return getattr(dask_scheduler, "allowed_failures", None)
