"""Running the independent simulations of one table: in this process, in local worker
processes (``jobs``), or on a Dask cluster (``address``, or ``cluster``: the descriptions
``tune`` takes, see :mod:`daskhpo.dask.clusters`), with a progress line.

Every run of a table is seeded from its own position in the table (its repeat, worker count,
scheduler...), never from the order runs finish in, so the results are the same whatever the
parallelism. Results come back in the order of the tasks.

``distributed`` is imported only when a Dask scheduler's address or a cluster is given, inside
:func:`run_all`: importing :mod:`simulate` never loads it (:func:`check_cluster` validates a
description with daskhpo's pure parser, which starts and imports nothing).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar

from daskhpo.errors import ClusterError, ConfigError

__all__ = ["ProgressLine", "check_cluster", "check_jobs", "cluster_description", "run_all"]

T = TypeVar("T")
R = TypeVar("R")

#: Called after each finished run with (runs done, runs in all).
Progress = Callable[[int, int], None]


def check_jobs(jobs: Any) -> int:
    """A whole number of processes >= 1."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a whole number >= 1 (processes), got {jobs!r}")
    return jobs


def check_cluster(cluster: Any) -> Any:
    """``cluster`` itself once daskhpo's cluster parser accepts it (a
    :class:`~daskhpo.errors.ClusterError` with tune's message if not); None stays None."""
    if cluster is None:
        return None
    from daskhpo.dask.clusters.spec import ClusterSpec

    ClusterSpec.parse(cluster)
    return cluster


def cluster_description(text: str) -> Any:
    """A ``--cluster`` value as a description: the YAML (or JSON) in a file (its ``cluster``
    key if it is an experiment file), else the text itself as YAML (``{local: {n_workers:
    2}}``, ``slurm``, ``tcp://host:8786``); validated as :func:`check_cluster` does."""
    from pathlib import Path

    import yaml

    path = Path(text)
    try:
        is_file = path.is_file()
    except OSError:  # e.g. a long description is no file name
        is_file = False
    if is_file:
        from daskhpo.experiment.yamlfile import load_yaml

        value = load_yaml(path)
        if isinstance(value, dict) and "cluster" in value:
            value = value["cluster"]
    elif path.suffix.lower() in (".yaml", ".yml", ".json"):
        raise ClusterError(
            f"cluster file {text!r} does not exist; check the path, or give the description "
            "itself, e.g. '{local: {n_workers: 2}}'"
        )
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "malformed YAML"
            raise ClusterError(
                f"cluster {text!r} is neither a file nor YAML ({first}); write a mapping "
                "like '{local: {n_workers: 2}}', a kind like 'slurm', or an address"
            ) from None
    return check_cluster(value)


def run_all(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    jobs: int = 1,
    address: str | None = None,
    cluster: Any = None,
    progress: Progress | None = None,
) -> list[R]:
    """``[fn(task) for task in tasks]``, serially, on ``jobs`` local processes, on the Dask
    cluster at ``address``, or on ``cluster`` (a description as ``tune`` takes: started here
    and closed after, or joined); ``fn`` and the tasks must pickle for the last three."""
    jobs = check_jobs(jobs)
    total = len(tasks)
    if address is not None and cluster is not None:
        raise ConfigError(
            f"give a cluster ({cluster!r}) or a scheduler address ({address!r}), not both; "
            "an address alone is also a cluster description"
        )
    if cluster is not None:
        return _on_cluster(fn, tasks, check_cluster(cluster), progress)
    if address is not None:
        return _on_dask(fn, tasks, address, progress)
    if jobs == 1 or total <= 1:
        results = []
        for i, task in enumerate(tasks):
            results.append(fn(task))
            if progress is not None:
                progress(i + 1, total)
        return results
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    out: list[Any] = [None] * total
    with cf.ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=context) as pool:
        futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        for done, future in enumerate(cf.as_completed(futures), start=1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
    return out


def _on_dask(
    fn: Callable[[T], R], tasks: Sequence[T], address: str, progress: Progress | None
) -> list[R]:
    try:
        from distributed import Client  # noqa: TID251  # only here, on request
    except ImportError:
        raise ConfigError(
            "--address runs the sweep on a Dask cluster and needs distributed: "
            "pip install distributed"
        ) from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"no Dask scheduler answers at {address!r} ({exc}); start one "
            f"(dask scheduler) or check the address"
        ) from None
    with client:
        return _mapped(client, fn, tasks, progress)


def _on_cluster(
    fn: Callable[[T], R], tasks: Sequence[T], cluster: Any, progress: Progress | None
) -> list[R]:
    """Start (or join) the described cluster with daskhpo's own code, as ``tune`` does."""
    try:
        from daskhpo.dask.clusters import connect  # only here, on request
    except ImportError:
        raise ConfigError(
            "--cluster runs the sweep on a Dask cluster and needs distributed: "
            "pip install distributed"
        ) from None
    with connect(cluster) as (client, _):
        return _mapped(client, fn, tasks, progress)


def _mapped(
    client: Any, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None
) -> list[R]:
    """The results of ``fn`` over ``tasks`` on ``client``, in the order of the tasks."""
    from distributed import as_completed  # noqa: TID251  # only here, on request

    futures = client.map(fn, list(tasks), pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    for done, future in enumerate(as_completed(futures), start=1):
        out[index[future.key]] = future.result()
        if progress is not None:
            progress(done, len(futures))
    return out


class ProgressLine:
    """``runs 12/40 · 3.1 s · about 7 s left`` rewritten in place on a terminal's stderr; silent
    when stderr is not a terminal or when ``quiet``."""

    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._start
        left = elapsed / done * (total - done) if done else 0.0
        tail = f" · about {left:.0f} s left" if done < total else ""
        self.stream.write(f"\r{self.label}: runs {done}/{total} · {elapsed:.1f} s{tail}\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the line (so what follows starts on a fresh one)."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
