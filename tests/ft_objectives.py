"""Objectives for the fault-tolerance tests: they sleep, checkpoint, and leave evidence.

Each trial keeps ``state.json`` (the next step to run) in its checkpoint directory, appends
one line per executed step to ``steps.log`` and one line per completion to ``done.log``, so
tests can tell what really ran, how often, and whether a resubmitted attempt resumed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import daskhpo as dh


def checkpointed(config: dict[str, Any]) -> dict[str, Any]:
    ckpt = dh.checkpoint_dir()
    state_file = ckpt / "state.json"
    start = json.loads(state_file.read_text())["next_step"] if state_file.exists() else 0
    steps = int(config.get("steps", 8))
    for step in range(start, steps):
        time.sleep(config.get("step_time", 0.1))
        with (ckpt / "steps.log").open("a") as log:
            log.write(f"{step}\n")
        # Written aside and renamed: a SIGKILL mid-write must not leave an empty checkpoint.
        partial = ckpt / "state.json.partial"
        partial.write_text(json.dumps({"next_step": step + 1}))
        os.replace(partial, state_file)
    with (ckpt / "done.log").open("a") as log:
        log.write("done\n")
    return {"loss": float(config["x"]) ** 2, "resumed_from": start, "ran": steps - start}
