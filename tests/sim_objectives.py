"""Objectives that sleep exactly as long as the simulator says their trial takes.

They live in a module so worker processes can import them. The configuration carries the
duration SPEC and seed as constants; the trial id comes from the running attempt.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import daskhpo as dh
from simulate.workloads import DurationModel


@functools.lru_cache(maxsize=8)
def _model(spec: str, seed: int) -> DurationModel:
    return DurationModel(spec, seed=seed)


def sleep_like_sim(config: dict[str, Any]) -> dict[str, Any]:
    ctx = dh.current_trial()
    assert ctx is not None, "run this objective inside a trial"
    seconds = _model(config["duration"], int(config["duration_seed"]))(ctx.trial_id, config)
    time.sleep(seconds)
    return {"loss": config["x"], "slept": seconds}
