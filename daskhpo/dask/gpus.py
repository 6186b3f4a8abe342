"""GPUs for trials: per-trial GPU requests, and pinning each attempt to devices of its own.

Dask resources are logical counters: a worker started with ``--resources GPU=2`` runs at most
two ``GPU: 1`` trials at once, but nothing tells a trial *which* of the worker's GPUs is its
own. :func:`pinned` does: on the worker, it takes devices from the worker's visible list
(``DASKHPO_WORKER_GPUS``, else ``CUDA_VISIBLE_DEVICES``, else the ``/dev/nvidiaN`` device
files) and sets ``CUDA_VISIBLE_DEVICES`` for the attempt.

The bookkeeping is a small JSON file under a lock, shared by every worker process that sees
the same device list in the same SLURM job (or on the same machine outside SLURM), so the
processes of a multi-GPU job never pick the same device. A holder whose process died is
forgotten at the next allocation. Fractional requests share a device (two ``GPU: 0.5`` trials
get the same one). CUDA reads ``CUDA_VISIBLE_DEVICES`` once per process, so a process keeps the
devices it had before whenever they are free; the safe layout is one worker process per GPU
(``cuda`` clusters, ``gpus`` on SLURM and emulated local clusters all default to it).

This module imports neither ``distributed`` nor anything outside the standard library.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import socket
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The Dask resource name daskhpo uses for GPUs.
GPU = "GPU"
#: Device list of a worker, overriding ``CUDA_VISIBLE_DEVICES`` (set for emulated GPUs).
WORKER_GPUS_ENV = "DASKHPO_WORKER_GPUS"
#: Name of the pool of devices a worker shares with others (set for emulated GPUs so that two
#: emulated clusters on one machine do not share their fake devices).
GPU_POOL_ENV = "DASKHPO_GPU_POOL"

_EPS = 1e-9
_process_lock = threading.Lock()
_worker_devices: list[str] | None = None
_original_cuda_env: str | None = None
_active: dict[str, list[str]] = {}  # attempt key -> devices, in this process
_affinity: list[str] = []  # devices this process used before, most recent first
_warned_threads = False


# --------------------------------------------------------------------------- driver side


def check_trial_gpus(resources: Mapping[str, float]) -> None:
    """Validate a per-trial GPU request; warn that fractional GPUs are shared, not split.

    More than one GPU must be a whole number (two trials cannot each own 1.5 devices).
    """
    amount = resources.get(GPU)
    if amount is None:
        return
    if amount > 1 and not float(amount).is_integer():
        raise ValueError(
            f"a trial asks for {amount:g} GPUs; more than one GPU must be a whole number "
            "(e.g. 2), and a fraction (e.g. 0.5) must be at most one GPU"
        )
    if amount < 1:
        share = math.floor(1 / amount + _EPS)
        warnings.warn(
            f"GPU: {amount:g} per trial lets up to {share} trials share one GPU. Dask "
            "resources are logical counters, not enforced: the trials share the device's "
            "memory and compute, so make sure that many fit on one device.",
            UserWarning,
            stacklevel=4,
        )


def gpu_list(count: int) -> str:
    """The fake device list ``0,1,...`` of ``count`` emulated GPUs."""
    return ",".join(str(i) for i in range(count))


# --------------------------------------------------------------------------- worker side


def parse_devices(value: str | None) -> list[str]:
    """Device ids of a ``CUDA_VISIBLE_DEVICES``-style list; empty for unset, '' or 'NoDevFiles'."""
    if value is None:
        return []
    devices = [d.strip() for d in value.split(",") if d.strip()]
    if devices in (["NoDevFiles"], ["-1"]):
        return []
    return devices


def _detect_devices(environ: Mapping[str, str]) -> list[str]:
    if WORKER_GPUS_ENV in environ:
        return parse_devices(environ[WORKER_GPUS_ENV])
    if "CUDA_VISIBLE_DEVICES" in environ:
        return parse_devices(environ["CUDA_VISIBLE_DEVICES"])
    numbers = []
    for path in Path("/dev").glob("nvidia[0-9]*"):
        match = re.fullmatch(r"nvidia(\d+)", path.name)
        if match:
            numbers.append(int(match.group(1)))
    return [str(n) for n in sorted(numbers)]


def worker_devices() -> list[str]:
    """The GPUs this worker process may hand out, as found when it first asked."""
    global _worker_devices, _original_cuda_env
    with _process_lock:
        if _worker_devices is None:
            _original_cuda_env = os.environ.get("CUDA_VISIBLE_DEVICES")
            _worker_devices = _detect_devices(os.environ)
        return list(_worker_devices)


def _pool_path(devices: list[str]) -> Path:
    pool = os.environ.get(GPU_POOL_ENV) or "{}|{}".format(
        socket.gethostname(), os.environ.get("SLURM_JOB_ID", "")
    )
    digest = hashlib.sha1(f"{pool}|{','.join(devices)}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"daskhpo-gpus-{os.getuid()}-{digest}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked_state(path: Path) -> Iterator[dict[str, list[list[Any]]]]:
    """The pool's holders ``{device: [[pid, key, units], ...]}``, saved on exit, under a lock."""
    lock_path = path.with_suffix(".lock")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                state: dict[str, list[list[Any]]] = json.loads(path.read_text())
            except (OSError, ValueError):
                state = {}
            for device in list(state):
                state[device] = [h for h in state[device] if _alive(int(h[0]))]
            yield state
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def choose(
    devices: list[str],
    used: Mapping[str, float],
    units: float,
    preferred: Sequence[str] = (),
) -> tuple[list[str], bool]:
    """Pick devices for ``units`` GPUs given the units already ``used`` per device.

    Returns the devices and whether they were free (False: every device was busy and the
    least-loaded were shared anyway, because the worker advertises more GPU units than it
    has devices). Prefers ``preferred`` (this process's earlier devices), then for fractions
    the fullest device that still fits, so whole devices stay free for whole requests.
    """
    rank = {d: (preferred.index(d) if d in preferred else len(preferred)) for d in devices}
    if units <= 1 + _EPS:
        fits = [d for d in devices if used.get(d, 0.0) + units <= 1 + _EPS]
        if fits:
            fits.sort(key=lambda d: (rank[d], -used.get(d, 0.0), devices.index(d)))
            return [fits[0]], True
        least = min(devices, key=lambda d: (used.get(d, 0.0), devices.index(d)))
        return [least], False
    need = math.ceil(units - _EPS)
    free = [d for d in devices if used.get(d, 0.0) <= _EPS]
    free.sort(key=lambda d: (rank[d], devices.index(d)))
    if len(free) >= need:
        return free[:need], True
    by_load = sorted(devices, key=lambda d: (used.get(d, 0.0), devices.index(d)))
    return by_load[: min(need, len(devices))], False


