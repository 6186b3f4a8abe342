"""How long a worker has left: Dask's ``--lifetime`` and the SLURM job's walltime.

Runs on workers (``client.run``), so it imports only the standard library and psutil.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from typing import Any


def parse_slurm_duration(text: str) -> float | None:
    """Seconds of a squeue ``%L`` value (``[days-]hours:minutes:seconds``); None if unlimited."""
    text = text.strip()
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(?:(\d+):)?(\d+)", text)
    if match is None:
        return None
    days, a, b, seconds = match.groups()
    parts = [int(p) for p in (a, b) if p is not None]
    hours, minutes = [0, 0, *parts][-2:]
    return float(int(days or 0) * 86400 + hours * 3600 + minutes * 60 + int(seconds))


def remaining_lifetime(dask_worker: Any = None) -> float | None:
    """Seconds until the worker this runs on retires, or None when nothing limits it.

    Run on workers with ``client.run``. Takes the earlier of Dask's ``--lifetime`` (counted from
    the worker process's start, so slightly early) and the SLURM job's time left (``squeue``).
    """
    import psutil

    left: list[float] = []
    lifetime = getattr(dask_worker, "lifetime", None)
    if lifetime:
        started = psutil.Process().create_time()
        left.append(started + float(lifetime) - time.time())
    job = os.environ.get("SLURM_JOB_ID")
    if job and shutil.which("squeue"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run(
                ["squeue", "-h", "-j", job, "-o", "%L"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            seconds = parse_slurm_duration(done.stdout)
            if done.returncode == 0 and seconds is not None:
                left.append(seconds)
    return max(0.0, min(left)) if left else None
