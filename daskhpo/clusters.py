"""Where trials run: turn a cluster description into a Dask client, and clean up after it.

Accepted descriptions (the ``cluster`` key of an experiment file, or ``tune(cluster=...)``):

* ``None`` or ``"local"`` — a LocalCluster on this machine: one single-threaded worker process
  per core, bound to the loopback interface.
* ``{"local": {...}}`` — the same with LocalCluster keywords (``n_workers``,
  ``threads_per_worker``, ``memory_limit``...).
* ``{"address": "tcp://host:8786"}`` or a string address — an existing scheduler.
* a ``distributed`` Cluster object — used as it is (and not closed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dask
from distributed import Client, LocalCluster

KINDS = ("local", "address")

#: Settings for clusters daskhpo starts itself. ``allowed-failures: 0`` hands every lost task
#: straight back to the driver, which resubmits it from its checkpoint instead of Dask
#: rerunning it from scratch; non-daemonic workers let objectives start processes of their own
#: (e.g. a torch DataLoader with workers).
OWN_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.daemon": False,
}


class ClusterError(ValueError):
    """A cluster description that cannot be used; the message says how to fix it."""


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
            raise ClusterError(
                f"cluster {value!r} is not a known kind; use one of {list(KINDS)}, a mapping "
                "like {'local': {'n_workers': 2}}, or a scheduler address like "
                "'tcp://host:8786'"
            )
        if isinstance(value, Mapping):
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
            return cls(kind, dict(options))
        raise ClusterError(
            f"cannot use {value!r} (a {type(value).__name__}) as a cluster; pass a "
            "description (see daskhpo.clusters) or a distributed Cluster"
        )


def default_workers() -> int:
    """One worker per core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def start_local_cluster(options: Mapping[str, Any]) -> LocalCluster:
    """A LocalCluster with daskhpo's defaults, which ``options`` override."""
    kwargs: dict[str, Any] = {
        "n_workers": default_workers(),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
    kwargs.update(options)
    with dask.config.set(OWN_CLUSTER_CONFIG):
        return LocalCluster(**kwargs)


@contextlib.contextmanager
def connect(
    cluster: Any = None, client: Client | None = None, *, connect_timeout: float = 10.0
) -> Iterator[tuple[Client, Callable[[], bool]]]:
    """Yield a client for the described cluster and a "more workers are coming" probe.

    Clusters and clients that daskhpo created are closed on exit; ones the caller passed are
    left running.
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
        address = spec.options["address"]
        try:
            own_client = Client(
                address,
                timeout=connect_timeout,
                **{k: v for k, v in spec.options.items() if k != "address"},
            )
        except OSError as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address!r} within {connect_timeout:g} s "
                f"({exc}); check that it runs and that this machine can reach it"
            ) from exc
        with own_client:
            yield own_client, lambda: False
        return
    local = start_local_cluster(spec.options)
    try:
        with Client(local) as own_client:
            yield own_client, lambda: False
    finally:
        local.close()


def _expect_more(cluster: Any) -> Callable[[], bool]:
    """Whether a cluster still has workers on the way (requested but not yet connected)."""
    if cluster is None:
        return lambda: False

    def probe() -> bool:
        requested = getattr(cluster, "requested", None)
        observed = getattr(cluster, "observed", None)
        if requested is None or observed is None:
            return False
        return len(requested) > len(observed) or getattr(cluster, "_adaptive", None) is not None

    return probe
