"""Start a dask-jobqueue SLURMCluster with daskhpo's defaults, check its job script with
``sbatch --test-only``, and watch its jobs so that a job that can never bring a worker is an
error, not an endless wait."""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask

from daskhpo.dask.clusters.own import OWN_CLUSTER_CONFIG, temporary_security
from daskhpo.dask.clusters.spec import JOBQUEUE_MISSING, SLURM_KEYS, job_counts
from daskhpo.dask.gpus import GPU
from daskhpo.errors import ClusterError

logger = logging.getLogger(__name__)

#: Settings while a SLURM cluster daskhpo started is in use: the job of a worker that is gone
#: (scancel, node failure, walltime) is given up after 3 s instead of 15 s, so adaptive
#: scaling submits its replacement sooner. A restarted worker process reconnects well within.
JOB_CLUSTER_CONFIG = {"distributed.deploy.lost-worker-timeout": "3s"}


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
    minimum, maximum = job_counts(options)
    kwargs = slurm_kwargs(options, experiment_dir)
    if options.get("tls"):
        kwargs["security"] = temporary_security()
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
