"""How much to keep in flight, how long attempts run, and when to give up waiting for workers.

Pure bookkeeping for :class:`~daskhpo.tuner.state.TunerState`: the times it reads are the
``now`` its loop passes in, and what a backend's runtime needs beyond the generic rules comes
from the backend (:class:`~daskhpo.backend.QueueingBackend`), as an argument.
"""

from __future__ import annotations

import numpy as np

#: Attempts kept queued beyond the slots at least, for a queue-preferring scheduler.
MIN_QUEUE = 16
#: ... and at most, whatever the completion rate.
MAX_QUEUE = 512
#: Without workers on their way, how long no capacity at all is tolerated (seconds).
NO_WORKERS_GRACE = 2.0
#: Durations kept for the walltime estimate (the estimate is a quantile: enough for it).
MAX_DURATIONS = 10_000


class Pacing:
    """The completion rate, the expected attempt duration and the wait for capacity."""

    def __init__(self, *, trial_walltime: float | None, track_durations: bool) -> None:
        self.trial_walltime = trial_walltime
        self.track_durations = track_durations
        self.durations: list[float] = []  # wall time of attempts that ran to their end
        self._estimate = (0, 0.0)  # (len(durations) it was computed for, value)
        self._rate_window = (0.0, 0, 0)  # (window start, ends in it, ends in the last one)
        self._no_capacity_since: float | None = None
        self.completions = 0  # attempts ended, ever (a fill's answer may change with each)

    # ------------------------------------------------------------------ queue depth

    def count_completion(self, now: float) -> None:
        self.completions += 1
        start, count, last = self._rate_window
        if now - start >= 1.0:
            self._rate_window = (now, 1, count if now - start < 2.0 else 0)
        else:
            self._rate_window = (start, count + 1, last)

    def completion_rate(self, now: float) -> int:
        """Attempts ended per second, over the last whole one-second window."""
        start, count, last = self._rate_window
        return max(count, last) if now - start < 2.0 else 0

    def queue_depth(self, now: float, min_queue_depth: int) -> int:
        """Attempts to queue beyond the slots for a scheduler that prefers a queue.

        About a quarter of a second of work at the recent completion rate, so that even
        millisecond trials never wait for the driver, at least :data:`MIN_QUEUE` and at least
        what the backend's runtime asks for (``min_queue_depth``).
        """
        start, count, last = self._rate_window  # completion_rate(now), inlined: every fill
        rate = (count if count > last else last) if now - start < 2.0 else 0
        generic = max(MIN_QUEUE, min(MAX_QUEUE, rate // 4))
        return generic if generic > min_queue_depth else min_queue_depth

    # ------------------------------------------------------------------ durations

    def record_duration(self, seconds: float) -> None:
        if self.track_durations and len(self.durations) < MAX_DURATIONS:
            self.durations.append(seconds)

    def expected_duration(self) -> float | None:
        """How long an attempt is expected to run: ``trial_walltime`` if given, else the 90th
        percentile of the attempts that ran to their end (once there are three)."""
        if self.trial_walltime is not None:
            return self.trial_walltime
        n = len(self.durations)
        if n < 3:
            return None
        if n >= self._estimate[0] * 1.1:  # recomputed as the sample grows by 10%
            self._estimate = (n, float(np.quantile(self.durations, 0.9)))
        return self._estimate[1]

    # ------------------------------------------------------------------ no capacity

    def capacity_seen(self) -> None:
        """Some capacity is there: the wait for capacity (if any) is over."""
        self._no_capacity_since = None

    def no_capacity_wait(
        self,
        now: float,
        *,
        capacity: int,
        busy: bool,
        pending: bool,
        startup_timeout: float | None,
    ) -> float | None:
        """Seconds waited for capacity when it is time to give up, else None.

        No capacity while attempts run (``busy``) is fine. Workers on their way (``pending``:
        jobs queued, a worker restarting) are waited for as long as ``startup_timeout`` allows
        (by default as long as they are coming); otherwise :data:`NO_WORKERS_GRACE` seconds.
        """
        if capacity > 0 or busy:
            self._no_capacity_since = None
            return None
        if self._no_capacity_since is None:
            self._no_capacity_since = now
            return None
        waited = now - self._no_capacity_since
        if pending:
            if startup_timeout is None or waited < startup_timeout:
                return None
        elif waited < NO_WORKERS_GRACE:
            return None
        return waited
