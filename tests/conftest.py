"""Shared fixtures: real LocalClusters with worker processes (never a mock of Dask)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A real LocalCluster (2 single-threaded worker processes) shared by the session.

    Tests that kill workers or change the cluster start their own with ``own_cluster``.
    """
    from distributed import Client

    from daskhpo.dask.clusters import start_local_cluster

    cluster = start_local_cluster({"n_workers": 2})
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def own_cluster() -> Iterator[object]:
    """A fresh LocalCluster (2 worker processes with nannies) for tests that break it."""
    from distributed import Client

    from daskhpo.dask.clusters import start_local_cluster

    cluster = start_local_cluster({"n_workers": 2})
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def pytest_report_header() -> str:
    return f"daskhpo tests: cores available {len(os.sched_getaffinity(0))}"
