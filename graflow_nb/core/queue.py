"""The per-session FIFO of tasks waiting to run, with the counters the renders show."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .task import Executable


class _Fifo:
    """The deque methods a queue uses, on a list with a head index.

    A ``collections.deque`` allocates a 64-slot block (about 600 bytes) for its first
    item, and every branch session's queue holds one: a 1000-branch fan-out spent about
    0.7 MiB on them, and kept it in ``wf.last_run`` after the run.  A list grows with
    what it holds; the head index keeps ``popleft`` O(1), and the spent head is cut off
    once it is more than half the list.
    """

    __slots__ = ("_head", "_list")

    def __init__(self) -> None:
        self._list: list[Executable] = []
        self._head = 0

    def append(self, task: Executable) -> None:
        self._list.append(task)

    def popleft(self) -> Executable:
        items, head = self._list, self._head
        if head >= len(items):
            raise IndexError("pop from an empty queue")
        task = items[head]
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head > 32 and 2 * head > len(items):
            del items[:head]
            head = 0
        self._head = head
        return task

    def appendleft(self, task: Executable) -> None:
        if self._head:
            self._head -= 1
            self._list[self._head] = task
        else:
            self._list.insert(0, task)

    def extendleft(self, tasks: Iterable[Executable]) -> None:
        """Each of ``tasks`` in turn at the head (so they end up reversed), as deque's."""
        for task in tasks:
            self.appendleft(task)

    def clear(self) -> None:
        self._list.clear()
        self._head = 0

    def __iter__(self) -> Iterator[Executable]:
        return iter(self._list[self._head :])

    def __len__(self) -> int:
        return len(self._list) - self._head

    def __bool__(self) -> bool:
        return len(self._list) > self._head


class InMemoryTaskQueue:
    """One session's queue.  Its counters survive the session, so a closed branch
    still reports how many tasks went through it.

    A parallel group waits in the queue like any node (a debugger shows it there),
    but the counters count tasks only: a group is a fork point, and its work is
    counted in the branch sessions it forks.
    """

    def __init__(self, session_id: str = ""):
        self.session_id = session_id
        self._items = _Fifo()
        self.enqueued = 0
        self.dequeued = 0
        self.retries = 0
        self.failures = 0
        # Guards _items and the counters: the session's engine thread dequeues, while a
        # task's own threads (or a debugger reading the queue) may enqueue or snapshot.
        self._lock = threading.Lock()

    def enqueue(self, task: Executable) -> None:
        with self._lock:
            self._items.append(task)
            if not task.is_group:
                self.enqueued += 1

    def dequeue(self) -> Executable | None:
        with self._lock:
            if not self._items:
                return None
            task = self._items.popleft()
            if not task.is_group:
                self.dequeued += 1
            return task

    def push_front(self, task: Executable) -> None:
        """Put a dequeued task back at the head, uncounted (it never ran)."""
        with self._lock:
            self._items.appendleft(task)
            if not task.is_group:
                self.dequeued -= 1

    def restore(self, tasks: list[Executable]) -> None:
        """Put back, at the head and in order, tasks this queue held before (a restored
        checkpoint): they were counted when first enqueued, so nothing is counted."""
        with self._lock:
            self._items.extendleft(reversed(tasks))

    def drain(self) -> list[Executable]:
        """Remove everything still queued (a cancelled session) without counting it run."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def snapshot(self) -> list[str]:
        with self._lock:
            return [task.task_id for task in self._items]

    def is_empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

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
