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
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster
from distributed.security import Security

from daskhpo.dask.gpus import GPU, GPU_POOL_ENV, WORKER_GPUS_ENV, gpu_list

logger = logging.getLogger(__name__)

KINDS = ("local", "cuda", "slurm", "address")

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

#: Scheduler addresses of the clusters :func:`connect` started in this process.
_OWN_SCHEDULERS: set[str] = set()


def owns_scheduler(client: Client) -> bool:
    """Whether ``client``'s scheduler belongs to a cluster daskhpo started (so its settings
    are daskhpo's to tune, unlike those of a cluster someone else shares)."""
    return _scheduler_address(client) in _OWN_SCHEDULERS


def _scheduler_address(client: Client) -> str:
    return str(getattr(client.scheduler, "address", ""))


@contextlib.contextmanager
def _owned(client: Client) -> Iterator[Client]:
    address = _scheduler_address(client)
    _OWN_SCHEDULERS.add(address)
    try:
        yield client
    finally:
        _OWN_SCHEDULERS.discard(address)


#: Settings while a SLURM cluster daskhpo started is in use: the job of a worker that is gone
#: (scancel, node failure, walltime) is given up after 3 s instead of 15 s, so adaptive
#: scaling submits its replacement sooner. A restarted worker process reconnects well within.
JOB_CLUSTER_CONFIG = {"distributed.deploy.lost-worker-timeout": "3s"}

#: daskhpo's own keys in ``{"slurm": {...}}``; all other keys go to SLURMCluster.
SLURM_KEYS = ("minimum_jobs", "maximum_jobs", "jobs", "gpus", "tls")
#: daskhpo's own keys in ``{"local": {...}}`` and ``{"cuda": {...}}``.
LOCAL_KEYS = ("gpus", "tls")
#: TLS keys of ``{"address": ...}`` that build a ``distributed.security.Security``.
TLS_KEYS = ("tls_ca_file", "tls_client_cert", "tls_client_key")

DEFAULT_MAXIMUM_JOBS = 4

Probe = Callable[[], bool]


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
        if "tls" in options and not isinstance(options["tls"], bool):
            raise ClusterError(
                f"cluster {kind!r}: tls must be true or false, got {options['tls']!r}"
            )
        if kind == "local":
            _local_layout(options)
        elif kind == "cuda":
            if "gpus" in options:
                raise ClusterError(CUDA_GPUS)
            _require_module("dask_cuda", CUDA_MISSING)
        elif kind == "slurm":
            _require_module("dask_jobqueue", JOBQUEUE_MISSING)
            _job_counts(options)
            if "gpus" in options:
                _positive_int("slurm", "gpus", options["gpus"])
        elif kind == "address":
            unknown = [k for k in TLS_KEYS if k in options and not isinstance(options[k], str)]
            if unknown:
                raise ClusterError(f"cluster 'address': {unknown[0]} must be a file path")
        return cls(kind, options)


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


def _require_module(name: str, message: str) -> None:
    if importlib.util.find_spec(name) is None:
        raise ClusterError(message)


