"""Parse and validate a cluster description, without starting anything or importing Dask.

Validating an experiment file uses only this module, so it never imports ``distributed`` or
``dask_jobqueue``; the modules that start clusters (``local``, ``slurm``, ``connect``) take a
:class:`ClusterSpec` from here. Optional packages a description needs (dask-cuda,
dask-jobqueue, cryptography for ``tls: true``) are looked up, not imported, so a missing one is
a one-line :class:`~daskhpo.errors.ClusterError` naming what to install.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daskhpo.errors import ClusterError

KINDS = ("local", "cuda", "slurm", "address")

#: daskhpo's own keys in ``{"slurm": {...}}``; all other keys go to SLURMCluster.
SLURM_KEYS = ("minimum_jobs", "maximum_jobs", "jobs", "gpus", "tls")
#: daskhpo's own keys in ``{"local": {...}}`` and ``{"cuda": {...}}``.
LOCAL_KEYS = ("gpus", "tls")
#: TLS keys of ``{"address": ...}`` that build a ``distributed.security.Security``.
TLS_KEYS = ("tls_ca_file", "tls_client_cert", "tls_client_key")

DEFAULT_MAXIMUM_JOBS = 4

CUDA_MISSING = (
    "cluster 'cuda' needs dask-cuda and NVIDIA GPUs (pip install dask-cuda). To try GPU "
    "trials on a machine without GPUs, emulate them: cluster: {local: {gpus: 2}}"
)
CUDA_GPUS = (
    "cluster 'cuda' runs one worker per visible GPU; choose the GPUs with "
    "CUDA_VISIBLE_DEVICES: '0,1' instead of gpus"
)
JOBQUEUE_MISSING = (
    "cluster 'slurm' needs dask-jobqueue: pip install 'daskhpo[slurm]' (or dask-jobqueue)"
)
TLS_MISSING = (
    "tls: true makes temporary certificates, which needs the cryptography package: "
    "pip install 'daskhpo[tls]' (or cryptography), or drop tls"
)


@dataclass(frozen=True)
class ClusterSpec:
    """A validated cluster description."""

    kind: str
    options: dict[str, Any]

    @classmethod
    def parse(cls, value: Any) -> ClusterSpec:
        """Validate a description without starting anything."""
        if value is None or value == "local":
            return cls("local", {})
        if isinstance(value, str):
            if "://" in value:
                return cls("address", {"address": value})
            if value in KINDS and value != "address":
                return cls._checked(value, {})
            raise ClusterError(
                f"cluster {value!r} is not a known kind; use one of {list(KINDS)}, a mapping "
                "like {'local': {'n_workers': 2}}, or a scheduler address like "
                "'tcp://host:8786'"
            )
        if isinstance(value, Mapping):
            if isinstance(value.get("address"), str) and len(value) > 1:
                value = {"address": dict(value)}  # flat: {address: ..., tls_ca_file: ...}
            if len(value) != 1:
                raise ClusterError(
                    f"cluster must have exactly one kind as its key, got {sorted(value)}; "
                    f"known kinds: {list(KINDS)}"
                )
            ((kind, options),) = value.items()
            if kind not in KINDS:
                raise ClusterError(f"unknown cluster kind {kind!r}; known kinds: {list(KINDS)}")
            if kind == "address" and isinstance(options, str):
                options = {"address": options}
            if options is None:
                options = {}
            if not isinstance(options, Mapping):
                raise ClusterError(f"cluster {kind!r} needs a mapping of options, got {options!r}")
            if kind == "address" and "address" not in options:
                raise ClusterError("cluster 'address' needs an address, e.g. tcp://host:8786")
            return cls._checked(kind, dict(options))
        raise ClusterError(
            f"cannot use {value!r} (a {type(value).__name__}) as a cluster; pass a "
            "description (see daskhpo.dask.clusters) or a distributed Cluster"
        )

    @classmethod
    def _checked(cls, kind: str, options: dict[str, Any]) -> ClusterSpec:
        if "tls" in options:
            if not isinstance(options["tls"], bool):
                raise ClusterError(
                    f"cluster {kind!r}: tls must be true or false, got {options['tls']!r}"
                )
            if options["tls"]:
                require_module("cryptography", TLS_MISSING)
        if kind == "local":
            local_layout(options)
        elif kind == "cuda":
            if "gpus" in options:
                raise ClusterError(CUDA_GPUS)
            require_module("dask_cuda", CUDA_MISSING)
        elif kind == "slurm":
            require_module("dask_jobqueue", JOBQUEUE_MISSING)
            job_counts(options)
            if "gpus" in options:
                positive_int("slurm", "gpus", options["gpus"])
        elif kind == "address":
            unknown = [k for k in TLS_KEYS if k in options and not isinstance(options[k], str)]
            if unknown:
                raise ClusterError(f"cluster 'address': {unknown[0]} must be a file path")
        return cls(kind, options)


def require_module(name: str, message: str) -> None:
    """Raise ``ClusterError(message)`` unless ``name`` can be imported (it is not imported).

    A blocked or broken install (``sys.modules[name] = None``) counts as missing."""
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ClusterError(message)


def positive_int(kind: str, key: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer of at least ``minimum``, else a ClusterError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ClusterError(
            f"cluster {kind!r}: {key} must be an integer >= {minimum}, got {value!r}"
        )
    return value


def local_layout(options: Mapping[str, Any]) -> tuple[int, float] | None:
    """Workers and GPU units per worker of an emulated-GPU local cluster (``gpus`` option)."""
    gpus = options.get("gpus")
    if gpus is None:
        return None
    gpus = positive_int("local", "gpus", gpus)
    workers = options.get("n_workers", gpus)
    workers = positive_int("local", "n_workers", workers)
    if gpus % workers and workers % gpus:
        raise ClusterError(
            f"cluster 'local': {gpus} GPUs cannot be shared evenly by {workers} workers; "
            f"use n_workers equal to gpus (one worker per GPU, the safe layout), a divisor "
            f"of it (workers with several GPUs), or a multiple of it (workers sharing a GPU)"
        )
    return workers, gpus / workers


def job_counts(options: Mapping[str, Any]) -> tuple[int, int]:
    """(minimum, maximum) number of SLURM jobs."""
    if "jobs" in options:
        if "minimum_jobs" in options or "maximum_jobs" in options:
            raise ClusterError(
                "cluster 'slurm': give either jobs (a fixed number) or minimum_jobs/maximum_jobs "
                "(adaptive), not both"
            )
        jobs = positive_int("slurm", "jobs", options["jobs"])
        return jobs, jobs
    # At least one job: the driver queues trials only once some worker can run them.
    minimum = positive_int("slurm", "minimum_jobs", options.get("minimum_jobs", 1))
    maximum = options.get("maximum_jobs", max(minimum, DEFAULT_MAXIMUM_JOBS))
    maximum = positive_int("slurm", "maximum_jobs", maximum)
    if maximum < minimum:
        raise ClusterError(
            f"cluster 'slurm': maximum_jobs ({maximum}) is below minimum_jobs ({minimum})"
        )
    return minimum, maximum


def default_workers() -> int:
    """One worker per core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
