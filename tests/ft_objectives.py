"""Objectives for the fault-tolerance tests: they sleep, checkpoint, and leave evidence.

:func:`checkpointed` keeps ``state.json`` (the next step to run) in its checkpoint directory,
appends one line per executed step to ``steps.log`` and one line per completion to
``done.log``, so tests can tell what really ran, how often, and whether a resubmitted attempt
resumed. It never reports, so nothing can stop it early.

:func:`stepped` reports after every step, so a stop or a cancel reaches it at the next step.
Its checkpoint is its step log: one ``attempt step`` line per step, appended with a single
write, so the log is never out of step with the checkpoint, even under SIGKILL. When a report
raises (the driver stopped or cancelled the attempt) it appends ``attempt stopped`` first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import daskhpo as dh

#: The step log of :func:`stepped`, in each trial's checkpoint directory.
STEP_LOG = "steps.log"


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
    trial = dh.current_trial()
    attempt = trial.attempt if trial is not None else -1
    with (ckpt / "done.log").open("a") as log:
        log.write(f"done {attempt} {start}\n")  # which attempt ran to the end, from where
    return {"loss": float(config["x"]) ** 2, "resumed_from": start, "ran": steps - start}


def check_ran_to_the_end_once(trial_dir: Path, final_attempt: int, steps: int) -> None:
    """Assert from ``done.log`` that no step of the trial's work was done twice to the end.

    Each attempt reaches the end at most once (a second line for one attempt is an attempt
    run again behind the driver's back), the last to reach it is the one the driver recorded,
    and an earlier one may only be an attempt killed after its last step and before its
    result reached the driver: the next attempt then resumed at the end and redid nothing.
    """
    lines = [line.split() for line in (trial_dir / "done.log").read_text().splitlines()]
    attempts = [int(attempt) for _, attempt, _ in lines]
    starts = [int(start) for _, _, start in lines]
    assert len(set(attempts)) == len(attempts), f"an attempt ran to the end twice: {lines}"
    assert attempts[-1] == final_attempt, lines
    assert all(start == steps for start in starts[1:]), f"work was redone: {lines}"


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: a line is there whole or not at all
    finally:
        os.close(fd)


def read_steps(path: Path) -> list[tuple[int, int]]:
    """``(attempt, step)`` of each step the log of :func:`stepped` holds, in order."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        attempt, what = line.split()
        if what != "stopped":
            out.append((int(attempt), int(what)))
    return out


def read_stops(path: Path) -> list[int]:
    """The attempts that the log of :func:`stepped` says were stopped at a report."""
    if not path.exists():
        return []
    lines = (line.split() for line in path.read_text().splitlines())
    return [int(attempt) for attempt, what in lines if what == "stopped"]


def stepped(config: dict[str, Any]) -> dict[str, Any]:
    """``steps`` steps of ``step_time`` s each, a report and a checkpoint after each."""
    ctx = dh.current_trial()
    attempt = ctx.attempt if ctx is not None else 0
    log = dh.checkpoint_dir() / STEP_LOG
    done = read_steps(log)
    start = done[-1][1] + 1 if done else 0
    steps = int(config["steps"])
    for step in range(start, steps):
        time.sleep(float(config["step_time"]))
        _append(log, f"{attempt} {step}\n")
        try:
            dh.report(step + 1, loss=float(config["x"]) ** 2 + 1.0 / (step + 1))
        except dh.TrialStopped:
            _append(log, f"{attempt} stopped\n")
            raise
    return {"loss": float(config["x"]) ** 2, "resumed_from": start, "ran": steps - start}


def memory_hog(config: dict[str, Any]) -> dict[str, Any]:
    """When ``n`` is ``hog``, allocates (and touches) 25 MiB every 50 ms up to ``mib`` MiB: more
    than its worker's memory limit, so its nanny restarts the worker. Else a short, tame trial."""
    if config["n"] != config["hog"]:
        time.sleep(0.2)
        return {"loss": float(config["x"])}
    import numpy as np

    held = []
    for _ in range(int(config["mib"]) // 25):
        held.append(np.ones(25 * 2**20 // 8))
        time.sleep(0.05)
    return {"loss": -1.0, "held": len(held)}


def hangs(config: dict[str, Any]) -> dict[str, Any]:
    """When ``n`` is ``hang``, sleeps (up to a minute) without ever reporting: a hung trial
    that only a worker restart ends. Else a short trial."""
    if config["n"] == config["hang"]:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(0.3)
    return {"loss": float(config["n"])}


def reports_forever(config: dict[str, Any]) -> dict[str, Any]:
    """When ``n`` is ``hang``, reports every 0.1 s (up to a minute): a stop ends it. Else short."""
    steps = 600 if config["n"] == config["hang"] else 3
    for step in range(steps):
        time.sleep(0.1)
        dh.report(step, loss=float(config["n"]))
    return {"loss": float(config["n"])}
