"""GPU trials: per-trial GPU requests, device pinning, and emulated GPUs on a CPU machine.

The emulated clusters run real worker processes; the only thing fake is the device list, so
the pinning path is the one real GPUs take. How many trials run at once is measured by the
trials themselves (a file per running trial in a shared directory), and "these two ran
together" is a rendezvous the trials wait for, not two sleeps that happen to overlap.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import daskhpo as dh
from daskhpo.dask.clusters import ClusterError, ClusterSpec, start_local_cluster
from daskhpo.dask.gpus import check_trial_gpus, choose, parse_devices, with_gpus

#: How long a trial waits for the others of a rendezvous before it fails (a limit only).
PATIENCE_S = 60.0


def _hold(where: Path, meet: int) -> int:
    """Mark this task running in ``where``, wait until ``meet`` tasks have started there, and
    return how many were running when it started (itself included)."""
    (where / "running").mkdir(parents=True, exist_ok=True)
    (where / "started").mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{threading.get_ident()}-{time.time_ns()}"
    (where / "running" / name).touch()
    (where / "started" / name).touch()
    running = len(list((where / "running").iterdir()))
    deadline = time.monotonic() + PATIENCE_S
    while len(list((where / "started").iterdir())) < meet:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {meet} tasks ran together within {PATIENCE_S} s")
        time.sleep(0.01)
    return running


def _release(where: Path) -> None:
    """Unmark one running task of this thread (the one :func:`_hold` marked)."""
    prefix = f"{os.getpid()}-{threading.get_ident()}-"
    for path in (where / "running").iterdir():
        if path.name.startswith(prefix):
            path.unlink()
            return


def record_devices(config: dict[str, Any]) -> dict[str, Any]:
    """Meet ``meet`` trials, sleep, and say which devices the trial was given, what
    CUDA_VISIBLE_DEVICES was and how many tasks of the directory ran when it started."""
    start = time.time()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = Path(config["dir"])
    running = _hold(where, int(config.get("meet", 1)))
    try:
        time.sleep(config["sleep"])
    finally:
        _release(where)
    ctx = dh.current_trial()
    assert ctx is not None
    return {
        "x": config["x"],
        "devices": ",".join(ctx.devices),
        "visible": visible,
        "running": running,
        "pid": os.getpid(),
        "t_start": start,
        "t_end": time.time(),
    }


def run(
    cluster: Any,
    tmp_path: Path,
    *,
    trials: int,
    sleep: float,
    meet: int = 1,
    client: Any = None,
    name: str = "exp",
    **kwargs: Any,
) -> pd.DataFrame:
    """Trials of :func:`record_devices`, all completed; ``meet`` of them must run together."""
    result = dh.tune(
        record_devices,
        {"x": dh.uniform(0, 1), "sleep": sleep, "dir": str(tmp_path / "marks"), "meet": meet},
        metric="x",
        num_trials=trials,
        seed=0,
        cluster=cluster,
        client=client,
        experiment_dir=tmp_path / name,
        progress=False,
        **kwargs,
    )
    df = result.trials
    assert set(df["status"]) == {"COMPLETED"}, df[["status", "error"]]
    return df


def overlapping(df: pd.DataFrame) -> list[tuple[int, int]]:
    """Pairs of trials whose runs overlapped in time (a fact when found, never a promise)."""
    rows = list(df.itertuples())
    return [
        (a.trial_id, b.trial_id)
        for i, a in enumerate(rows)
        for b in rows[i + 1 :]
        if a.t_start < b.t_end and b.t_start < a.t_end
    ]


# --------------------------------------------------------------------------- choosing devices


def test_whole_gpus_go_to_distinct_free_devices():
    assert choose(["0", "1"], {}, 1.0) == (["0"], True)
    assert choose(["0", "1"], {"0": 1.0}, 1.0) == (["1"], True)
    assert choose(["0", "1", "2", "3"], {"1": 1.0}, 2.0) == (["0", "2"], True)


def test_a_process_keeps_its_device_when_it_is_free():
    assert choose(["0", "1"], {}, 1.0, preferred=["1"]) == (["1"], True)
    assert choose(["0", "1"], {"1": 1.0}, 1.0, preferred=["1"]) == (["0"], True)


def test_fractions_share_the_fullest_device_that_fits():
    assert choose(["0", "1"], {"1": 0.5}, 0.5) == (["1"], True)
    assert choose(["0", "1"], {"0": 0.5, "1": 0.75}, 0.5) == (["0"], True)
    assert choose(["0", "1"], {"0": 1.0, "1": 0.5}, 0.5) == (["1"], True)


def test_more_units_than_devices_shares_the_least_loaded_and_says_so():
    assert choose(["0", "1"], {"0": 1.0, "1": 0.5}, 1.0) == (["1"], False)
    assert choose(["0"], {}, 2.0) == (["0"], False)


def test_device_lists_are_parsed_like_cuda_does():
    assert parse_devices("0,1") == ["0", "1"]
    assert parse_devices(" 2 , 3 ") == ["2", "3"]
    assert parse_devices("GPU-1a2b,GPU-3c4d") == ["GPU-1a2b", "GPU-3c4d"]
    assert parse_devices("") == []
    assert parse_devices(None) == []
    assert parse_devices("NoDevFiles") == []


# --------------------------------------------------------------------------- trial requests


def test_fractional_gpus_warn_that_resources_are_logical():
    with pytest.warns(UserWarning, match=r"up to 2 trials share one GPU.*logical"):
        check_trial_gpus({"GPU": 0.5})


def test_gpu_requests_above_one_must_be_whole():
    with pytest.raises(ValueError, match=r"1.5 GPUs.*whole number"):
        check_trial_gpus({"GPU": 1.5})
    check_trial_gpus({"GPU": 2.0})


def test_gpus_per_trial_is_the_gpu_resource():
    assert with_gpus({}, 1) == {"GPU": 1.0}
    assert with_gpus({"GPU": 2.0}, 2) == {"GPU": 2.0}
    with pytest.raises(ValueError, match="contradicts"):
        with_gpus({"GPU": 1.0}, 2)
    with pytest.raises(ValueError, match="gpus_per_trial must be a positive number"):
        with_gpus({}, 0)


def test_emulated_gpus_must_split_evenly_over_workers():
    with pytest.raises(ClusterError, match="cannot be shared evenly"):
        ClusterSpec.parse({"local": {"gpus": 3, "n_workers": 2}})
    with pytest.raises(ClusterError, match="gpus must be an integer"):
        ClusterSpec.parse({"local": {"gpus": 1.5}})


# --------------------------------------------------------------------------- on workers


@pytest.mark.slow
def test_each_trial_gets_its_own_gpu_and_a_third_waits(tmp_path):
    """Two emulated GPUs, one worker process each, sharing one device pool like the
    processes of a multi-GPU SLURM job: trials never share a device, the third waits."""
    df = run({"local": {"gpus": 2}}, tmp_path, trials=3, sleep=0.5, meet=2, gpus_per_trial=1)
    assert set(df["devices"]) <= {"0", "1"}
    assert (df["visible"] == df["devices"]).all()  # CUDA_VISIBLE_DEVICES is the pinned device
    by_id = df.set_index("trial_id")
    for a, b in overlapping(df):
        assert by_id.loc[a, "devices"] != by_id.loc[b, "devices"]
    assert df["running"].max() == 2  # two met, and no third ever ran beside them
    # A worker process keeps its device (CUDA reads CUDA_VISIBLE_DEVICES once per process).
    assert df.groupby("pid")["devices"].nunique().max() == 1


@pytest.fixture
def gpu_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A client of an emulated-GPU LocalCluster with the options of the test's parameter."""
    from distributed import Client

    cluster = start_local_cluster(request.param)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "gpu_cluster", [{"gpus": 2, "n_workers": 1, "threads_per_worker": 4}], indirect=True
)
def test_gpu_units_not_threads_bound_the_trials_of_a_worker(gpu_cluster, tmp_path):
    """Four threads but two GPU units: four GPU trials run two at a time."""
    df = run(None, tmp_path, trials=4, sleep=0.3, meet=2, client=gpu_cluster, gpus_per_trial=1)
    assert df["running"].max() == 2
    assert sorted(df["devices"].unique()) == ["0", "1"]


