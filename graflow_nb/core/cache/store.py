"""Where cache entries live: in this process per workflow name, or on disk.

An ``Entry`` is one call of one task, as the next run needs it to replay the call or
to say why it can't: the task's code key, the channel keys it read with their
tokens (and which task had written each), its result, channel changes and control
calls (pickled, so a replay hands out fresh objects that nothing changed in place
since), and the tokens its own writes were given.

``memory_store(name)`` is the store every ``execute(cache=True)`` of workflows named
``name`` shares in this process: a notebook cell that defines the workflow again (a
new workflow object, its tasks redefined) still finds what the last run kept.  Each
task keeps its newest ``KEPT_PER_TASK`` entries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .keys import CodeKey

KEPT_PER_TASK = 4


@dataclass(frozen=True)
class Read:
    """A channel key a task read: the token of what it saw, and who wrote it (None:
    a root input, or a key no task of that run wrote)."""

    key: str
    token: bytes
    producer: str | None


@dataclass
class Entry:
    """One recorded call of one task (module docstring)."""

    task_id: str
    code: CodeKey
    reads: tuple[Read, ...]
    # (result, ops, controls): pickled, so a replay hands out fresh objects; kept as the
    # tuple itself when nothing in it can be changed in place (None, numbers, strings,
    # bytes, tuples of those; no controls).  Controls name dynamic tasks by index into ``objects``.
    payload: bytes | tuple[Any, ...]
    result_token: bytes | None  # None: the result can't change (payload kept as is); fingerprinted when asked
    write_tokens: dict[str, bytes]
    run_id: str
    objects: tuple[Any, ...] = field(default=(), compare=False)  # dynamic tasks it queued: in memory only

    @property
    def portable(self) -> bool:
        """Whether it can be written to disk: nothing in it is held by reference."""
        return not self.objects


class MemoryStore:
    """Entries by task id, newest first, in this process."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        # Each task's entries as a tuple, replaced (never changed) by ``add``: a reader
        # takes it as it is, without a copy or the lock.
        self._entries: dict[str, tuple[Entry, ...]] = {}
        # Guards _entries' updates: branches on several threads keep entries at once.
        self._lock = threading.Lock()

    def entries(self, task_id: str) -> tuple[Entry, ...]:
        return self._entries.get(task_id, ())

    def add(self, entry: Entry) -> None:
        with self._lock:
            before = self._entries.get(entry.task_id)
            if not before:
                self._entries[entry.task_id] = (entry,)
                return
            kept = [e for e in before if not _same_call(e, entry)]
            self._entries[entry.task_id] = (entry, *kept[:KEPT_PER_TASK - 1])

    def task_ids(self) -> list[str]:
        """The tasks it holds entries of."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(kept) for kept in self._entries.values())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {len(self)} entries>"


def _same_call(a: Entry, b: Entry) -> bool:
    return a.code.digest == b.code.digest and a.reads == b.reads


_MEMORY: dict[str, MemoryStore] = {}
# Guards _MEMORY.
_MEMORY_LOCK = threading.Lock()


def memory_store(workflow_name: str) -> MemoryStore:
    """The in-process store for workflows named ``workflow_name`` (module docstring)."""
    with _MEMORY_LOCK:
        store = _MEMORY.get(workflow_name)
        if store is None:
            store = _MEMORY[workflow_name] = MemoryStore(workflow_name)
        return store