def _positive_int(kind: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ClusterError(
            f"cluster {kind!r}: {key} must be an integer >= {minimum}, got {value!r}"
        )
    return value


def _local_layout(options: Mapping[str, Any]) -> tuple[int, float] | None:
    """Workers and GPU units per worker of an emulated-GPU local cluster (``gpus`` option)."""
    gpus = options.get("gpus")
    if gpus is None:
        return None
    gpus = _positive_int("local", "gpus", gpus)
    workers = options.get("n_workers", gpus)
    workers = _positive_int("local", "n_workers", workers)
    if gpus % workers and workers % gpus:
        raise ClusterError(
            f"cluster 'local': {gpus} GPUs cannot be shared evenly by {workers} workers; "
            f"use n_workers equal to gpus (one worker per GPU, the safe layout), a divisor "
            f"of it (workers with several GPUs), or a multiple of it (workers sharing a GPU)"
        )
    return workers, gpus / workers


def _job_counts(options: Mapping[str, Any]) -> tuple[int, int]:
    """(minimum, maximum) number of SLURM jobs."""
    if "jobs" in options:
        if "minimum_jobs" in options or "maximum_jobs" in options:
            raise ClusterError(
                "cluster 'slurm': give either jobs (a fixed number) or minimum_jobs/maximum_jobs "
                "(adaptive), not both"
            )
        jobs = _positive_int("slurm", "jobs", options["jobs"])
        return jobs, jobs
    # At least one job: the driver queues trials only once some worker can run them.
    minimum = _positive_int("slurm", "minimum_jobs", options.get("minimum_jobs", 1))
    maximum = options.get("maximum_jobs", max(minimum, DEFAULT_MAXIMUM_JOBS))
    maximum = _positive_int("slurm", "maximum_jobs", maximum)
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


# --------------------------------------------------------------------------- local and cuda


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
        layout = _local_layout({**options, "gpus": gpus})
        assert layout is not None
        workers, per_worker = layout
        kwargs["n_workers"] = workers
        kwargs["resources"] = {GPU: per_worker}
        env = dict(options.pop("env", None) or {})
        env[WORKER_GPUS_ENV] = gpu_list(gpus)
        env[GPU_POOL_ENV] = f"emulated-{os.getpid()}-{time.monotonic_ns()}"
        kwargs["env"] = env
    if tls:
        kwargs["security"] = Security.temporary()
        kwargs["protocol"] = "tls://"
    kwargs.update(options)
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
        kwargs["security"] = Security.temporary()
        kwargs["protocol"] = "tls://"
    kwargs.update(options)
    try:
        with dask.config.set(OWN_CLUSTER_CONFIG):
            return LocalCUDACluster(**kwargs)
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        raise ClusterError(
            f"could not start a LocalCUDACluster ({type(exc).__name__}: {exc}); this machine "
            "may have no usable NVIDIA GPU or driver. To try GPU trials without GPUs, emulate "
            "them: cluster: {local: {gpus: 2}}"
        ) from exc


# --------------------------------------------------------------------------- SLURM


class SlurmWatch:
    """What happened to a SLURM cluster's worker jobs, so the driver can say what went wrong.

    dask-jobqueue submits jobs in a background task and only logs a failing ``sbatch``; the
    Tuner would wait for workers that never come. This records each submission's outcome and
    notices jobs that ended before their worker connected.
    """

    def __init__(self, cluster: Any = None) -> None:
        self.cluster = cluster
        self.failures: list[str] = []
        self.last_failure = -math.inf
        self.last_success = -math.inf
        self.ever_connected = False
        self._checked_at = -math.inf
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def submitted(self, job_id: str | None) -> None:
        with self._lock:
            self.last_success = time.monotonic()

    def failed(self, exc: BaseException) -> None:
        message = sbatch_message(exc)
        with self._lock:
            self.failures.append(message)
            self.last_failure = time.monotonic()
        if message not in self._warned:
            self._warned.add(message)
            logger.warning("a SLURM worker job could not be submitted: %s", message)

    def check(self) -> None:
        """Raise :class:`ClusterError` when no worker can come: sbatch failed, or jobs died."""
        if self.last_failure > self.last_success:
            raise ClusterError(
                f"sbatch rejected the Dask worker job: {self.failures[-1]}. Fix the "
                "'cluster: slurm:' options (queue, account, gpus, cores, memory, walltime, "
                "job_extra_directives) or your jobqueue.yaml"
            )
        message = self._dead_job_message()
        if message is not None:
            raise ClusterError(message)

    def _dead_job_message(self) -> str | None:
        """Why no worker will come, if a job ended before its worker ever connected.

        Job objects must not outlive this call in a traceback: the cluster refuses to close
        while one it created is still referenced.
        """
        cluster = self.cluster
        if cluster is None:
            return None
        if getattr(cluster, "observed", None):
            self.ever_connected = True
        now = time.monotonic()
        if self.ever_connected or now - self._checked_at < 2.0:
            return None
        self._checked_at = now
        jobs = {
            str(job.job_id): job
            for job in list(getattr(cluster, "workers", {}).values())
            if getattr(job, "job_id", None)
        }
        if not jobs or shutil.which("squeue") is None:
            return None
        try:
            out = subprocess.run(
                ["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        alive = set(out.stdout.split())
        if out.returncode != 0 and not alive and "Invalid job id" not in out.stderr:
            return None  # squeue itself failed; try again later
        ended = [job_id for job_id in jobs if job_id not in alive]
        if not ended or getattr(cluster, "observed", None):
            return None
        return (
            f"SLURM job {ended[0]} ended before its Dask worker connected to this driver. "
            f"{_job_log_tail(jobs[ended[0]])}Check that the workers can run this Python "
            "(the 'python' option, job_script_prologue to load modules or activate the "
            "environment) and reach this machine (the 'interface' option)."
        )


def sbatch_message(exc: BaseException) -> str:
    """sbatch's own words from dask-jobqueue's RuntimeError (its stderr), else the error."""
    text = str(exc)
    _, found, stderr = text.partition("stderr:\n")
    lines = [ln.strip() for ln in (stderr if found else text).splitlines() if ln.strip()]
    return " / ".join(lines) or f"{type(exc).__name__}: {exc}"


def _job_log_tail(job: Any, lines: int = 15) -> str:
    directory = getattr(job, "log_directory", None)
    if not directory:
        return ""
    name = getattr(job, "job_name", None) or "worker"
    path = Path(directory) / f"{name}-{job.job_id}.err"
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"Its log would be {path}, which does not exist. "
    return f"The end of its log {path}:\n" + "\n".join(tail) + "\n"


def _watched_job_class(base: type, watch: SlurmWatch) -> type:
    """A Job class that tells ``watch`` how each submission went."""

    class WatchedJob(base):  # type: ignore[misc]
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as exc:
                watch.failed(exc)
                raise
            watch.submitted(getattr(self, "job_id", None))

    WatchedJob.__name__ = WatchedJob.__qualname__ = f"Watched{base.__name__}"
    return WatchedJob


def slurm_kwargs(options: Mapping[str, Any], experiment_dir: Path | None) -> dict[str, Any]:
    """SLURMCluster keywords: the user's, then ``jobqueue.slurm.*`` config, then our defaults.

    Defaults fill only what neither the options nor the config give: one core (one process
    per GPU with ``gpus``), 2 GB per core, job logs in ``<experiment_dir>/slurm-logs``, no
    dashboard, non-daemonic workers. ``gpus: N`` adds ``--gres=gpu:N`` to the job and
    ``--resources GPU=<N / processes>`` to each worker process.
    """
    options = dict(options)
    gpus = options.get("gpus")
    for key in SLURM_KEYS:
        options.pop(key, None)

    def given(key: str) -> Any:
        if key in options:
            return options[key]
        return dask.config.get(f"jobqueue.slurm.{key.replace('_', '-')}", None)

    kwargs: dict[str, Any] = dict(options)
    processes = given("processes")
    if gpus is not None and processes is None:
        processes = kwargs["processes"] = gpus  # one worker process per GPU: safe for CUDA
    cores = given("cores")
    if cores is None:
        cores = kwargs["cores"] = max(1, processes or 1)
    if processes and cores % processes:
        raise ClusterError(
            f"cluster 'slurm': {cores} cores cannot be shared by {processes} worker processes; "
            "make cores a multiple of processes (with gpus, processes defaults to gpus)"
        )
    if given("memory") is None:
        kwargs["memory"] = f"{2 * cores}GB"
    if given("log_directory") is None:
        base = experiment_dir if experiment_dir is not None else Path(tempfile.gettempdir())
        kwargs["log_directory"] = str(base / "slurm-logs")
    scheduler_options = dict(given("scheduler_options") or {})
    # jobqueue would serve the dashboard on every interface of the login node; opt in instead.
    scheduler_options.setdefault("dashboard_address", None)
    kwargs["scheduler_options"] = scheduler_options
    prologue = list(given("job_script_prologue") or [])
    # Objectives may start processes of their own (DataLoader workers...): non-daemonic workers.
    prologue.append("export DASK_DISTRIBUTED__WORKER__DAEMON=False")
    kwargs["job_script_prologue"] = prologue
    if gpus is not None:
        directives = list(given("job_extra_directives") or [])
        kwargs["job_extra_directives"] = [*directives, f"--gres=gpu:{gpus}"]
        extra = list(given("worker_extra_args") or [])
        kwargs["worker_extra_args"] = [*extra, "--resources", f"{GPU}={gpus / (processes or 1):g}"]
    return kwargs


def start_slurm_cluster(
    options: Mapping[str, Any], experiment_dir: Path | None = None
) -> tuple[Any, SlurmWatch]:
    """A dask-jobqueue SLURMCluster scaling adaptively, after checking its job with sbatch.

    The job script is first given to ``sbatch --test-only``: a bad partition or an impossible
    ``--gres`` fails here, in a second, with sbatch's message.
    """
    try:
        from dask_jobqueue.slurm import SLURMCluster, SLURMJob
    except ImportError as exc:
        raise ClusterError(JOBQUEUE_MISSING) from exc
    minimum, maximum = _job_counts(options)
    kwargs = slurm_kwargs(options, experiment_dir)
    if options.get("tls"):
        kwargs["security"] = Security.temporary()
        kwargs.setdefault(
            "shared_temp_directory",
            str(experiment_dir) if experiment_dir is not None else os.getcwd(),
        )
    if shutil.which("sbatch") is None:
        raise ClusterError(
            "cluster 'slurm' needs SLURM's sbatch on this machine's PATH; run the driver on a "
            "login node of the cluster (see hpc/README.md)"
        )
    watch = SlurmWatch()
    job_class: Any = _watched_job_class(SLURMJob, watch)
    with dask.config.set(OWN_CLUSTER_CONFIG):
        try:
            cluster = SLURMCluster(job_cls=job_class, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ClusterError(f"cluster 'slurm': {exc}") from exc
    watch.cluster = cluster
    try:
        check_job_script(cluster.job_script())
        cluster.adapt(minimum_jobs=minimum, maximum_jobs=maximum)
    except BaseException:
        cluster.close()
        raise
    return cluster, watch


def check_job_script(script: str) -> None:
    """Give a job script to ``sbatch --test-only``; raise ClusterError with sbatch's message."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="daskhpo-check-") as file:
        file.write(script)
        file.flush()
        try:
            done = subprocess.run(
                ["sbatch", "--test-only", file.name], capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError("sbatch --test-only did not answer within 60 s") from exc
    if done.returncode != 0:
        message = " / ".join(ln.strip() for ln in done.stderr.splitlines() if ln.strip())
        raise ClusterError(
            f"sbatch rejects the Dask worker job: {message or f'exit code {done.returncode}'}. "
            "Fix the 'cluster: slurm:' options (queue, account, gpus, cores, memory, walltime, "
            f"job_extra_directives) or your jobqueue.yaml. The job script was:\n{script}"
        )


# --------------------------------------------------------------------------- connecting


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
                _owned(own_client),
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
        with Client(started) as own_client, _owned(own_client):
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
