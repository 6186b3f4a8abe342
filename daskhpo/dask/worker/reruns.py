"""Worker side: an attempt runs its objective at most once, whatever Dask reruns.

Dask reruns a task whose worker died (``distributed.scheduler.allowed-failures``, 3 unless
configured), from scratch and without telling the driver; on a cluster the user passes in,
that is the default. The driver counts such an attempt as lost and submits a new one, which
resumes from the trial's checkpoint; the rerun must then not run the objective beside it.
Standard library only: it runs on workers.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def claim_start(trial_dir: str, key: str, worker: str) -> str | None:
    """Mark the attempt ``key`` as started; None the first time, else the worker that had.

    Dask reruns a task whose worker died (``allowed-failures``, 3 unless configured), from
    scratch, without telling the driver. The mark, beside the trials' directories (shared by
    the workers, like their checkpoints), lets such a rerun end at once instead of running the
    objective a second time beside the new attempt the driver submits.
    """
    marks = os.path.join(os.path.dirname(trial_dir), ".started")
    try:
        os.makedirs(marks, exist_ok=True)
        fd = os.open(os.path.join(marks, key), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            return Path(marks, key).read_text() or "?"
        return "?"
    except OSError:
        # No mark can be made (a full or read-only disk): run as a first start; the driver
        # still counts a second start event as a loss, and the objective meets the disk itself.
        return None
    try:
        os.write(fd, worker.encode())  # who started it, for the message; the file is the mark
    except OSError:
        pass
    finally:
        os.close(fd)
    return None
