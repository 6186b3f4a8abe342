"""Cluster descriptions, loopback-only local clusters, TLS, existing schedulers, and workers
that retire (Dask ``--lifetime``): resubmission from the checkpoint and lifetime-aware placement.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dask
import psutil
import pytest
from distributed.security import Security

import daskhpo as dh
from daskhpo.backend import AttemptSpec, Finished
from daskhpo.dask.backend import DaskBackend
from daskhpo.dask.clusters import (
    ClusterError,
    ClusterSpec,
    connect,
    slurm_kwargs,
)
from daskhpo.dask.worker.lifetime import parse_slurm_duration
from tests import objectives

HAS_JOBQUEUE = importlib.util.find_spec("dask_jobqueue") is not None


def checkpointed_steps(config: dict[str, Any]) -> dict[str, Any]:
    """A trial of ``steps`` steps that saves its progress after each and resumes from it."""
    state = dh.checkpoint_dir() / "state.json"
    first = json.loads(state.read_text())["step"] if state.exists() else 0
    for step in range(first, config["steps"]):
        time.sleep(config["step_time"])
        state.write_text(json.dumps({"step": step + 1}))
        dh.report(step + 1, loss=1.0 / (step + 1))
    return {"loss": 1.0 / config["steps"], "resumed_from": first}


def square(config: dict[str, Any]) -> float:
    return float(config["x"]) ** 2


# --------------------------------------------------------------------------- descriptions


@pytest.mark.parametrize(
    ("value", "kind", "options"),
    [
        (None, "local", {}),
        ("local", "local", {}),
        ({"local": {"n_workers": 2, "tls": True}}, "local", {"n_workers": 2, "tls": True}),
        ("tls://host:8786", "address", {"address": "tls://host:8786"}),
        (
            {"address": "tls://host:8786", "tls_ca_file": "ca.pem"},
            "address",
            {"address": "tls://host:8786", "tls_ca_file": "ca.pem"},
        ),
        ({"address": {"address": "tcp://h:1"}}, "address", {"address": "tcp://h:1"}),
    ],
)
def test_descriptions_parse(value, kind, options):
    spec = ClusterSpec.parse(value)
    assert (spec.kind, spec.options) == (kind, options)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("kubernetes", "not a known kind"),
        ({"local": {}, "slurm": {}}, "exactly one kind"),
        ({"local": {"tls": "yes"}}, "tls must be true or false"),
        ({"address": {"tls_ca_file": "x"}}, "needs an address"),
        ({"cuda": {"gpus": 2}}, "one worker per visible GPU"),
        (42, "cannot use 42"),
    ],
)
def test_bad_descriptions_say_what_to_do(value, message):
    with pytest.raises(ClusterError, match=message):
        ClusterSpec.parse(value)


@pytest.mark.skipif(not HAS_JOBQUEUE, reason="dask-jobqueue is not installed")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"jobs": 2, "maximum_jobs": 3}, "either jobs"),
        ({"minimum_jobs": 3, "maximum_jobs": 2}, "below minimum_jobs"),
        ({"minimum_jobs": 0}, "minimum_jobs must be an integer >= 1"),
        ({"gpus": 0}, "gpus must be an integer >= 1"),
    ],
)
def test_bad_slurm_options_fail_before_anything_starts(options, message):
    with pytest.raises(ClusterError, match=message):
        ClusterSpec.parse({"slurm": options})


@pytest.mark.skipif(
    importlib.util.find_spec("dask_cuda") is not None, reason="dask-cuda is installed here"
)
def test_cuda_without_dask_cuda_says_how_to_emulate():
    with pytest.raises(ClusterError, match=r"dask-cuda.*emulate them: cluster: \{local: \{gpus"):
        ClusterSpec.parse("cuda")


# --------------------------------------------------------------------------- SLURM keywords


def test_slurm_keywords_pass_through_and_get_defaults(tmp_path):
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}):
        kwargs = slurm_kwargs(
            {"queue": "gpu", "walltime": "01:00:00", "jobs": 3, "tls": False}, tmp_path
        )
    assert kwargs["queue"] == "gpu"
    assert kwargs["walltime"] == "01:00:00"
    assert "jobs" not in kwargs  # daskhpo's own keys stay here
    assert "tls" not in kwargs
    assert kwargs["cores"] == 1
    assert kwargs["memory"] == "2GB"
    assert kwargs["log_directory"] == str(tmp_path / "slurm-logs")
    assert kwargs["scheduler_options"] == {"dashboard_address": None}
    assert "export DASK_DISTRIBUTED__WORKER__DAEMON=False" in kwargs["job_script_prologue"]


def test_site_jobqueue_config_is_honoured(tmp_path):
    site = {
        "jobqueue.slurm.cores": 8,
        "jobqueue.slurm.memory": "64GB",
        "jobqueue.slurm.log-directory": "/scratch/logs",
        "jobqueue.slurm.job-script-prologue": ["module load cuda"],
        "jobqueue.slurm.scheduler-options": {"dashboard_address": ":9999"},
    }
    with dask.config.set(site):
        kwargs = slurm_kwargs({}, tmp_path)
    for key in ("cores", "memory", "log_directory"):
        assert key not in kwargs  # left to dask-jobqueue, which reads the config itself
    assert kwargs["scheduler_options"] == {"dashboard_address": ":9999"}
    assert kwargs["job_script_prologue"][0] == "module load cuda"


def test_slurm_gpus_ask_slurm_and_advertise_one_gpu_per_worker_process(tmp_path):
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.processes": None}):
        kwargs = slurm_kwargs({"gpus": 2, "job_extra_directives": ["--qos=short"]}, tmp_path)
        assert kwargs["processes"] == 2
        assert kwargs["cores"] == 2
        assert kwargs["job_extra_directives"] == ["--qos=short", "--gres=gpu:2"]
        assert kwargs["worker_extra_args"][-2:] == ["--resources", "GPU=1"]
        shared = slurm_kwargs({"gpus": 1, "processes": 2, "cores": 2}, tmp_path)
        assert shared["worker_extra_args"][-2:] == ["--resources", "GPU=0.5"]
        with pytest.raises(ClusterError, match="cores cannot be shared by 2 worker processes"):
            slurm_kwargs({"gpus": 2, "cores": 3}, tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("29:51", 29 * 60 + 51),
        ("1:29:51", 3600 + 29 * 60 + 51),
        ("2-03:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("0:07", 7),
        ("UNLIMITED", None),
        ("INVALID", None),
        ("", None),
    ],
)
def test_slurm_time_left_is_parsed(text, seconds):
    assert parse_slurm_duration(text) == seconds


# --------------------------------------------------------------------------- local and TLS


def _listening(pids: list[int]) -> set[str]:
    addresses = set()
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                addresses.add(conn.laddr.ip)
    return addresses


def test_local_cluster_listens_on_loopback_only():
    with connect({"local": {"n_workers": 1}}) as (client, _):
        workers = client.run(os.getpid)
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
        ips = _listening(list(workers.values()))
        ips |= {ip for ip in _listening([os.getpid()]) if ip != "127.0.0.1"}
    assert ips == {"127.0.0.1"}


def _cert_files(security: Security, directory: Path) -> dict[str, str]:
    """Write an in-memory Security's certificates to files, as a user would have them."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for key in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
        path = directory / key
        path.write_text(getattr(security, key))
        files[key] = str(path)
    return files


