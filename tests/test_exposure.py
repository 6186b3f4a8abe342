"""A cluster daskhpo starts is reachable from this machine only: its scheduler, its dashboard
and its workers listen on loopback, not on the addresses other hosts can reach."""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import urlparse

import pytest

from daskhpo.dask.clusters import connect


def _outside_addresses() -> list[str]:
    """This machine's IPv4 addresses other hosts could connect to (not loopback)."""
    found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
        found.add(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return sorted(a for a in found if not a.startswith("127."))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _ports(client: Any) -> dict[str, int]:
    info = client.scheduler_info()
    ports = {"scheduler": int(urlparse(client.scheduler.address).port or 0)}
    ports["dashboard"] = int(info["services"]["dashboard"])
    for n, address in enumerate(sorted(info["workers"])):
        ports[f"worker {n}"] = int(urlparse(address).port or 0)
    return ports


def test_scheduler_dashboard_and_workers_listen_on_loopback_only():
    outside = _outside_addresses()
    if not outside:
        pytest.skip("this machine has no address besides loopback to test from")
    with connect({"local": {"n_workers": 1}}) as (client, _):
        client.wait_for_workers(1)
        ports = _ports(client)
        for name, port in ports.items():
            assert _reachable("127.0.0.1", port), f"the {name} is not listening on loopback"
            for address in outside:
                assert not _reachable(address, port), (
                    f"the {name} (port {port}) is reachable on {address}"
                )
