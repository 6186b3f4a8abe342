"""Common random numbers: per-trial draws that depend only on (seed, stream, trial id), never
on the order trials are asked for, so synchronous and asynchronous runs with one seed see the
same durations. Draws are made in blocks by a numpy Generator keyed by (seed, stream, block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "BLOCK",
    "STREAM_CURVE",
    "STREAM_DURATION",
    "STREAM_METRIC",
    "STREAM_STRAGGLER",
    "KeyedDraws",
]

BLOCK = 1024  # draws per generator block
_CACHE_BLOCKS = 256

# Streams: independent sequences under one seed.
STREAM_DURATION = 0
STREAM_METRIC = 1
STREAM_CURVE = 2
STREAM_STRAGGLER = 3


class KeyedDraws:
    """Per-trial values that depend only on (seed, stream, trial id): common random numbers.

    ``fill(rng, n)`` returns ``n`` draws (an array of n values, or of n rows).
    """

    __slots__ = ("_blocks", "_fill", "_last", "_last_index", "seed", "stream")

    def __init__(
        self,
        seed: int,
        stream: int,
        fill: Callable[[np.random.Generator, int], np.ndarray[Any, np.dtype[np.float64]]],
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.stream = stream
        self._fill = fill
        self._blocks: dict[int, list[Any]] = {}
        self._last_index = -1
        self._last: list[Any] = []

    def block(self, index: int) -> list[Any]:
        """Draws for trial ids ``index * BLOCK`` to ``(index + 1) * BLOCK - 1``."""
        values = self._blocks.get(index)
        if values is None:
            rng = np.random.default_rng([self.seed, self.stream, index])
            values = self._fill(rng, BLOCK).tolist()
            if len(self._blocks) >= _CACHE_BLOCKS:
                del self._blocks[next(iter(self._blocks))]
            self._blocks[index] = values
        return values

    def __getitem__(self, trial_id: int) -> Any:
        index, offset = divmod(trial_id, BLOCK)
        if index != self._last_index:
            if trial_id < 0:
                raise IndexError(f"trial ids are >= 0, got {trial_id!r}")
            self._last = self.block(index)
            self._last_index = index
        return self._last[offset]
