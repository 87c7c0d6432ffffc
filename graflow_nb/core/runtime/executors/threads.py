"""The thread executor: a group's branch sessions on the run's worker pool (``pool.py``'s
fork-join, which never deadlocks on nested groups)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, overload

from .base import Batch, Branches, BranchExecutor
from .pool import RUNNING, SKIPPED, ForkJoin


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
