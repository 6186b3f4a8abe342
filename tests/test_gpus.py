"""GPU trials: per-trial GPU requests, device pinning, and emulated GPUs on a CPU machine.

The emulated clusters run real worker processes; the only thing fake is the device list, so
the pinning path is the one real GPUs take.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd
import pytest

import daskhpo as dh
from daskhpo.dask.clusters import ClusterError, ClusterSpec
from daskhpo.dask.gpus import check_trial_gpus, choose, parse_devices, with_gpus


def record_devices(config: dict[str, Any]) -> dict[str, Any]:
    """Sleep, and say which devices the trial was given and what CUDA_VISIBLE_DEVICES was."""
    start = time.time()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    time.sleep(config["sleep"])
    ctx = dh.current_trial()
    assert ctx is not None
    return {
        "x": config["x"],
        "devices": ",".join(ctx.devices),
        "visible": visible,
        "pid": os.getpid(),
        "t_start": start,
        "t_end": time.time(),
    }


def run(cluster: Any, tmp_path: Any, *, trials: int, sleep: float, **kwargs: Any) -> pd.DataFrame:
    result = dh.tune(
        record_devices,
        {"x": dh.uniform(0, 1), "sleep": sleep},
        metric="x",
        num_trials=trials,
        seed=0,
        cluster=cluster,
        experiment_dir=tmp_path,
        progress=False,
        **kwargs,
    )
    df = result.trials
    assert set(df["status"]) == {"COMPLETED"}, df[["status", "error"]]
    return df


def overlapping(df: pd.DataFrame) -> list[tuple[int, int]]:
    """Pairs of trials that ran at the same time."""
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
    df = run({"local": {"gpus": 2}}, tmp_path, trials=3, sleep=1.0, gpus_per_trial=1)
    assert set(df["devices"]) <= {"0", "1"}
    assert (df["visible"] == df["devices"]).all()  # CUDA_VISIBLE_DEVICES is the pinned device
    pairs = overlapping(df)
    by_id = df.set_index("trial_id")
    assert pairs, "two GPUs should run two trials at once"
    for a, b in pairs:
        assert by_id.loc[a, "devices"] != by_id.loc[b, "devices"]
    # No three trials ever ran at once on two GPUs.
    assert not any((a, c) in pairs and (b, c) in pairs for a, b in pairs for c in by_id.index)
    # A worker process keeps its device (CUDA reads CUDA_VISIBLE_DEVICES once per process).
    assert df.groupby("pid")["devices"].nunique().max() == 1


@pytest.mark.slow
def test_a_worker_with_two_gpus_pins_concurrent_trials_to_different_devices(tmp_path):
    df = run(
        {"local": {"gpus": 2, "n_workers": 1, "threads_per_worker": 2}},
        tmp_path,
        trials=2,
        sleep=1.0,
        gpus_per_trial=1,
    )
    assert df["worker"].nunique() == 1
    assert overlapping(df) == [(0, 1)]
    assert sorted(df["devices"]) == ["0", "1"]


@pytest.mark.slow
def test_a_trial_with_two_gpus_sees_both(tmp_path):
    df = run(
        {"local": {"gpus": 2, "n_workers": 1}}, tmp_path, trials=2, sleep=0.2, gpus_per_trial=2
    )
    assert list(df["devices"]) == ["0,1", "0,1"]
    assert list(df["visible"]) == ["0,1", "0,1"]
    assert overlapping(df) == []  # one worker with two GPUs runs one such trial at a time


@pytest.mark.slow
def test_half_a_gpu_lets_two_trials_share_one(tmp_path):
    with pytest.warns(UserWarning, match="share one GPU"):
        df = run(
            {"local": {"gpus": 1, "n_workers": 2}},
            tmp_path,
            trials=2,
            sleep=1.0,
            gpus_per_trial=0.5,
        )
    assert overlapping(df) == [(0, 1)]
    assert list(df["devices"]) == ["0", "0"]