def refused(description: Any, timeout: float = 3.0) -> None:
    """Connect to ``description``; the tests expect this to raise."""
    with connect(description, connect_timeout=timeout):
        pass


@pytest.mark.slow
def test_tls_cluster_refuses_clients_without_its_certificate(tmp_path):
    with connect({"local": {"n_workers": 1, "tls": True}}) as (client, _):
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(square, {"x": 3}).result() == 9
        with pytest.raises(ClusterError, match="needs certificates"):
            refused(address)
        with pytest.raises(ClusterError, match="cannot reach"):
            refused(address.replace("tls://", "tcp://"))
        strangers = _cert_files(Security.temporary(), tmp_path / "other")
        with pytest.raises(ClusterError, match="signed by your tls_ca_file"):
            refused({"address": address, **strangers})
        own = _cert_files(client.security, tmp_path / "own")
        with connect({"address": address, **own}, connect_timeout=3) as (other, _):
            assert other.submit(square, {"x": 4}).result() == 16


def test_unreachable_tls_scheduler_is_a_clear_error(tmp_path):
    files = _cert_files(Security.temporary(), tmp_path / "own")
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at 'tls://127\.0"):
        refused({"address": "tls://127.0.0.1:1", **files}, timeout=1.0)


# --------------------------------------------------------------------------- retiring workers


@pytest.mark.slow
def test_a_worker_retiring_mid_trial_leads_to_a_resubmission_from_the_checkpoint(tmp_path):
    """Dask's --lifetime retires the only worker while the trial runs; its nanny starts a
    new one. The trial comes back as a new attempt (an infrastructure loss, not charged) that
    resumes from its checkpoint, instead of Dask silently restarting it from scratch."""
    result = dh.tune(
        checkpointed_steps,
        {"steps": 16, "step_time": 0.2},
        metric="loss",
        num_trials=1,
        seed=0,
        cluster={
            "local": {
                "n_workers": 1,
                "lifetime": "3s",
                "lifetime_stagger": "0s",
                "lifetime_restart": True,
            }
        },
        experiment_dir=tmp_path,
        progress=False,
    )
    (trial,) = result.trials_list
    assert trial.status is dh.TrialStatus.COMPLETED
    assert trial.attempt >= 1
    assert trial.infra_failures >= 1
    assert trial.user_failures == 0
    assert trial.last_metrics["resumed_from"] > 0  # from its checkpoint, not from scratch


