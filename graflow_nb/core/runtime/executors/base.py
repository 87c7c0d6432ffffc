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

Three executors: ``ThreadExecutor`` (``threads.py``: the run's worker pool),
``SequentialExecutor`` (``sequential.py``: one after another on the forking thread; also
where threads can't start), and the Dask executor in ``graflow_nb.distributed``, which
``registry.py`` knows by name only.  On a run driven from its loop where threads can't
start (``loop_driven``), the sequential executor's batch parks members at their awaits
(``parking.py``), and its ``wait`` raises ``AwaitParked`` when none can go on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ...model.task import Executable, ParallelGroup
    from ..loop import AsyncAttempt
    from ..run import Run
    from ..session import Session



class Branches(Protocol):
    """The coordinator's side of the seam, for one group run."""

    group: ParallelGroup
    run: Run
    parent: Session  # the session that forked them
    members: list[Executable]  # a map's are made as it runs: not the group's tasks
    branches: list[Session]

    def run_here(self, index: int) -> None:
        """Drain branch ``index`` on this thread with the engine, then settle it."""

    def settle(self, index: int, error: BaseException | None) -> None:
        """Branch ``index`` ended: None if it succeeded, else what it raised."""


class Batch(ABC):
    """The members of one group run, handed to an executor.

    A batch that ``parks`` takes members that stopped without a thread on an async
    task (``park``) and runs them on when it ends; elsewhere a member's thread waits."""

    parks = False

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

    def park(self, index: int, attempt: AsyncAttempt) -> None:
        """Member ``index`` (of the group) stopped on ``attempt`` (only where ``parks``):
        run its job again once the attempt ended."""
        raise NotImplementedError(f"{type(self).__name__} does not park members")

    def settle_parked(self) -> None:  # noqa: B027  # nothing parks on most executors
        """After ``stop``: cancel parked members' attempts and wait (a moment) until
        they ended, so they end ``cancelled`` rather than given up on."""


class BranchExecutor(ABC):
    @abstractmethod
    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        """Make (but do not yet wait on) the batch of ``indices``, at most ``limit`` at once."""
