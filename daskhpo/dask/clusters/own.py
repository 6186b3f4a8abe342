"""What is special about the clusters daskhpo starts itself: their Dask settings, their
temporary TLS certificates, and which schedulers are daskhpo's to tune."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from distributed import Client

from daskhpo.dask.clusters.spec import TLS_MISSING
from daskhpo.errors import ClusterError

#: Settings for clusters daskhpo starts itself. ``allowed-failures: 0`` hands every lost task
#: straight back to the driver, which resubmits it from its checkpoint instead of Dask
#: rerunning it from scratch; non-daemonic workers let objectives start processes of their own
#: (e.g. a torch DataLoader with workers). ``worker-saturation: 1.0`` keeps queued trials on
#: the scheduler until a thread is free, so none waits behind a long trial on a busy worker
#: while another worker is idle (the driver lifts it for millisecond trials, see
#: ``DaskBackend``). Workers preload the modules a trial task runs (``daskhpo.dask.worker.preload``)
#: as they start, not during their first trial. (SLURM workers do not: a job whose environment
#: lacks daskhpo would fail to start instead of failing the objective check with a clear error.)
#: Dask's statistical profiler is off: it walks the stack of every thread running a task 100
#: times a second, which with many trial threads per worker took a seventh of a 2-core machine
#: (``benchmarks/`` W4) and fed only the dashboard's profile page.
OWN_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.daemon": False,
    "distributed.worker.preload": ["daskhpo.dask.worker.preload"],
    "distributed.worker.profile.enabled": False,
}

#: Scheduler addresses of the clusters :func:`~daskhpo.dask.clusters.connect` started here.
_OWN_SCHEDULERS: set[str] = set()


def owns_scheduler(client: Client) -> bool:
    """Whether ``client``'s scheduler belongs to a cluster daskhpo started (so its settings
    are daskhpo's to tune, unlike those of a cluster someone else shares)."""
    return _scheduler_address(client) in _OWN_SCHEDULERS


def _scheduler_address(client: Client) -> str:
    return str(getattr(client.scheduler, "address", ""))


@contextlib.contextmanager
def owned(client: Client) -> Iterator[Client]:
    """Count ``client``'s scheduler as daskhpo's while the block runs."""
    address = _scheduler_address(client)
    _OWN_SCHEDULERS.add(address)
    try:
        yield client
    finally:
        _OWN_SCHEDULERS.discard(address)


def temporary_security() -> Any:
    """Temporary TLS certificates for a cluster daskhpo starts (``tls: true``)."""
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError as exc:  # distributed needs cryptography to make certificates
        raise ClusterError(TLS_MISSING) from exc


#: The name distributed's Nanny gives the worker processes it starts.
NANNY_WORKER_PROCESS = "Dask Worker process (from Nanny)"


def keep_workers_off_main() -> None:
    """Start Dask's worker processes without running the driver's main module in them.

    Worker processes are spawned, and a spawned process first runs the parent's ``__main__``
    again (as ``__mp_main__``) so that what it defines can be unpickled there. A script that
    calls ``tune()`` without an ``if __name__ == "__main__":`` guard would then start a cluster
    in every worker (``An attempt has been made to start a new process before the current
    process has finished its bootstrapping phase``), and a script read from stdin
    (``python - < script.py``) has no file to run (``FileNotFoundError: <stdin>``). Workers
    never need it: Dask and daskhpo send whatever lives in ``__main__`` by value
    (cloudpickle). So the preparation data of processes named as the Nanny names its workers
    is sent without the main module; other processes are left as they are. Idempotent.
    """
    from multiprocessing import spawn

    if getattr(spawn.get_preparation_data, "keeps_workers_off_main", False):
        return
    original = spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        if name == NANNY_WORKER_PROCESS:
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    get_preparation_data.keeps_workers_off_main = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data
