"""Where trials run: turn a cluster description into a Dask client, and clean up after it.

Accepted descriptions (the ``cluster`` key of an experiment file, or ``tune(cluster=...)``):

* ``None`` or ``"local"`` — a LocalCluster on this machine: one single-threaded worker process
  per core, bound to the loopback interface.
* ``{"local": {...}}`` — the same with LocalCluster keywords (``n_workers``,
  ``threads_per_worker``, ``memory_limit``...), plus ``gpus: N`` to emulate N GPUs on a CPU
  machine (each worker advertises its share as the ``GPU`` resource and trials are pinned to
  fake devices, exactly as on real GPUs) and ``tls: true`` for temporary TLS certificates.
* ``"cuda"`` or ``{"cuda": {...}}`` — a dask-cuda LocalCUDACluster, one worker per GPU, each
  advertising ``GPU: 1`` so that GPU-annotated trials can run on it.
* ``"slurm"`` or ``{"slurm": {...}}`` — a dask-jobqueue SLURMCluster. Keys pass through to
  SLURMCluster (so a site's ``jobqueue.yaml`` applies to everything not given), plus
  ``minimum_jobs`` / ``maximum_jobs`` (adaptive scaling, default 1 and 4), ``jobs`` (a fixed
  number), ``gpus`` (per job: ``--gres=gpu:N`` and ``--resources GPU=...``), ``tls``.
* ``{"address": "tls://host:8786", "tls_ca_file": ..., "tls_client_cert": ...,
  "tls_client_key": ...}`` or a string address — an existing scheduler (cloud, Kubernetes,
  a shared cluster).
* a ``distributed`` Cluster object — used as it is (and not closed).

``spec`` parses and validates a description and imports no Dask module (experiment files are
validated with it alone); ``local`` and ``slurm`` start clusters, ``connect`` yields a client
for any description, ``own`` holds the settings of the clusters daskhpo starts. Importing this
package loads ``distributed`` only when one of the names below that needs it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from daskhpo.dask.clusters.spec import KINDS, ClusterSpec, default_workers
from daskhpo.errors import ClusterError

if TYPE_CHECKING:
    from daskhpo.dask.clusters.connect import Probe, connect
    from daskhpo.dask.clusters.local import (
        local_dashboard_address,
        start_cuda_cluster,
        start_local_cluster,
    )
    from daskhpo.dask.clusters.own import OWN_CLUSTER_CONFIG, owns_scheduler
    from daskhpo.dask.clusters.slurm import (
        JOB_CLUSTER_CONFIG,
        SlurmWatch,
        check_job_script,
        slurm_kwargs,
        start_slurm_cluster,
    )

__all__ = [
    "JOB_CLUSTER_CONFIG",
    "KINDS",
    "OWN_CLUSTER_CONFIG",
    "ClusterError",
    "ClusterSpec",
    "Probe",
    "SlurmWatch",
    "check_job_script",
    "connect",
    "default_workers",
    "local_dashboard_address",
    "owns_scheduler",
    "slurm_kwargs",
    "start_cuda_cluster",
    "start_local_cluster",
    "start_slurm_cluster",
]

#: Where each name that needs ``distributed`` lives (imported on first use).
_LAZY = {
    "Probe": "connect",
    "connect": "connect",
    "local_dashboard_address": "local",
    "start_cuda_cluster": "local",
    "start_local_cluster": "local",
    "OWN_CLUSTER_CONFIG": "own",
    "owns_scheduler": "own",
    "JOB_CLUSTER_CONFIG": "slurm",
    "SlurmWatch": "slurm",
    "check_job_script": "slurm",
    "slurm_kwargs": "slurm",
    "start_slurm_cluster": "slurm",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