def hold_a_gpu(where: str, release: str) -> int:
    """Another computation on the cluster holding a GPU until ``release`` exists."""
    running = _hold(Path(where), 1)
    try:
        deadline = time.monotonic() + 2 * PATIENCE_S
        while not Path(release).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("never released")
            time.sleep(0.01)
    finally:
        _release(Path(where))
    return running


@pytest.mark.slow
@pytest.mark.parametrize(
    "gpu_cluster", [{"gpus": 2, "n_workers": 1, "threads_per_worker": 4}], indirect=True
)
def test_gpus_held_by_other_work_on_the_cluster_are_not_given_to_trials(gpu_cluster, tmp_path):
    """Dask's resource accounting, not the driver's count, keeps GPU trials off a GPU that
    another computation holds: with one of two GPUs taken, trials run one at a time."""
    marks, release = tmp_path / "marks", tmp_path / "release"
    holder = gpu_cluster.submit(
        hold_a_gpu, str(marks), str(release), resources={"GPU": 1}, pure=False
    )
    deadline = time.monotonic() + PATIENCE_S
    while not (marks / "running").is_dir() or not any((marks / "running").iterdir()):
        if time.monotonic() > deadline:
            pytest.fail(f"the GPU holder did not start within {PATIENCE_S} s")
        time.sleep(0.01)
    try:
        df = run(None, tmp_path, trials=3, sleep=0.3, client=gpu_cluster, gpus_per_trial=1)
    finally:
        release.touch()
    assert holder.result(timeout=PATIENCE_S) == 1
    assert df["running"].max() == 2  # the holder and one trial, never two trials beside it


