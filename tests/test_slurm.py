"""daskhpo on a real SLURM through dask-jobqueue: GPU workers, walltimes, cancelled jobs, and
failing submissions reported with sbatch's own words.

Runs against the single-node test SLURM of ``hpc/dev-slurm/start.sh`` (fake GPUs:
``Gres=gpu:2``). Without a usable SLURM these tests are skipped, unless
``DASKHPO_REQUIRE_SLURM=1``, which makes a missing SLURM a failure (CI sets it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest

import daskhpo as dh
from daskhpo.dask.backend import DaskBackend
from daskhpo.dask.clusters import ClusterError, SlurmWatch, connect
from daskhpo.dask.clusters.slurm import _watched_job_class
from daskhpo.dask.gpus import worker_devices
from tests.journal_lines import journal_lines

pytestmark = [pytest.mark.slurm]

ROOT = Path(__file__).resolve().parents[1]
#: Worker jobs on the test SLURM: small, short, able to import this module.
BASE: dict[str, Any] = {
    "memory": "1GB",
    "walltime": "00:10:00",
    "job_script_prologue": [f"export PYTHONPATH={ROOT}"],
}


def _slurm_problem() -> str | None:
    """Why the test SLURM cannot be used, or None when it can."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (sinfo/sbatch not found); start one: hpc/dev-slurm/start.sh"
    if importlib.util.find_spec("dask_jobqueue") is None:
        return "dask-jobqueue is not installed: pip install 'daskhpo[slurm]'"
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%t %G"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "SLURM does not answer (sinfo timed out); restart it: hpc/dev-slurm/start.sh"
    if done.returncode != 0:
        return f"SLURM is down ({done.stderr.strip()}); start it: hpc/dev-slurm/start.sh"
    nodes = [line.split() for line in done.stdout.splitlines() if line.strip()]
    usable = [n for n in nodes if n[0].rstrip("*~#") in ("idle", "mix", "alloc")]
    if not usable:
        return f"no usable SLURM node (sinfo: {done.stdout.strip()!r}); see hpc/dev-slurm/start.sh"
    if not any("gpu:" in " ".join(n[1:]) for n in usable):
        return "the SLURM node has no GPUs (Gres=gpu:2); use the test SLURM of hpc/dev-slurm"
    return None


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    """The test SLURM, with Dask workers talking over loopback (one node)."""
    problem = _slurm_problem()
    if problem is not None:
        if os.environ.get("DASKHPO_REQUIRE_SLURM") == "1":
            pytest.fail(f"DASKHPO_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)
    with dask.config.set({"jobqueue.slurm.interface": "lo"}):
        yield


# --------------------------------------------------------------------------- objectives


def gpu_trial(config: dict[str, Any]) -> dict[str, Any]:
    start = time.time()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    time.sleep(config["sleep"])
    ctx = dh.current_trial()
    assert ctx is not None
    return {
        "x": config["x"],
        "devices": ",".join(ctx.devices),
        "visible": visible,
        "job_devices": ",".join(worker_devices()),  # what SLURM gave the job
        "t_start": start,
        "t_end": time.time(),
    }


def checkpointed_steps(config: dict[str, Any]) -> dict[str, Any]:
    """Steps with a checkpoint after each; reports the SLURM job it runs in."""
    state = dh.checkpoint_dir() / "state.json"
    first = json.loads(state.read_text())["step"] if state.exists() else 0
    job = os.environ.get("SLURM_JOB_ID", "")
    for step in range(first, config["steps"]):
        time.sleep(config["step_time"])
        state.write_text(json.dumps({"step": step + 1}))
        dh.report(step + 1, loss=1.0 / (step + 1), job=job)
    return {"loss": 1.0 / config["steps"], "resumed_from": first, "job": job}


# --------------------------------------------------------------------------- GPUs


@pytest.fixture(scope="module")
def gpu_cluster(slurm, tmp_path_factory) -> Iterator[tuple[Any, str]]:
    """One SLURM job with both fake GPUs (two worker processes, GPU=1 each) and one
    CPU-only worker job submitted by hand; yields the client and the CPU worker's address."""
    directory = tmp_path_factory.mktemp("gpu-cluster")
    with connect({"slurm": {**BASE, "jobs": 1, "gpus": 2}}, experiment_dir=directory) as (
        client,
        _,
    ):
        address = client.scheduler.address
        # The test's own interpreter: the job's PATH need not lead to this environment.
        worker = f"{sys.executable} -m distributed.cli.dask_worker {address}"
        worker += " --nthreads 1 --name cpu-only --interface lo --no-dashboard"
        submitted = subprocess.run(
            [
                *("sbatch", "--parsable", "--mem=1G", f"--output={directory}/cpu-only-%j.out"),
                *(f"--export=ALL,PYTHONPATH={ROOT}", "--wrap", worker),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu_job = submitted.stdout.strip().split(";")[0]
        try:
            client.wait_for_workers(3, timeout=90)
            workers = client.scheduler_info(n_workers=-1)["workers"]
            names = {w["name"]: a for a, w in workers.items()}
            yield client, names["cpu-only"]
        finally:
            subprocess.run(["scancel", cpu_job], check=False)


def _overlaps(df: Any) -> list[tuple[int, int]]:
    rows = list(df.itertuples())
    return [
        (a.trial_id, b.trial_id)
        for i, a in enumerate(rows)
        for b in rows[i + 1 :]
        if a.t_start < b.t_end and b.t_start < a.t_end
    ]


def test_gpu_trials_run_only_on_gpu_workers_each_on_its_own_device(gpu_cluster, tmp_path):
    client, cpu_worker = gpu_cluster
    result = dh.tune(
        gpu_trial,
        {"x": dh.uniform(0, 1), "sleep": 1.5},
        metric="x",
        num_trials=3,
        seed=0,
        client=client,
        gpus_per_trial=1,
        experiment_dir=tmp_path,
        progress=False,
    )
    df = result.trials
    assert set(df["status"]) == {"COMPLETED"}
    assert cpu_worker not in set(df["worker"])  # GPU trials never ran on the CPU-only worker
    assert set(df["job_devices"]) == {"0,1"}  # SLURM gave the job both GPUs ...
    assert set(df["devices"]) <= {"0", "1"}  # ... and each trial got one of them
    assert (df["visible"] == df["devices"]).all()
    by_id = df.set_index("trial_id")
    pairs = _overlaps(df)
    assert pairs, "two GPUs should run two trials at once"
    for a, b in pairs:
        assert by_id.loc[a, "devices"] != by_id.loc[b, "devices"]
    # The third trial waited for a free GPU: no three trials ever ran at once.
    assert len(pairs) < 3


def test_the_driver_knows_each_workers_walltime(gpu_cluster, tmp_path):
    client, cpu_worker = gpu_cluster
    backend = DaskBackend(client, gpu_trial, metric="x", experiment_dir=tmp_path)
    try:
        deadlines = backend.worker_deadlines()
        now = backend.now()
    finally:
        backend.close()
    left = {address: deadline - now for address, deadline in deadlines.items()}
    # The hand-submitted job has the partition's (unlimited or very long) time limit ...
    assert left.pop(cpu_worker, math.inf) > 86400
    # ... and the two GPU worker processes share their job's 10-minute walltime: one deadline,
    # set by that walltime (not by the partition's), whatever the time the test took to get here.
    assert len(left) == 2
    assert all(0 < remaining <= 600 for remaining in left.values())
    first, second = sorted(deadlines[a] for a in left)
    assert second - first < 5  # the same job, so the same end


# --------------------------------------------------------------------------- lost jobs


class CancelJobOnce:
    """Tuner callback: scancel the job running trial 0 once it has reported step 3."""

    def __init__(self) -> None:
        self.cancelled: str | None = None

    def on_step(self, tuner: Any) -> None:
        trial = tuner.trials.get(0)
        if self.cancelled or trial is None or trial.attempt != 0 or (trial.last_step or 0) < 3:
            return
        self.cancelled = str(trial.last_metrics["job"])
        subprocess.run(["scancel", self.cancelled], check=True)

    def on_end(self, tuner: Any) -> None:
        pass


def _job_ids(cluster_client: Any) -> set[str]:
    cluster = cluster_client.cluster
    return {str(j.job_id) for j in list(cluster.workers.values()) if getattr(j, "job_id", None)}


@pytest.mark.slow
def test_scancel_during_a_trial_resubmits_it_from_its_checkpoint(slurm, tmp_path):
    with connect({"slurm": {**BASE, "jobs": 2}}, experiment_dir=tmp_path) as (client, _):
        client.wait_for_workers(2, timeout=90)
        first_jobs = _job_ids(client)
        cancel = CancelJobOnce()
        result = dh.tune(
            checkpointed_steps,
            {"steps": 10, "step_time": 0.3},
            metric="loss",
            num_trials=1,
            seed=0,
            client=client,
            callbacks=[cancel],
            experiment_dir=tmp_path / "exp",
            progress=False,
        )
        (trial,) = result.trials_list
        assert cancel.cancelled in first_jobs
        assert trial.status is dh.TrialStatus.COMPLETED
        assert trial.infra_failures == 1  # the cancelled job: not charged ...
        assert trial.user_failures == 0  # ... to the user's retry budget
        assert trial.attempt == 1
        assert trial.last_metrics["resumed_from"] >= 3  # from its checkpoint
        assert trial.last_metrics["job"] != cancel.cancelled
        records = journal_lines(tmp_path / "exp" / "journal.jsonl")
        lost = [r for r in records if r["event"] == "lost"]
        assert len(lost) == 1
        assert lost[0]["retry"] is True
        # The cluster replaces the cancelled job (adaptive scaling at jobs: 2).
        for _ in range(120):
            if _job_ids(client) - first_jobs and len(client.scheduler_info()["workers"]) == 2:
                break
            time.sleep(0.5)
        assert _job_ids(client) - first_jobs, "no replacement job was submitted"
        assert len(client.scheduler_info()["workers"]) == 2


# --------------------------------------------------------------------------- TLS


def test_tls_slurm_cluster_refuses_a_client_without_its_certificate(slurm, tmp_path):
    with connect({"slurm": {**BASE, "jobs": 1, "tls": True}}, experiment_dir=tmp_path) as (
        client,
        _,
    ):
        address = client.scheduler.address
        assert address.startswith("tls://")
        result = dh.tune(
            gpu_trial,
            {"x": dh.uniform(0, 1), "sleep": 0.0},
            metric="x",
            num_trials=2,
            seed=0,
            client=client,
            experiment_dir=tmp_path / "exp",
            progress=False,
        )
        assert set(result.trials["status"]) == {"COMPLETED"}
        with pytest.raises(ClusterError, match="needs certificates"), connect(address):
            pass


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": "no-such-partition"}, "invalid partition specified: no-such-partition"),
        ({"gpus": 3}, "Requested node configuration is not available"),
    ],
)
def test_a_job_sbatch_rejects_is_reported_with_sbatchs_message(slurm, tmp_path, options, message):
    with pytest.raises(ClusterError, match=f"sbatch rejects the Dask worker job: .*{message}"):
        dh.tune(
            gpu_trial,
            {"x": dh.uniform(0, 1), "sleep": 0.0},
            metric="x",
            num_trials=1,
            cluster={"slurm": {**BASE, **options}},
            experiment_dir=tmp_path,
            progress=False,
        )
    assert not list((tmp_path / "slurm-logs").glob("*.out"))  # no job was ever submitted


def test_a_submission_failing_later_is_reported_by_the_probe(slurm):
    """A submission that fails after the up-front check (a limit reached, a partition
    closed) only shows in dask-jobqueue's background task: the watch turns it into an error."""
    from dask_jobqueue.slurm import SLURMJob

    watch = SlurmWatch()
    job_class = _watched_job_class(SLURMJob, watch)
    job = job_class("tcp://127.0.0.1:1", name="x", cores=1, memory="1GB", queue="closed-partition")
    with pytest.raises(RuntimeError, match="invalid partition"):
        asyncio.run(job.start())
    with pytest.raises(ClusterError, match=r"sbatch rejected the Dask worker job: .*closed-part"):
        watch.check()


def poll(probe: Any, seconds: float = 60.0) -> None:
    """Ask the driver's "more workers coming?" probe every half second, as the Tuner does."""
    for _ in range(int(seconds * 2)):
        probe()
        time.sleep(0.5)


@pytest.mark.slow
def test_a_job_whose_worker_never_starts_is_reported_with_its_log(slurm, tmp_path):
    options = {**BASE, "jobs": 1, "python": "/nonexistent/python"}
    with (
        connect({"slurm": options}, experiment_dir=tmp_path) as (_, probe),
        pytest.raises(ClusterError, match=r"ended before its Dask worker connected") as info,
    ):
        poll(probe)
    assert "/nonexistent/python: No such file or directory" in str(info.value)


def test_the_docs_say_the_test_slurm_scripts_run_as_root_or_with_sudo():
    # As root there is no sudo; as anyone else the scripts need it: the docs say both.
    root = Path(__file__).parent.parent
    shown = 0
    for doc in ("README.md", "hpc/README.md"):
        for line in (root / doc).read_text().splitlines():
            if re.search(r"bash hpc/dev-slurm/(start|stop)\.sh", line):
                shown += 1
                assert not line.lstrip().startswith("sudo"), f"{doc}: {line}"
                assert "as root (otherwise: sudo bash ...)" in line, f"{doc}: {line}"
    assert shown >= 4
