"""One real Dask cluster for the whole session: two worker processes on this machine.

``LocalCluster(processes=True, n_workers=2)`` listens on 127.0.0.1 with no dashboard,
so no network is needed.  The scheduler (in this process) gives up on a task after one
lost worker (``allowed-failures: 0``), so the killed-worker test sees the failure at
once instead of after four deaths; the nanny restarts the killed worker, and the
``client`` fixture waits for both workers before each test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dask
import pytest
from distributed import Client

from graflow_nb.distributed import local_cluster

WORKERS = 2


@pytest.fixture(scope="session")
def cluster_client() -> Iterator[Client]:
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        client = local_cluster(WORKERS, threads_per_worker=2, silence_logs=logging.CRITICAL)
        try:
            yield client
        finally:
            client.close()
            client.cluster.close()


@pytest.fixture
def client(cluster_client: Client) -> Client:
    cluster_client.wait_for_workers(WORKERS, timeout=60)
    return cluster_client


def worker_addresses(client: Client) -> set[str]:
    return set(client.scheduler_info()["workers"])
