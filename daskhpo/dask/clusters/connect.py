"""Turn a cluster description into a Dask client (starting the cluster if it is daskhpo's to
start) and a probe that says whether more workers are on their way."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dask
from distributed import Client
from distributed.security import Security

from daskhpo.dask.clusters.local import start_cuda_cluster, start_local_cluster
from daskhpo.dask.clusters.own import owned
from daskhpo.dask.clusters.slurm import JOB_CLUSTER_CONFIG, SlurmWatch, start_slurm_cluster
from daskhpo.dask.clusters.spec import TLS_KEYS, ClusterSpec
from daskhpo.errors import ClusterError

Probe = Callable[[], bool]


def _address_client(options: Mapping[str, Any], connect_timeout: float) -> Client:
    options = dict(options)
    address = options.pop("address")
    security = options.pop("security", None)
    tls = {k: options.pop(k) for k in TLS_KEYS if k in options}
    if security is None and tls:
        security = Security(require_encryption=True, **tls)
    if security is not None:
        options["security"] = security
    try:
        return Client(address, timeout=connect_timeout, **options)
    except (OSError, TypeError, ValueError) as exc:
        # The half-built Client sits in the traceback's frames; were it collected later, in
        # the IO-loop thread of the next Client, its __del__ would deadlock that Client's
        # start. Drop the frames and collect it here.
        exc.__traceback__ = None
        gc.collect()
        hint = "check that it runs and that this machine can reach it"
        if str(address).startswith("tls://") and security is None:
            hint = (
                "a tls:// scheduler needs certificates: give tls_ca_file, tls_client_cert "
                "and tls_client_key"
            )
        elif str(address).startswith("tls://"):
            hint += ", and that its certificates are signed by your tls_ca_file"
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r} within {connect_timeout:g} s "
            f"({type(exc).__name__}: {exc}); {hint}"
        ) from exc


@contextlib.contextmanager
def connect(
    cluster: Any = None,
    client: Client | None = None,
    *,
    connect_timeout: float = 10.0,
    experiment_dir: Path | None = None,
) -> Iterator[tuple[Client, Probe]]:
    """Yield a client for the described cluster and a "more workers are coming" probe.

    Clusters and clients that daskhpo created are closed on exit; ones the caller passed are
    left running. ``experiment_dir`` holds what a cluster writes (SLURM job logs). The probe
    raises :class:`ClusterError` when a SLURM cluster can never get workers (sbatch failed).
    """
    if client is not None:
        yield client, _expect_more(getattr(client, "cluster", None))
        return
    if cluster is not None and hasattr(cluster, "scheduler_address"):
        with Client(cluster) as own_client:
            yield own_client, _expect_more(cluster)
        return
    spec = ClusterSpec.parse(cluster)
    if spec.kind == "address":
        with _address_client(spec.options, connect_timeout) as own_client:
            yield own_client, lambda: False
        return
    if spec.kind == "slurm":
        slurm, watch = start_slurm_cluster(spec.options, experiment_dir)
        try:
            with (
                dask.config.set(JOB_CLUSTER_CONFIG),
                Client(slurm) as own_client,
                owned(own_client),
            ):
                yield own_client, _expect_more(slurm, watch)
        finally:
            slurm.close()
        return
    started = (
        start_cuda_cluster(spec.options)
        if spec.kind == "cuda"
        else start_local_cluster(spec.options)
    )
    try:
        with Client(started) as own_client, owned(own_client):
            # A worker restarting in its nanny (lifetime, memory limit) is on its way back.
            yield own_client, _expect_more(started)
    finally:
        started.close()


def _expect_more(cluster: Any, watch: SlurmWatch | None = None) -> Probe:
    """Whether a cluster still has workers on the way (requested but not yet connected).

    Covers jobs waiting in a queue, workers restarting in their nanny (lifetime, memory
    limit) and adaptive clusters that may scale up.
    """
    if cluster is None:
        return lambda: False

    def probe() -> bool:
        if watch is not None:
            watch.check()
        return _on_the_way(cluster) or getattr(cluster, "_adaptive", None) is not None

    return probe


def _on_the_way(cluster: Any) -> bool:
    """A requested worker, whose process or job is alive, has not connected (yet)."""
    requested = getattr(cluster, "requested", None)
    if requested is None:
        return False
    connected = _connected(cluster)
    processes = getattr(cluster, "workers", {})
    for name in list(requested):
        if str(name) in connected:
            continue
        status = getattr(getattr(processes.get(name), "status", None), "name", "running")
        if status not in ("closing", "closed", "failed"):
            return True
    return False


def _connected(cluster: Any) -> set[str]:
    """Names of the workers connected now: from the scheduler itself when it runs here
    (the cluster's own view lags behind), else from the cluster's view."""
    workers = getattr(getattr(cluster, "scheduler", None), "workers", None)
    if isinstance(workers, Mapping):
        for _ in range(3):
            with contextlib.suppress(RuntimeError):  # changed size while read
                return {str(ws.name) for ws in list(workers.values())}
    return {str(name) for name in getattr(cluster, "observed", ())}
