"""The thread executor: a group's branch sessions on the run's worker pool (``pool.py``'s
fork-join, which never deadlocks on nested groups)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, overload

from .base import Batch, Branches, BranchExecutor
from .pool import AWAITING, RESUMED, RUNNING, SKIPPED, ForkJoin

PARKED_GRACE_SECONDS = 1.0  # how long a timed-out group waits for cancelled async members


class _ThreadBatch(Batch):
    def __init__(self, fork: ForkJoin, jobs: _Jobs):
        self._fork = fork
        self._jobs = jobs
        # A member may park on an async task where the pool can run it on later.
        self.parks = fork.pools
        self._positions: dict[int, int] | None = None

    def park(self, index: int, attempt: Any) -> None:
        positions = self._positions
        if positions is None:
            positions = self._positions = {member: p for p, member in enumerate(self._jobs.indices)}
        self._fork.park(positions[index], attempt)

    def settle_parked(self) -> None:
        self._fork.settle_parked(PARKED_GRACE_SECONDS)

    def wait(self, timeout: float | None) -> bool:
        return self._fork.run(timeout=timeout)

    def stop(self) -> None:
        self._fork.stop()

    def never_started(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state == SKIPPED]

    def still_running(self) -> list[int]:
        return [p for p, state in enumerate(self._fork.states) if state in (RUNNING, AWAITING, RESUMED)]

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
        fork = ForkJoin(self.pool, jobs, limit)
        members = branches.members
        # Members that all are async tasks park: the pool's stall monitor is patient
        # with their fork (see pool._patience); one sync member may block a thread.
        fork.parking = all(members[index].is_async for index in indices)
        return _ThreadBatch(fork, jobs)


class _Jobs(Sequence[Callable[[], None]]):
    """The batch's jobs, ``run_here`` of each index, made as each one starts: a
    1000-member group holds two references instead of 1000 closures until it ends."""

    __slots__ = ("_indices", "_run_here")

    def __init__(self, branches: Branches, indices: list[int]):
        self._run_here: Callable[[int], None] | None = branches.run_here
        self._indices = indices

    @property
    def indices(self) -> list[int]:
        return self._indices

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
