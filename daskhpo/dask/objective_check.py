"""Fail fast when the workers cannot load the objective, before any trial is charged for it.

A tiny task carries the objective to each worker (up to ``CHECKED_WORKERS``) and loads it
there, so a search whose workers cannot import the objective's module stops with one clear
:class:`~daskhpo.errors.ObjectiveNotLoadable` instead of many failed trials. Each check also
reports its worker's lifetime. (Whether the objective can be *pickled* at all is found earlier,
in the driver, when it is wrapped for shipping: ``daskhpo.dask.worker.shipping``.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NoReturn

from distributed import Client, Future, wait

from daskhpo.dask.placement import WorkerView
from daskhpo.dask.worker.reporting import objective_loads
from daskhpo.dask.worker.shipping import ShippedObjective
from daskhpo.errors import ObjectiveNotLoadable

#: Workers that check they can load the objective before the first trial (the rest load it
#: with their first trial).
CHECKED_WORKERS = 32
#: Seconds the objective check may take once workers are there.
CHECK_TIMEOUT = 60.0


class ObjectiveCheck:
    """The check of one backend: started once, then settled (passed, or raised) by the loop."""

    def __init__(
        self,
        client: Client,
        objective: Callable[[dict[str, Any]], Any],
        *,
        view: WorkerView,
        topic: str,
        token: str,
        now: Callable[[], float],
        drain_lifetimes: Callable[[], None],
        max_wait: float,
    ) -> None:
        self.client = client
        self.objective = objective
        self._view = view
        self._topic = topic
        self._token = token
        self._now = now
        self._drain_lifetimes = drain_lifetimes
        self._max_wait = max_wait
        self._futures: list[Future[Any]] = []  # checks not settled yet
        self.checking: set[str] = set()  # workers whose check has not reported yet
        self._timeout = CHECK_TIMEOUT
        self._clock_from: float | None = None

    @property
    def pending(self) -> bool:
        """Whether a check was started and is not settled yet."""
        return bool(self._futures)

    def start(self, timeout: float | None = None) -> None:
        """Send one check to each known worker (or one to whichever comes first, if none).

        ``timeout`` (``CHECK_TIMEOUT`` unless given) counts from the first worker's arrival:
        a SLURM queue may hold the jobs for hours.
        """
        workers = self._view.workers
        addresses = list(workers)[:CHECKED_WORKERS]
        self._futures = [
            self.client.submit(
                objective_loads,
                self.objective,
                self._topic,
                workers=[address],
                allow_other_workers=True,
                pure=False,
                key=f"daskhpo-check-{self._token}-{i}",
            )
            for i, address in enumerate(addresses)
        ] or [self.client.submit(objective_loads, self.objective, pure=False)]
        self.checking = set(addresses)  # their checks will tell their lifetimes
        self._timeout = CHECK_TIMEOUT if timeout is None else timeout
        self._clock_from = self._now() if workers else None

    def finished(self) -> bool:
        """Whether a pending check has finished (read before draining events: a finished
        check's lifetime event is then already in the inbox)."""
        return bool(self._futures) and all(f.done() for f in self._futures)

    def settle(self, *, block: bool, finished: bool = False) -> None:
        """Conclude the check: raise if it failed or is overdue; once it passed, ask the
        lifetimes of the workers no check ran on. With ``block``, wait for it. ``finished`` is
        whether it had finished before the caller took in the events."""
        if not self._futures:
            return
        if block:
            while not self.finished():
                self._view.refresh()
                if not self._view.workers:
                    return  # nothing can run yet: settled later, once workers come
                if self._overdue():
                    break
                with contextlib.suppress(TimeoutError):
                    wait(self._futures, timeout=self._max_wait)
            # Each check sent its worker's lifetime before its task finished (one stream, in
            # order): take them in.
            self._drain_lifetimes()
            finished = self.finished()
        if not finished:
            if self._overdue():
                self._fail(None)
            return
        for future in self._futures:
            if future.status != "finished":
                try:
                    future.result()  # raises the reason (only a failure needs this round trip)
                except Exception as exc:
                    self._fail(exc)
        self._futures = []
        self.checking = set()
        self._view.worker_deadlines()  # asks only the workers no check ran on

    def _overdue(self) -> bool:
        """Whether the check has had workers for longer than its timeout."""
        if self._clock_from is None:
            if not self._view.workers:
                return False
            self._clock_from = self._now()
        return self._now() - self._clock_from >= self._timeout

    def cancel(self) -> None:
        """Drop the checks not settled yet."""
        for future in self._futures:
            future.cancel()
        self._futures = []
        self.checking = set()

    def _fail(self, exc: BaseException | None) -> NoReturn:
        self.cancel()
        if exc is None:
            raise ObjectiveNotLoadable(
                f"no worker ran a one-line check of the objective within "
                f"{self._timeout:g} s: the workers may be unable to unpickle it (its "
                "module is not importable there) or the cluster is saturated by other work; "
                "check the worker logs"
            )
        if isinstance(self.objective, ShippedObjective):
            name, module = self.objective.name, self.objective.module
        else:
            name = getattr(self.objective, "__qualname__", repr(self.objective))
            module = getattr(self.objective, "__module__", "?")
        raise ObjectiveNotLoadable(
            f"the workers cannot load the objective {name!r} from module {module!r}: "
            f"{type(exc).__name__}: {exc}. Put the module where the workers can import it "
            "(install it in their environment or add its directory to their PYTHONPATH), "
            "or define the objective in the script or notebook that calls tune()"
        ) from exc
