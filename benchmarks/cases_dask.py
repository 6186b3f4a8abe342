"""Measurements of daskhpo and of the raw floors (Dask, a process pool), one per function.

Each function runs in a fresh interpreter (see ``measure.py``), starts its cluster or pool
before the clock starts, and returns ``{"wall": seconds, ...}``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import workloads as w

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def local_client(n_workers: int = w.SLOTS, threads: int = 1) -> Iterator[Any]:
    """A LocalCluster of worker processes and its client, started before any timing."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(n_workers)
        yield client


@contextlib.contextmanager
def daskhpo_client(n_workers: int = w.SLOTS, threads: int = 1) -> Iterator[Any]:
    """The LocalCluster ``tune()`` starts by default (daskhpo's settings: see
    ``daskhpo.dask.clusters.OWN_CLUSTER_CONFIG``), started before any timing."""
    from daskhpo.dask.clusters import connect

    spec = {"local": {"n_workers": n_workers, "threads_per_worker": threads}}
    with connect(spec) as (client, _):
        client.wait_for_workers(n_workers)
        yield client


@contextlib.contextmanager
def remote_client(n_workers: int, threads: int) -> Iterator[Any]:
    """A client of a LocalCluster that lives in another process, so this process holds only
    the driver (for memory measurements)."""
    from distributed import Client

    proc = subprocess.Popen(
        [sys.executable, str(HERE / "cluster_proc.py"), str(n_workers), str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address:
            raise RuntimeError("the cluster process did not print its scheduler address")
        with Client(address) as client:
            client.wait_for_workers(n_workers)
            yield client
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _daskhpo() -> Any:
    """daskhpo with its driver's modules loaded: imports happen before the clock, as for every
    system (``import daskhpo`` alone defers them to the first ``tune``)."""
    import daskhpo as dh
    import daskhpo.dask.backend  # ``tune`` imports it on first use

    dh.tune  # noqa: B018
    return dh


def _space() -> dict[str, Any]:
    dh = _daskhpo()
    return {
        "lr": dh.loguniform(1e-4, 1.0),
        "layers": dh.randint(1, 8),
        "opt": dh.choice(list(w.OPTIMIZERS)),
    }


def _timed_tune(
    client: Any, objective: Callable[..., Any], space: Any, n: int, **kw: Any
) -> tuple[float, Any]:
    """Times ``tune()`` alone. The check that every trial completed reads ``Result.trials``
    (a pandas table built on first access) after the clock: the floors build no tables."""
    dh = _daskhpo()
    wall, result = _timed(
        lambda: dh.tune(
            objective,
            space,
            metric="loss",
            mode="min",
            num_trials=n,
            client=client,
            progress=False,
            seed=w.SEED,
            **kw,
        )
    )
    done = int((result.trials["status"] == dh.TrialStatus.COMPLETED.value).sum())
    if done != n:
        raise RuntimeError(f"daskhpo completed {done} of {n} trials")
    return wall, result


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------------- W1 overhead


def w1_dask_map() -> dict[str, Any]:
    configs = w.w1_configs(w.W1_TRIALS)
    with local_client() as client:
        wall, _ = _timed(
            lambda: client.gather(client.map(w.instant, configs, pure=False)),
        )
    return {"wall": wall}


def w1_dask_ac2() -> dict[str, Any]:
    """A bare ``as_completed`` loop keeping exactly 2 trials in flight."""
    return {"wall": _as_completed_loop(w.instant, w.w1_configs(w.W1_TRIALS), in_flight=2)}


def w1_pool() -> dict[str, Any]:
    configs = w.w1_configs(w.W1_TRIALS)
    with ProcessPoolExecutor(w.SLOTS) as pool:
        wait([pool.submit(time.sleep, 0.2) for _ in range(w.SLOTS)])  # both processes up
        wall, _ = _timed(lambda: [f.result() for f in [pool.submit(w.instant, c) for c in configs]])
    return {"wall": wall}


def w1_daskhpo() -> dict[str, Any]:
    space = _space()
    with daskhpo_client() as client:
        wall, _ = _timed_tune(client, w.instant, space, w.W1_TRIALS)
    return {"wall": wall}


# ---------------------------------------------------------------------- W2 stragglers


def _as_completed_loop(fn: Callable[..., Any], configs: list[Any], in_flight: int) -> float:
    from distributed import as_completed

    with local_client() as client:
        t0 = time.perf_counter()
        todo = iter(configs[in_flight:])
        first = [client.submit(fn, c, pure=False) for c in configs[:in_flight]]
        ac = as_completed(first)
        for future in ac:
            future.result()
            nxt = next(todo, None)
            if nxt is not None:
                ac.add(client.submit(fn, nxt, pure=False))
        return time.perf_counter() - t0


def _w2_configs() -> list[dict[str, Any]]:
    return [{"duration": d} for d in w.w2_durations()]


def w2_pool() -> dict[str, Any]:
    configs = _w2_configs()
    with ProcessPoolExecutor(w.SLOTS) as pool:
        wait([pool.submit(time.sleep, 0.2) for _ in range(w.SLOTS)])
        wall, _ = _timed(lambda: [f.result() for f in [pool.submit(w.sleeper, c) for c in configs]])
    return {"wall": wall}


def w2_dask_ac2() -> dict[str, Any]:
    return {"wall": _as_completed_loop(w.sleeper, _w2_configs(), in_flight=w.SLOTS)}


def _w2_daskhpo(scheduler: str | None) -> dict[str, Any]:
    dh = _daskhpo()
    space = {"duration": dh.grid(w.w2_durations())}
    with daskhpo_client() as client:
        wall, result = _timed_tune(client, w.sleeper, space, w.W2_TRIALS, scheduler=scheduler)
    # In submission order: no trial started after one submitted later (beyond a 5 ms tie:
    # two workers starting at the same moment report in either order). Batch mode starts a
    # whole batch at once: its order holds between batches.
    starts = result.trials.sort_values("trial_id")["start_time"].tolist()
    size = w.SLOTS if scheduler == "batch" else 1
    batches = [starts[i : i + size] for i in range(0, len(starts), size)]
    in_order = all(
        min(later) >= max(earlier) - 0.005 for earlier, later in itertools.pairwise(batches)
    )
    return {"wall": wall, "in_order": in_order}


def w2_daskhpo_async() -> dict[str, Any]:
    return _w2_daskhpo(None)


def w2_daskhpo_batch() -> dict[str, Any]:
    return _w2_daskhpo("batch")


# ---------------------------------------------------------------------- W3 reporting


def w3_daskhpo_reports() -> dict[str, Any]:
    space = _space()
    with daskhpo_client() as client:
        wall, result = _timed_tune(client, w.reporter, space, w.W3_TRIALS)
    n = len(result.reports)
    if n != w.W3_TRIALS * w.W3_REPORTS:
        raise RuntimeError(f"daskhpo recorded {n} reports, expected {w.W3_TRIALS * w.W3_REPORTS}")
    return {"wall": wall}


def w3_daskhpo_noreport() -> dict[str, Any]:
    space = _space()
    with daskhpo_client() as client:
        wall, _ = _timed_tune(client, w.instant, space, w.W3_TRIALS)
    return {"wall": wall}


def _log_events(config: dict[str, Any], topic: str) -> float:
    from distributed import get_worker

    worker = get_worker()
    loss = w.loss_of(config)
    for step in range(1, w.W3_REPORTS + 1):
        worker.log_event(topic, [step, loss])
    return loss


def w3_dask_log_event() -> dict[str, Any]:
    """Raw floor for live reports: ``client.map`` whose tasks ``log_event`` each report to a
    topic the driver subscribes to; done when every result and every report has arrived."""
    configs = w.w1_configs(w.W3_TRIALS)
    expected = w.W3_TRIALS * w.W3_REPORTS
    seen = 0
    all_seen = threading.Event()

    def on_report(_event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == expected:
            all_seen.set()

    with local_client() as client:
        client.subscribe_topic("bench-reports", on_report)
        t0 = time.perf_counter()
        client.gather(client.map(_log_events, configs, topic="bench-reports", pure=False))
        if not all_seen.wait(60):
            raise RuntimeError(f"only {seen} of {expected} reports arrived")
        wall = time.perf_counter() - t0
    return {"wall": wall}


# ---------------------------------------------------------------------- W4 scale


def _utilisation(wall: float, trials: int, sleep: float) -> float:
    return (trials * sleep) / (w.W4_WORKERS * w.W4_THREADS * wall)


def _w4_dask_map(trials: int, sleep: float) -> dict[str, Any]:
    configs = [{"duration": sleep}] * trials
    with local_client(w.W4_WORKERS, w.W4_THREADS) as client:
        wall, _ = _timed(lambda: client.gather(client.map(w.sleeper, configs, pure=False)))
    return {"wall": wall, "utilisation": _utilisation(wall, trials, sleep)}


def _w4_daskhpo(trials: int, sleep: float) -> dict[str, Any]:
    _daskhpo()
    space = {"duration": sleep}
    with daskhpo_client(w.W4_WORKERS, w.W4_THREADS) as client:
        wall, _ = _timed_tune(client, w.sleeper, space, trials)
    return {"wall": wall, "utilisation": _utilisation(wall, trials, sleep)}


def w4_dask_map() -> dict[str, Any]:
    return _w4_dask_map(w.W4_TRIALS, w.W4_SLEEP)


def w4_daskhpo() -> dict[str, Any]:
    return _w4_daskhpo(w.W4_TRIALS, w.W4_SLEEP)


def w4_dask_map_long() -> dict[str, Any]:
    return _w4_dask_map(w.W4_LONG_TRIALS, w.W4_LONG_SLEEP)


def w4_daskhpo_long() -> dict[str, Any]:
    return _w4_daskhpo(w.W4_LONG_TRIALS, w.W4_LONG_SLEEP)


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def w4_daskhpo_memory() -> dict[str, Any]:
    """Driver memory per trial at ``W4_MEMORY_TRIALS`` instant trials; the scheduler and
    workers run in another process, so the RSS measured here is the driver's alone."""
    space = _space()
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss())
            time.sleep(0.02)

    with (
        remote_client(w.W4_WORKERS, w.W4_THREADS) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        gc.collect()
        before = _rss()
        peak = before
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wall, result = _timed_tune(client, w.instant, space, w.W4_MEMORY_TRIALS, experiment_dir=tmp)
        stop.set()
        sampler.join()
        gc.collect()
        after = _rss()
        peak = max(peak, after)
        del result
    n = w.W4_MEMORY_TRIALS
    return {
        "wall": wall,
        "kib_per_trial_kept": (after - before) / n / 1024,
        "kib_per_trial_peak": (peak - before) / n / 1024,
    }


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        w1_dask_map,
        w1_dask_ac2,
        w1_pool,
        w1_daskhpo,
        w2_pool,
        w2_dask_ac2,
        w2_daskhpo_async,
        w2_daskhpo_batch,
        w3_daskhpo_reports,
        w3_daskhpo_noreport,
        w3_dask_log_event,
        w4_dask_map,
        w4_daskhpo,
        w4_dask_map_long,
        w4_daskhpo_long,
        w4_daskhpo_memory,
    )
}
