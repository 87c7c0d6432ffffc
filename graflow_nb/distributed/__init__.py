"""Branch sessions on a Dask cluster (the ``dask`` extra: ``pip install "graflow_nb[dask]"``).

    group.with_execution(backend="dask", backend_config={"client": client})
    group.with_execution(backend="dask", backend_config={"address": "tcp://..."})
    wf.execute(..., executor=client)    # every group that chose no backend

Each member's branch session is one future; the engine drains it on the worker and
its outcome is merged here, in declaration order, by the same code as a thread run.
``local_cluster`` starts a small cluster for a notebook; graflow_nb never starts one
on its own.
"""

from .cluster import local_cluster
from .executor import DaskExecutor, SchedulerLost, Shipped, WorkerLost
from .shipping import ShippingError

__all__ = ["DaskExecutor", "SchedulerLost", "Shipped", "ShippingError", "WorkerLost", "local_cluster"]
