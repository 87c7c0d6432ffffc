"""Which backend runs a parallel group's members: graflow's names, checked in one place.

``with_execution(backend=...)`` takes a ``CoordinationBackend`` member or its name, in
any case.  ``backend_name`` is the single normalisation every caller goes through, so a
new backend (a Dask one, say) is one more entry in ``BACKENDS``:

    threading   each member in its own branch session, on the run's worker pool
    sequential  each member in its own branch session, one after another on the calling
                thread in declaration order: deterministic, and no thread (Pyodide)
    direct      members one after another in the *parent* session (graflow's DIRECT):
                no branch sessions, writes go straight to the parent's channel
    dask        each member's branch session a future on a Dask cluster
                (``graflow_nb.distributed``, the ``dask`` extra)
    redis       graflow's distributed workers: not offered here (a clear error)
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..checks import shown


class CoordinationBackend(Enum):
    """graflow's ``graflow.coordination.coordinator.CoordinationBackend``."""

    THREADING = "threading"
    SEQUENTIAL = "sequential"  # graflow_nb's: branch sessions without threads
    DIRECT = "direct"
    REDIS = "redis"


# Names a group can run with; each maps to what the coordinator does with it.
BACKENDS: tuple[str, ...] = ("threading", "direct", "sequential", "dask")

# Names graflow knows that graflow_nb refuses, each with what to use instead.
REFUSED: dict[str, str] = {
    "redis": (
        "graflow_nb has no Redis workers; for members on other processes or machines use "
        "backend=\"dask\" (a Dask cluster), or \"threading\" (the default) in one process"
    ),
}


def backend_name(backend: Any, owner: str) -> str:
    """The lower-case name of ``backend`` (None means "threading"), or a ``ValueError``
    naming ``owner`` and the choices."""
    if backend is None:
        return "threading"
    raw = backend.value if isinstance(backend, Enum) else backend
    if not isinstance(raw, str):
        raise ValueError(f"unknown backend {shown(backend)} for {owner}; choose one of {', '.join(BACKENDS)}")
    name = raw.lower()
    if name in REFUSED:
        raise ValueError(f"backend {shown(raw)} for {owner} is not offered: {REFUSED[name]}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {shown(backend)} for {owner}; choose one of {', '.join(BACKENDS)}")
    return name
