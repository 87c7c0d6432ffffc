"""The sequential executor: a group's branch sessions one after another on the calling thread.

Every member still gets its own branch session (own queue, session id, isolated
channel), and the coordinator still decides, merges in declaration order and closes
each branch as for threads: only where the members run differs.  Members run in
declaration order, each to its end before the next starts, so a run's order and
outputs are the same on every machine (a deterministic teaching run), and nothing
starts a thread (Pyodide, where threads don't exist: ``core.runtime.threadless``).
There, on a run driven from its loop (``await wf.aexecute()``: ``core.runtime.loop_driven``),
a member that reaches an ``await`` parks and the next starts (``parking.py``); members
still start in declaration order.

A group timeout can't be kept here (a member can't be stopped part-way without a thread
to wait beside it): ``backend="sequential"`` with ``timeout=`` is refused when the group
is declared, and a group that falls back here for want of threads fails with one
``ConfigError`` naming it, unless the run is driven from its loop: there the parking
batch keeps it between members and at awaits.
"""

from __future__ import annotations

from ..loop_driven import drives_on_loop
from ..threadless import needs_threads
from .base import Batch, Branches, BranchExecutor
from .parking import ParkingBatch

WAITING, RUNNING, ENDED, SKIPPED = "waiting", "running", "ended", "skipped"


class _SequentialBatch(Batch):
    def __init__(self, branches: Branches, indices: list[int]):
        self._branches: Branches | None = branches
        self._indices = indices
        self.states = [WAITING] * len(indices)
        self._stopped = False

    def wait(self, timeout: float | None) -> bool:
        """Run every member not yet started, in order (``timeout`` can't be kept here:
        ``start`` refused every group with one)."""
        for position, index in enumerate(self._indices):
            if self._stopped:
                break
            if self.states[position] != WAITING:
                continue
            self.states[position] = RUNNING
            try:
                assert self._branches is not None, "a batch was run after it was closed"
                self._branches.run_here(index)  # settles the member, whatever it raised
            finally:
                self.states[position] = ENDED
        return True

    def stop(self) -> None:
        self._stopped = True
        self.states = [SKIPPED if state == WAITING else state for state in self.states]

    def never_started(self) -> list[int]:
        return [p for p, state in enumerate(self.states) if state == SKIPPED]

    def still_running(self) -> list[int]:
        return [p for p, state in enumerate(self.states) if state == RUNNING]

    def close(self) -> None:
        self._branches = None


class SequentialExecutor(BranchExecutor):
    """Branches one after another on the thread that forked them (``limit`` is moot);
    on a run driven from its loop (``await wf.aexecute`` where threads can't start),
    each until it ends or parks on an await (``parking.py``), at most ``limit`` at once."""

    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        group = branches.group
        parent = branches.parent
        if drives_on_loop(branches.run) and parent.parkable:
            return ParkingBatch(branches, indices, limit, parent.session_id)  # keeps a timeout: the loop has timers
        if group.timeout is not None:
            raise needs_threads(
                f"group {group.task_id!r} (timeout={group.timeout:g}s)",
                "its members run one after another here; drop the timeout, or run the "
                "workflow where threads exist (or, with async members, with `await wf.aexecute(...)`)",
            )
        return _SequentialBatch(branches, indices)
