"""A local Dask cluster for notebooks and tests: worker processes on this machine."""

from __future__ import annotations

from typing import Any

from distributed import Client, LocalCluster


def local_cluster(n_workers: int = 2, threads_per_worker: int = 4, **options: Any) -> Client:
    """A client on a new ``LocalCluster`` of ``n_workers`` worker processes that
    listens on this machine only, with no dashboard (so it needs no network, and every
    port is one the OS picks).  Close it with ``client.close(); client.cluster.close()``,
    or use it as a context manager: ``with local_cluster() as client: ...``.

    Any other ``LocalCluster`` option (``memory_limit``, ``processes``...) passes through.
    """
    settings: dict[str, Any] = {
        "n_workers": n_workers,
        "threads_per_worker": threads_per_worker,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        # The scheduler serves its health routes over HTTP even with no dashboard: on a
        # port of the OS's choosing, so a second cluster (another notebook) never collides.
        "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    }
    settings.update(options)
    cluster = LocalCluster(**settings)
    return Client(cluster, set_as_default=False)
