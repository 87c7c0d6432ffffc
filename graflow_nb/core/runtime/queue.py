"""The per-session FIFO of tasks waiting to run, with the counters the renders show."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.task import Executable


@dataclass(frozen=True)
class QueuedTask:
    """One queued task as graflow's ``get_pending_task_specs()`` lists it (its
    ``TaskSpec``): the task and its id; nothing else of graflow's spec (status, retry
    counts) is kept per queued task here."""

    executable: Executable

    @property
    def task_id(self) -> str:
        return self.executable.task_id


class InMemoryTaskQueue:
    """One session's queue.  Its counters survive the session, so a closed branch
    still reports how many tasks went through it.

    A parallel group waits in the queue like any node (a debugger shows it there),
    but the counters count tasks only: a group is a fork point, and its work is
    counted in the branch sessions it forks.

    The tasks are a list with a head index rather than a ``collections.deque``: a deque
    allocates a 64-slot block (about 600 bytes) for its first item, and every branch
    session's queue holds one (a 1000-branch fan-out spent about 0.7 MiB on them, kept
    in ``wf.last_run``).  The head index keeps a dequeue O(1); the spent head is cut off
    once it is more than half the list.  The list lives on the queue itself, so a
    dequeue is one lock and no further call: every task of every session takes one.
    """

    def __init__(self, session_id: str = ""):
        self.session_id = session_id
        self._list: list[Executable] = []
        self._head = 0
        self._enqueued = 0  # under the lock, from any thread
        self._passed = 0  # by the session's own thread alone (pass_through): no lock
        self.dequeued = 0  # by the session's own thread alone
        self.retries = 0
        self.failures = 0
        # Guards the list, the head and the counters: the session's engine thread
        # dequeues, while a task's own threads (or a debugger reading the queue) may
        # enqueue or snapshot.
        self._lock = threading.Lock()

    # enqueue and dequeue take the lock with acquire/release rather than ``with``: half
    # the cost in CPython 3.11, and every task of every session passes them.
    def enqueue(self, task: Executable) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._list.append(task)
            if not task.is_group:
                self._enqueued += 1
        finally:
            lock.release()

    def dequeue(self) -> Executable | None:
        if not self._list:
            # Nothing queued, seen without the lock: an append is atomic, and one that
            # lands just after this look would have come just after a locked look too.
            return None
        return self.enqueue_then_dequeue(())

    def enqueue_then_dequeue(self, tasks: Sequence[Executable]) -> Executable | None:
        """``enqueue`` each of ``tasks``, then ``dequeue``, under one lock: how a session
        goes from the task that finished to the next one (in a chain, the successor)."""
        lock = self._lock
        lock.acquire()
        try:
            items = self._list
            for task in tasks:
                items.append(task)
                if not task.is_group:
                    self._enqueued += 1
            head = self._head
            if head >= len(items):
                return None
            task = items[head]
            head += 1
            if head == len(items):
                items.clear()
                head = 0
            elif head > 32 and 2 * head > len(items):
                del items[:head]
                head = 0
            self._head = head
            if not task.is_group:
                self.dequeued += 1
            return task
        finally:
            lock.release()

    def pass_through(self, task: Executable) -> bool:
        """On the session's own thread: if nothing waits, count ``task`` enqueued and
        dequeued without holding it, and say so (True).  A chain's every task goes
        through here, and takes no lock: the session's thread alone writes
        ``dequeued`` and ``_passed``, and a task another thread enqueues meanwhile
        simply waits behind this one."""
        if self._list:
            return False
        if not task.is_group:
            self._passed += 1
            self.dequeued += 1
        return True

    @property
    def enqueued(self) -> int:
        return self._enqueued + self._passed

    @enqueued.setter
    def enqueued(self, value: int) -> None:  # a restored checkpoint's count
        self._enqueued = value - self._passed

    def push_front(self, task: Executable) -> None:
        """Put a dequeued task back at the head, uncounted (it never ran)."""
        with self._lock:
            self._put_front(task)
            if not task.is_group:
                self.dequeued -= 1

    def _put_front(self, task: Executable) -> None:
        if self._head:
            self._head -= 1
            self._list[self._head] = task
        else:
            self._list.insert(0, task)

    def restore(self, tasks: list[Executable]) -> None:
        """Put back, at the head and in order, tasks this queue held before (a restored
        checkpoint): they were counted when first enqueued, so nothing is counted."""
        with self._lock:
            for task in reversed(tasks):
                self._put_front(task)

    def drain(self) -> list[Executable]:
        """Remove everything still queued (a cancelled session) without counting it run."""
        with self._lock:
            items = self._list[self._head :]
            self._list.clear()
            self._head = 0
            return items

    def snapshot(self) -> list[str]:
        with self._lock:
            return [task.task_id for task in self._list[self._head :]]

    def get_pending_task_specs(self) -> list[QueuedTask]:
        """graflow's: the tasks still queued, in order (a copy: the queue is unchanged)."""
        with self._lock:
            return [QueuedTask(task) for task in self._list[self._head :]]

    def is_empty(self) -> bool:
        return len(self._list) <= self._head

    def __len__(self) -> int:
        return len(self._list) - self._head

    @property
    def metrics(self) -> dict[str, int]:
        return {
            "enqueued": self.enqueued,
            "dequeued": self.dequeued,
            "retries": self.retries,
            "failures": self.failures,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<InMemoryTaskQueue {self.session_id!r} {self.snapshot()} in={self.enqueued} out={self.dequeued}>"