@pytest.mark.slow
@pytest.mark.parametrize("gpu_cluster", [{"gpus": 2}], indirect=True)
def test_a_cpu_only_worker_gets_cpu_trials_and_never_gpu_trials(gpu_cluster, tmp_path):
    """Two GPU workers and a CPU-only worker with two threads on one scheduler."""
    cluster = gpu_cluster.cluster
    spec = dict(next(iter(cluster.worker_spec.values())))
    options = {k: v for k, v in spec["options"].items() if k not in ("resources", "env")}
    cluster.worker_spec["cpu-only"] = {**spec, "options": {**options, "nthreads": 2}}
    cluster.sync(cluster._correct_state)
    gpu_cluster.wait_for_workers(3, timeout=PATIENCE_S)
    info = gpu_cluster.scheduler_info()["workers"]
    cpu_workers = {a for a, w in info.items() if not w.get("resources")}
    assert len(cpu_workers) == 1
    gpu = run(
        None, tmp_path, trials=4, sleep=0.3, meet=2, client=gpu_cluster, gpus_per_trial=1,
        name="gpu",
    )  # fmt: skip
    assert not set(gpu["worker"]) & cpu_workers
    assert (gpu["devices"] != "").all()
    # Four CPU trials meet: they need every thread, the CPU-only worker's two included.
    cpu = run(None, tmp_path / "cpu", trials=4, sleep=0.3, meet=4, client=gpu_cluster)
    assert (cpu["worker"].isin(cpu_workers)).sum() == 2
    assert (cpu["devices"] == "").all()


@pytest.mark.slow
def test_a_worker_with_two_gpus_pins_concurrent_trials_to_different_devices(tmp_path):
    df = run(
        {"local": {"gpus": 2, "n_workers": 1, "threads_per_worker": 2}},
        tmp_path,
        trials=2,
        sleep=0.3,
        meet=2,
        gpus_per_trial=1,
    )
    assert df["worker"].nunique() == 1
    assert sorted(df["devices"]) == ["0", "1"]


@pytest.mark.slow
def test_a_trial_with_two_gpus_sees_both(tmp_path):
    df = run(
        {"local": {"gpus": 2, "n_workers": 1}}, tmp_path, trials=2, sleep=0.2, gpus_per_trial=2
    )
    assert list(df["devices"]) == ["0,1", "0,1"]
    assert list(df["visible"]) == ["0,1", "0,1"]
    assert df["running"].max() == 1  # one worker with two GPUs runs one such trial at a time


@pytest.mark.slow
def test_half_a_gpu_lets_two_trials_share_one(tmp_path):
    with pytest.warns(UserWarning, match="share one GPU"):
        df = run(
            {"local": {"gpus": 1, "n_workers": 2}},
            tmp_path,
            trials=2,
            sleep=0.3,
            meet=2,
            gpus_per_trial=0.5,
        )
    assert list(df["devices"]) == ["0", "0"]
