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
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, overload

from ...errors import ConfigError
from .pool import RUNNING, SKIPPED, ForkJoin

if TYPE_CHECKING:
    from ...model.task import ParallelGroup
    from ..run import Run
    from ..session import Session



class Branches(Protocol):
    """The coordinator's side of the seam, for one group run."""

    group: ParallelGroup
    run: Run
    branches: list[Session]

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

    def close(self) -> None:  # noqa: B027  # most executors keep nothing to let go of
        """Every member ended: let go of what refers back to the group run."""


class BranchExecutor(ABC):
    @abstractmethod
    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        """Make (but do not yet wait on) the batch of ``indices``, at most ``limit`` at once."""


class _ThreadBatch(Batch):
    def __init__(self, fork: ForkJoin, jobs: _Jobs):
        self._fork = fork
        self._jobs = jobs

    def wait(self, timeout: float | None) -> bool:
        return self._fork.run(timeout=timeout)

    def stop(self) -> None:
        self._fork.stop()

    def never_started(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state == SKIPPED]

    def still_running(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state == RUNNING]

    def close(self) -> None:
        # The pool may hold on to the fork a while (entries of jobs the forking thread
        # ran itself wait in its queue until a worker skips them): not to the group run.
        self._jobs.release()


class ThreadExecutor(BranchExecutor):
    """Branches on the run's worker pool; with no pool (a branch re-created on its
    own), one after another on the forking thread."""

    def __init__(self, pool: Any):
        self.pool = pool

    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        jobs = _Jobs(branches, indices)
        return _ThreadBatch(ForkJoin(self.pool, jobs, limit), jobs)


class _Jobs(Sequence[Callable[[], None]]):
    """The batch's jobs, ``run_here`` of each index, made as each one starts: a
    1000-member group holds two references instead of 1000 closures until it ends."""

    __slots__ = ("_indices", "_run_here")

    def __init__(self, branches: Branches, indices: list[int]):
        self._run_here: Callable[[int], None] | None = branches.run_here
        self._indices = indices

    def release(self) -> None:
        """Every job ran or was skipped: drop the group run."""
        self._run_here = None

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, position: int) -> Callable[[], None]: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[Callable[[], None]]: ...
    def __getitem__(self, position: int | slice) -> Any:
        run_here = self._run_here
        assert run_here is not None, "a job was asked for after its batch ended"
        if isinstance(position, slice):
            return [partial(run_here, index) for index in self._indices[position]]
        return partial(run_here, self._indices[position])


def executor_for(group: ParallelGroup, run: Run) -> BranchExecutor:
    """The executor for one run of ``group``.

    A group that chose no backend follows the run's (``execute(executor=client)``);
    inside a branch that already runs on a Dask worker, and under the step debugger
    (which holds sessions of this process), every group runs on threads here."""
    backend = group.backend if group.backend_chosen or run.executor is None else "dask"
    if backend == "dask" and run.remote_worker is None and run.gate is None:
        return dask_executor(group.backend_config if group.backend_chosen else {"client": run.executor})
    return ThreadExecutor(run.pool)


# Executors of other backends by name, each ``factory(config) -> BranchExecutor``.  Core
# knows only its threads and never loads graflow_nb.distributed: graflow_nb/__init__
# registers "dask" (a factory that loads it on first use).
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