@pytest.fixture
def two_workers_one_retiring():
    """A scheduler with two worker processes: one that retires in 5 minutes (``--lifetime``)
    and one without a limit."""
    from distributed import Client

    from daskhpo.dask.clusters import start_local_cluster

    cluster = start_local_cluster({"n_workers": 0})
    client = Client(cluster)
    address = cluster.scheduler_address
    common = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1"]
    common += ["--host", "127.0.0.1", "--no-dashboard", "--no-nanny"]
    limited = subprocess.Popen([*common, "--name", "limited", "--lifetime", "300s"])
    unlimited = subprocess.Popen([*common, "--name", "unlimited"])
    try:
        client.wait_for_workers(2, timeout=60)
        names = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
        yield client, names
    finally:
        for process in (limited, unlimited):
            process.terminate()
        for process in (limited, unlimited):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        client.close()
        cluster.close()


@pytest.mark.slow
def test_backend_knows_worker_lifetimes_and_places_long_trials_on_long_lived_workers(
    two_workers_one_retiring, tmp_path
):
    client, names = two_workers_one_retiring
    backend = DaskBackend(client, square, metric="x", experiment_dir=tmp_path)
    try:
        deadlines = backend.worker_deadlines()
        assert set(deadlines) == {names["limited"]}
        left = deadlines[names["limited"]] - backend.now()
        assert 200 < left <= 300
        assert backend.capacity() == 2
        backend.expected_duration = 600.0  # longer than the limited worker lives
        assert backend.capacity() == 1
        for trial_id in range(4):
            backend.submit(AttemptSpec(trial_id=trial_id, attempt=0, config={"x": trial_id}))
        finished: list[Finished] = []
        for _ in range(600):
            finished += [e for e in backend.wait(0.1) if isinstance(e, Finished)]
            if len(finished) == 4:
                break
        assert sorted(e.trial_id for e in finished) == [0, 1, 2, 3]
        assert {e.worker for e in finished} == {names["unlimited"]}
    finally:
        backend.close()


@pytest.mark.slow
def test_the_objective_check_brings_each_workers_lifetime(
    two_workers_one_retiring, tmp_path, monkeypatch
):
    client, names = two_workers_one_retiring

    def not_asked(dask_worker: object = None) -> None:
        raise AssertionError("the lifetime should have come with the objective check")

    monkeypatch.setattr("daskhpo.dask.placement.remaining_lifetime", not_asked)
    backend = DaskBackend(client, square, metric="x", experiment_dir=tmp_path)
    try:
        backend.capacity()
        backend.check_objective()
        deadlines = backend.worker_deadlines()  # would ask the workers (and fail) if missing
        assert set(deadlines) == {names["limited"]}
        assert 200 < deadlines[names["limited"]] - backend.now() <= 300
    finally:
        backend.close()


@pytest.mark.slow
def test_tune_starts_no_trial_on_a_worker_that_retires_before_the_trial_walltime(
    two_workers_one_retiring, tmp_path
):
    client, names = two_workers_one_retiring
    space = {"x": dh.uniform(0, 1), "sleep": 0.05}
    careful = dh.tune(
        objectives.sleepy,
        space,
        metric="loss",
        num_trials=8,
        seed=0,
        client=client,
        experiment_dir=tmp_path / "a",
        trial_walltime=600,
    )
    assert careful.count("COMPLETED") == 8
    assert set(careful.trials["worker"]) == {names["unlimited"]}
    carefree = dh.tune(
        objectives.sleepy,
        space,
        metric="loss",
        num_trials=8,
        seed=0,
        client=client,
        experiment_dir=tmp_path / "b",
        max_concurrent=2,
    )
    assert set(carefree.trials["worker"]) == {names["unlimited"], names["limited"]}


#: Run first in a subprocess: ``cryptography`` cannot be imported there.
NO_CRYPTOGRAPHY = """
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "cryptography":
            raise ImportError(f"{name} is blocked here")
        return None

sys.meta_path.insert(0, _Blocked())
"""


def test_tls_without_cryptography_is_one_line_naming_the_extra(tmp_path):
    import subprocess
    import sys

    code = NO_CRYPTOGRAPHY + (
        "from daskhpo.dask.clusters import ClusterError, ClusterSpec, start_local_cluster\n"
        "for attempt in (lambda: ClusterSpec.parse({'local': {'tls': True}}),\n"
        "                lambda: start_local_cluster({'tls': True, 'n_workers': 1})):\n"
        "    try:\n"
        "        attempt()\n"
        "    except ClusterError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'daskhpo[tls]'" in line for line in lines)

    (tmp_path / "objective.py").write_text("def objective(config):\n    return config['x']\n")
    (tmp_path / "experiment.yaml").write_text(
        "objective: objective:objective\nmetric: loss\nnum_trials: 2\n"
        "space:\n  x: {uniform: [0, 1]}\ncluster: {local: {tls: true}}\n"
    )
    cli = NO_CRYPTOGRAPHY + (
        "import runpy\n"
        "sys.argv = ['daskhpo', 'run', 'experiment.yaml']\n"
        "runpy.run_module('daskhpo.cli', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", cli], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    message = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(message) == 1, done.stderr
    assert "pip install 'daskhpo[tls]'" in message[0]
    assert not list(tmp_path.glob("*/journal.jsonl"))  # nothing started
