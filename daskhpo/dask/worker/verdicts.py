"""Worker side: the driver's verdicts on attempts, and waiting for one at a milestone.

The driver delivers a STOP or PAUSE (:func:`request_stop`) and, for a milestone report the
scheduler let pass, a CONTINUE (:func:`request_continue`) with ``Client.run(..., wait=False)``:
the coroutine runs on the worker's event loop, records the verdict here and wakes the trial's
thread if it waits in :func:`wait_for_verdict`. Between milestones nothing waits: ``report()``
only reads :func:`stop_request`. No ``distributed`` import: the functions run wherever the
driver sends them.
"""

from __future__ import annotations

import math
import threading

#: Worker-global stop requests: task key -> True for pause, False for stop.
_STOP_REQUESTS: dict[str, bool] = {}
#: Attempts running on this worker -> the highest milestone step they were let past.
_RELEASED: dict[str, float] = {}
_CHANGED = threading.Condition()


def stop_request(key: str) -> bool | None:
    """True (pause) or False (stop) if the driver asked the attempt ``key`` to end."""
    return _STOP_REQUESTS.get(key)


async def request_stop(key: str, paused: bool) -> None:
    """Mark the attempt ``key`` to end at its next report; run on the worker by the driver.

    A coroutine function: ``Client.run(..., wait=False)`` accepts only those. An attempt that
    has not started yet finds the mark at its first report.
    """
    with _CHANGED:
        _STOP_REQUESTS[key] = paused
        _CHANGED.notify_all()


async def request_continue(key: str, step: float) -> None:
    """Let the attempt ``key`` go on past its milestone report ``step``; run by the driver.

    Ignored for an attempt that is not running here (it ended before the verdict came).
    """
    with _CHANGED:
        if key in _RELEASED:
            _RELEASED[key] = max(_RELEASED[key], step)
            _CHANGED.notify_all()


def begin(key: str) -> None:
    """The attempt ``key`` starts running on this worker."""
    with _CHANGED:
        _RELEASED[key] = -math.inf


def forget(key: str) -> None:
    """The attempt ``key`` ended: drop what was recorded for it."""
    with _CHANGED:
        _STOP_REQUESTS.pop(key, None)
        _RELEASED.pop(key, None)


def wait_for_verdict(key: str, step: float, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the driver's verdict on the report at ``step``.

    Returns whether one came (a stop request, read with :func:`stop_request`, or a release
    past ``step``); False when the wait timed out and the attempt goes on regardless.
    """

    def decided() -> bool:
        return key in _STOP_REQUESTS or _RELEASED.get(key, -math.inf) >= step

    with _CHANGED:
        return _CHANGED.wait_for(decided, timeout)