def acquire(key: str, units: float) -> list[str]:
    """Reserve devices for the attempt ``key`` on this worker; [] when it sees no GPUs."""
    devices = worker_devices()
    if not devices or units <= 0:
        return []
    with _locked_state(_pool_path(devices)) as state:
        used = {d: sum(float(h[2]) for h in state.get(d, [])) for d in devices}
        chosen, free = choose(devices, used, units, _affinity)
        share = units / len(chosen)
        for device in chosen:
            state.setdefault(device, []).append([os.getpid(), key, share])
    if not free:
        logger.warning(
            "trial %s asked for %g GPU(s) but all of this worker's devices %s are taken; "
            "sharing %s. The worker advertises more GPU units than it has devices.",
            key,
            units,
            devices,
            chosen,
        )
    return chosen


def release(key: str) -> None:
    """Give back the devices of the attempt ``key``."""
    devices = worker_devices()
    if not devices:
        return
    with _locked_state(_pool_path(devices)) as state:
        for device in list(state):
            state[device] = [h for h in state[device] if h[1] != key]


@contextlib.contextmanager
def pinned(key: str, resources: Mapping[str, float] | None) -> Iterator[list[str]]:
    """Run an attempt on devices of its own: sets ``CUDA_VISIBLE_DEVICES`` while it runs.

    Yields the devices ([] when the attempt asks for no GPU or the worker sees none, and then
    the environment is left alone).
    """
    global _warned_threads
    units = float((resources or {}).get(GPU, 0.0))
    devices = acquire(key, units) if units > 0 else []
    if not devices:
        yield []
        return
    with _process_lock:
        others = {tuple(d) for d in _active.values()}
        if others and tuple(devices) not in others and not _warned_threads:
            _warned_threads = True
            logger.warning(
                "this worker process runs GPU trials on different devices at once, in threads; "
                "CUDA_VISIBLE_DEVICES is one per process, so start one worker process per GPU "
                "(one thread each) and read daskhpo.current_trial().devices in the objective"
            )
        _active[key] = devices
        for device in reversed(devices):
            if device in _affinity:
                _affinity.remove(device)
            _affinity.insert(0, device)
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        yield devices
    finally:
        with _process_lock:
            _active.pop(key, None)
            if _active:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(next(reversed(_active.values())))
            elif _original_cuda_env is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = _original_cuda_env
        release(key)


def with_gpus(resources: Mapping[str, float], gpus_per_trial: float | None) -> dict[str, float]:
    """Per-trial resources with ``gpus_per_trial`` added as the ``GPU`` resource, validated."""
    out = dict(resources)
    if gpus_per_trial is not None:
        if (
            isinstance(gpus_per_trial, bool)
            or not isinstance(gpus_per_trial, (int, float))
            or not (math.isfinite(gpus_per_trial) and gpus_per_trial > 0)
        ):
            raise ValueError(
                f"gpus_per_trial must be a positive number of GPUs (e.g. 1, 2 or 0.5), "
                f"got {gpus_per_trial!r}"
            )
        if GPU in out and out[GPU] != gpus_per_trial:
            raise ValueError(
                f"gpus_per_trial={gpus_per_trial!r} contradicts resources={{'GPU': {out[GPU]!r}}}; "
                "give only one of them"
            )
        out[GPU] = float(gpus_per_trial)
    check_trial_gpus(out)
    return out
