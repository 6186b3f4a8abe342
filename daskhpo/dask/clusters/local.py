"""Start a cluster on this machine: a LocalCluster (``local``, optionally emulating GPUs) or a
dask-cuda LocalCUDACluster (``cuda``), both with daskhpo's settings, bound to loopback."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import dask
from distributed import LocalCluster

from daskhpo.dask.clusters.own import (
    OWN_CLUSTER_CONFIG,
    keep_workers_off_main,
    temporary_security,
)
from daskhpo.dask.clusters.spec import CUDA_GPUS, CUDA_MISSING, default_workers, local_layout
from daskhpo.dask.gpus import GPU, GPU_POOL_ENV, WORKER_GPUS_ENV, gpu_list
from daskhpo.errors import ClusterError

__all__ = ["local_dashboard_address", "start_cuda_cluster", "start_local_cluster"]


def start_local_cluster(options: Mapping[str, Any]) -> LocalCluster:
    """A LocalCluster with daskhpo's defaults, which ``options`` override.

    It binds the loopback interface only (``host``), so nothing outside this machine can reach
    the scheduler or the workers. ``gpus: N`` emulates N GPUs; ``tls: true`` encrypts and
    authenticates every connection with temporary certificates.
    """
    options = dict(options)
    gpus = options.pop("gpus", None)
    tls = options.pop("tls", False)
    kwargs: dict[str, Any] = {
        "n_workers": default_workers(),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": local_dashboard_address(),
    }
    if gpus is not None:
        layout = local_layout({**options, "gpus": gpus})
        assert layout is not None
        workers, per_worker = layout
        kwargs["n_workers"] = workers
        kwargs["resources"] = {GPU: per_worker}
        env = dict(options.pop("env", None) or {})
        env[WORKER_GPUS_ENV] = gpu_list(gpus)
        env[GPU_POOL_ENV] = f"emulated-{os.getpid()}-{time.monotonic_ns()}"
        kwargs["env"] = env
    if tls:
        kwargs["security"] = temporary_security()
        kwargs["protocol"] = "tls://"
    kwargs.update(options)
    keep_workers_off_main()  # a script without a __main__ guard works as it is
    with dask.config.set(OWN_CLUSTER_CONFIG):
        return LocalCluster(**kwargs)


def local_dashboard_address(preferred: int = 8787) -> str:
    """Dask's usual dashboard port on loopback when it is free, else any free port.

    Dask itself would warn that the port is taken (another cluster runs) and move on; asking
    for a free port up front keeps a second search quiet. Loopback only, like the cluster.
    """
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return "127.0.0.1:0"
    return f"127.0.0.1:{preferred}"


def start_cuda_cluster(options: Mapping[str, Any]) -> Any:
    """A dask-cuda LocalCUDACluster whose workers advertise ``GPU: 1`` (one worker per GPU)."""
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as exc:
        raise ClusterError(CUDA_MISSING) from exc
    options = dict(options)
    tls = options.pop("tls", False)
    if "gpus" in options:
        raise ClusterError(CUDA_GPUS)
    kwargs: dict[str, Any] = {
        "host": "127.0.0.1",
        "dashboard_address": local_dashboard_address(),
        "resources": {GPU: 1},
    }
    if tls:
        kwargs["security"] = temporary_security()
        kwargs["protocol"] = "tls://"
    kwargs.update(options)
    keep_workers_off_main()
    try:
        with dask.config.set(OWN_CLUSTER_CONFIG):
            return LocalCUDACluster(**kwargs)
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        raise ClusterError(
            f"could not start a LocalCUDACluster ({type(exc).__name__}: {exc}); this machine "
            "may have no usable NVIDIA GPU or driver. To try GPU trials without GPUs, emulate "
            "them: cluster: {local: {gpus: 2}}"
        ) from exc
