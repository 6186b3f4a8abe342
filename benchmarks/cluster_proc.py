"""A LocalCluster in its own process: prints its scheduler address, runs until stdin closes.

Used where a measurement must see the driver alone (``w4_daskhpo_memory``).
Usage: ``python cluster_proc.py N_WORKERS THREADS_PER_WORKER``.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from distributed import LocalCluster

    n_workers, threads = int(argv[0]), int(argv[1])
    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the driver closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
