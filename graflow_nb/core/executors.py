"""Where a group's branch sessions run: the executor seam.

The coordinator (fork, decide, merge, close) forks the branch sessions and hands them
to an executor, which runs them somewhere and reports each one's end back through
``Branches.settle``, exactly as if the branch had run here.  The coordinator never
learns which executor ran a branch.

    Branches       the coordinator's side: ``run_here(i)`` drains branch ``i`` on the
                   calling thread and settles it; ``settle(i, error)`` records how it
                   ended (None: it succeeded; a ``SessionPaused``: it waits for input)
    BranchExecutor ``start(branches, indices, limit) -> Batch``
    Batch          ``wait(timeout) -> bool`` (True once every member ended), ``stop()``
                   (members not started never will), ``never_started()`` and
                   ``still_running()`` (positions into ``indices``)

Two executors: ``ThreadExecutor`` (the run's worker pool) here, and the Dask executor in ``graflow_nb.distributed``, loaded
only when a group asks for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from .pool import RUNNING, SKIPPED, ForkJoin
from .task import DASK_EXTRA

if TYPE_CHECKING:
    from .context import ExecutionContext
    from .run import Run
    from .task import ParallelGroup



class Branches(Protocol):
    """The coordinator's side of the seam, for one group run."""

    group: ParallelGroup
    run: Run
    branches: list[ExecutionContext]

    def run_here(self, index: int) -> None:
        """Drain branch ``index`` on this thread with the engine, then settle it."""

    def settle(self, index: int, error: BaseException | None) -> None:
        """Branch ``index`` ended: None if it succeeded, else what it raised."""


class Batch(ABC):
    """The members of one group run, handed to an executor."""

    @abstractmethod
    def wait(self, timeout: float | None) -> bool:
        """Run until every member ended (True), or until ``timeout`` (False)."""

    @abstractmethod
    def stop(self) -> None:
        """No member that has not started will start (cooperative cancellation)."""

    @abstractmethod
    def never_started(self) -> list[int]:
        """Positions (into the batch's indices) of members skipped by ``stop``."""

    @abstractmethod
    def still_running(self) -> list[int]:
        """Positions of members that started and have not ended."""


class BranchExecutor(ABC):
    @abstractmethod
    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        """Make (but do not yet wait on) the batch of ``indices``, at most ``limit`` at once."""


class _ThreadBatch(Batch):
    def __init__(self, fork: ForkJoin):
        self._fork = fork

    def wait(self, timeout: float | None) -> bool:
        return self._fork.run(timeout=timeout)

    def stop(self) -> None:
        self._fork.stop()

    def never_started(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state == SKIPPED]

    def still_running(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state == RUNNING]


class ThreadExecutor(BranchExecutor):
    """Branches on the run's worker pool; with no pool (a branch re-created on its
    own), one after another on the forking thread."""

    def __init__(self, pool: Any):
        self.pool = pool

    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        jobs = [_job(branches, index) for index in indices]
        return _ThreadBatch(ForkJoin(self.pool, jobs, limit))


def _job(branches: Branches, index: int) -> Any:
    return lambda: branches.run_here(index)


def executor_for(group: ParallelGroup, run: Run) -> BranchExecutor:
    """The executor for one run of ``group``.

    A group that chose no backend follows the run's (``execute(executor=client)``);
    inside a branch that already runs on a Dask worker, and under the step debugger
    (which holds sessions of this process), every group runs on threads here."""
    backend = group.backend if group.backend_chosen or run.executor is None else "dask"
    if backend == "dask" and run.remote_worker is None and run.gate is None:
        return dask_executor(group.backend_config if group.backend_chosen else {"client": run.executor})
    return ThreadExecutor(run.pool)


def dask_executor(config: dict[str, Any]) -> BranchExecutor:
    """The Dask executor for ``config`` (``{"client": c}`` or ``{"address": a}``);
    ``distributed`` is an optional dependency, so it is loaded on first use."""
    try:
        module = import_module("graflow_nb.distributed")
    except ModuleNotFoundError as missing:
        if missing.name not in ("distributed", "cloudpickle"):
            raise
        raise ImportError(DASK_EXTRA) from missing
    executor: BranchExecutor = module.DaskExecutor.from_config(config)
    return executor
