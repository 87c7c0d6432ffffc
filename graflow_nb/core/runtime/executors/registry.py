"""Which executor runs a group's branches: threads here (or one after another, where
asked or where threads don't exist), other backends by name.

Core registers no backend but its threads and never loads graflow_nb.distributed:
graflow_nb/__init__ registers "dask" (a factory that loads it on first use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError
from .base import BranchExecutor
from .sequential import SequentialExecutor
from .threads import ThreadExecutor

if TYPE_CHECKING:
    from ...model.task import ParallelGroup
    from ..run import Run


def executor_for(group: ParallelGroup, run: Run) -> BranchExecutor:
    """The executor for one run of ``group``.

    A group that chose no backend follows the run's (``execute(executor=client)``);
    inside a branch that already runs on a Dask worker, and under the step debugger
    (which holds sessions of this process), every group runs on threads here.  In a
    run that starts no thread (Pyodide, or a step debugger asked for none:
    ``Run.threads``), every group runs sequentially."""
    if group.backend == "sequential" or not run.threads:
        return SequentialExecutor()
    backend = group.backend if group.backend_chosen or run.executor is None else "dask"
    if backend == "dask" and run.remote_worker is None and run.gate is None:
        return dask_executor(group.backend_config if group.backend_chosen else {"client": run.executor})
    return ThreadExecutor(run.pool)


# Executors of other backends by name, each ``factory(config) -> BranchExecutor``.
_EXECUTORS: dict[str, Callable[[dict[str, Any]], BranchExecutor]] = {}


def register_executor(name: str, factory: Callable[[dict[str, Any]], BranchExecutor]) -> None:
    """Make ``backend=name`` groups run on ``factory(backend_config)``."""
    _EXECUTORS[name] = factory


def dask_executor(config: dict[str, Any]) -> BranchExecutor:
    """The Dask executor for ``config`` (``{"client": c}`` or ``{"address": a}``)."""
    factory = _EXECUTORS.get("dask")
    if factory is None:
        raise ConfigError('backend="dask" needs graflow_nb\'s Dask executor: import graflow_nb (not only its core)')
    return factory(config)
