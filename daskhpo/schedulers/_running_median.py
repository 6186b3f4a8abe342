"""A multiset of floats that answers "the median without this one value" in O(1).

Median stopping asks, at every report, for the median of the other trials' running means
at a level. Reports arrive in resource order almost always, so a level's means are only ever
added: two heaps (the lower half as a max-heap, the upper half as a min-heap) keep the middle
at their tops, and an insertion costs a heap push in C. A removal (a trial that went back,
restarted without a checkpoint) moves the level to a sorted list once, which can remove and
index anywhere; both give the same answers, to the bit.
"""

from __future__ import annotations

import heapq
import math

from sortedcontainers import SortedList

__all__ = ["RunningMedian"]


class RunningMedian:
    """A multiset of non-NaN floats and its median, with or without one of its values."""

    __slots__ = ("_high", "_low", "_sorted")

    def __init__(self) -> None:
        self._low: list[float] = []  # the smaller half, negated (heapq is a min-heap)
        self._high: list[float] = []  # the larger half; len(low) is len(high) or one more
        self._sorted: SortedList | None = None  # all of them, once anything was removed

    def __len__(self) -> int:
        if self._sorted is not None:
            return len(self._sorted)
        return len(self._low) + len(self._high)

    def add(self, value: float) -> None:
        if self._sorted is not None:
            self._sorted.add(value)
            return
        low, high = self._low, self._high
        if low and value > -low[0]:
            heapq.heappush(high, value)
            if len(high) > len(low):
                heapq.heappush(low, -heapq.heappop(high))
        else:
            heapq.heappush(low, -value)
            if len(low) > len(high) + 1:
                heapq.heappush(high, -heapq.heappop(low))

    def remove(self, value: float) -> None:
        """Remove one copy of ``value`` (which must be there)."""
        if self._sorted is None:
            self._sorted = SortedList([-v for v in self._low] + self._high)
            self._low, self._high = [], []
        self._sorted.remove(value)

    def median_without(self, own: float | None) -> float:
        """The median of the values without one copy of ``own`` (None: of all of them), as
        ``numpy.median`` gives it (the mean of the two middle ones for an even count); NaN
        when nothing is left."""
        if self._sorted is not None:
            return _sorted_median_without(self._sorted, own)
        low, high = self._low, self._high
        n = len(low) + len(high)
        if own is None:
            if n == 0:
                return math.nan
            if n % 2:
                return -low[0]
            return (-low[0] + high[0]) / 2
        if n <= 1:
            return math.nan
        # The sorted values S have S[m-1] at low's top and S[m] at high's (m = len(low)).
        # Without own, the i-th smallest is S[i] where S[i] < own, else S[i + 1].
        top = -low[0]
        if n % 2:  # an even count is left: the mean of its two middle values
            second = -(low[1] if len(low) < 3 or low[1] < low[2] else low[2])
            lower = second if second < own else top
            upper = top if top < own else high[0]
            return (lower + upper) / 2
        return top if top < own else high[0]


def _sorted_median_without(means: SortedList, own: float | None) -> float:
    size = len(means)
    skip = size  # past the end: nothing of its own to leave out
    if own is not None:
        skip = means.bisect_left(own)
        size -= 1
    if size <= 0:
        return math.nan
    half = size // 2
    upper = float(means[half + 1 if half >= skip else half])
    if size % 2:
        return upper
    lower = float(means[half if half - 1 >= skip else half - 1])
    return (lower + upper) / 2
