"""Channels: the key/value store tasks share, and the per-branch overlay over it.

A branch never copies its parent's channel.  ``BranchChannel`` reads through to the
parent (which is parked at the group barrier, so what it reads is the state at the fork)
and records only what the branch itself does:

    _local:   {key: value}      the branch's current view of every key it touched
    _viewed:  {key}             keys in _local the branch did not replace with ``set``
                                (isolated reads, additive changes): every other key
                                in _local is an assignment, so a branch that only sets
                                (its task's result, say) keeps no set of its own
    _ops:     {key: [(op, arg)]} additive changes (append/prepend/atomic_add) on a key
                                the branch never replaced, so siblings' changes add up
    _deleted: {key}             keys the branch removed
    _origin:  {key: value}      the parent's object behind each key the branch read

Reading is never a write.  A value read from the parent is isolated by its kind
(``isolation.py``: shared if immutable, a copy-on-write pandas copy, a read-only numpy
view, containers copied item by item, other objects deep-copied), so an in-place edit
stays in the branch; at fan-in a read key counts as changed only if that view no longer
is the origin, judged without ``==``.  A key nobody changed keeps the parent's very
object.  ``changes()`` is what a merge strategy sees: the branch's changes since the
fork, in the order the branch first touched each key.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from .isolation import Isolation, IsolationWarning, is_atomic, same_value


class _Missing:
    """The "no value" marker; it pickles as itself, so a branch state shipped to a
    Dask worker and back still tells a missing key from a stored one."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class KeyLocks:
    """Named locks shared by every channel of one run (``channel.lock(key)``)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        # Guards creation of entries in _locks.
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self)


class Channel(ABC):
    """graflow's channel API; subclasses implement the storage."""

    name: str
    key_locks: KeyLocks

    @abstractmethod
    def get(self, key: str, default: Any = None) -> Any:
        ...

    @abstractmethod
    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        ...

    @abstractmethod
    def delete(self, key: str) -> bool:
        ...

    def exists(self, key: str) -> bool:
        return self.get(key, MISSING) is not MISSING

    def peek(self, key: str, default: Any = None) -> Any:
        """The stored object itself, not isolated: for channels layered over this one."""
        return self.get(key, default)

    @abstractmethod
    def adopt(self, isolation: Isolation) -> None:
        """A merged branch's values now live here: take over what it froze."""

    @abstractmethod
    def keys(self) -> list[str]:
        ...

    def clear(self) -> None:
        for key in self.keys():
            self.delete(key)

    @abstractmethod
    def append(self, key: str, value: Any, ttl: int | None = None) -> int:
        ...

    @abstractmethod
    def prepend(self, key: str, value: Any, ttl: int | None = None) -> int:
        ...

    @abstractmethod
    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        ...

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        lock = self.key_locks.get(key)
        if not lock.acquire(timeout=timeout):
            raise TimeoutError(f"could not lock channel key {key!r} within {timeout} s")
        try:
            yield
        finally:
            lock.release()

    def to_dict(self) -> dict[str, Any]:
        return {key: self.get(key) for key in self.keys()}

    def __contains__(self, key: str) -> bool:
        return self.exists(key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} keys={self.keys()!r}>"


class MemoryChannel(Channel):
    """The root session's channel: a dict that stores references, as graflow's does."""

    def __init__(self, name: str = "", data: dict[str, Any] | None = None):
        self.name = name
        self._data: dict[str, Any] = dict(data or {})
        self._expiry: dict[str, float] = {}
        # Serialises read-modify-write operations (append, prepend, atomic_add).
        self._rmw_lock = threading.Lock()
        self.key_locks = KeyLocks()
        # Keys whose values branches had to share by reference, warned about once per run.
        self.shared_keys: set[str] = set()

    def _expired(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and time.monotonic() >= deadline:
            self._data.pop(key, None)
            self._expiry.pop(key, None)
            return True
        return False

    def get(self, key: str, default: Any = None) -> Any:
        if self._expiry and self._expired(key):
            return default
        return self._data.get(key, default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self._data[key] = value
        if ttl is not None:
            self._expiry[key] = time.monotonic() + ttl
        elif self._expiry:
            self._expiry.pop(key, None)

    def delete(self, key: str) -> bool:
        self._expiry.pop(key, None)
        return self._data.pop(key, MISSING) is not MISSING

    def adopt(self, isolation: Isolation) -> None:
        # The root: nothing above can see these objects any more, so they become ordinary.
        isolation.thaw()

    def keys(self) -> list[str]:
        return [k for k in list(self._data) if not (self._expiry and self._expired(k))]

    def _list_op(self, key: str, value: Any, at_front: bool, ttl: int | None) -> int:
        with self._rmw_lock:
            current = self.get(key, MISSING)
            if current is MISSING:
                current = []
            elif not isinstance(current, list):
                raise TypeError(f"channel key {key!r} holds {type(current).__name__}, not a list")
            current = [value, *current] if at_front else [*current, value]
            self.set(key, current, ttl)
            return len(current)

    def append(self, key: str, value: Any, ttl: int | None = None) -> int:
        return self._list_op(key, value, False, ttl)

    def prepend(self, key: str, value: Any, ttl: int | None = None) -> int:
        return self._list_op(key, value, True, ttl)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        with self._rmw_lock:
            value = self.get(key, 0) + amount
            self._data[key] = value
            return value

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "data": self._data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["name"], state["data"])


@dataclass(frozen=True, slots=True)
class Change:
    """One key's change in a branch since the fork: ``kind`` is set, delete or ops."""

    kind: str
    value: Any = None
    ops: tuple[tuple[str, Any], ...] = ()


def _apply_op(current: Any, op: str, arg: Any) -> Any:
    if op == "add":
        return (0 if current is MISSING else current) + arg
    items = [] if current is MISSING else list(current)
    return [*items, arg] if op == "append" else [arg, *items]


def replay(base: Any, ops: tuple[tuple[str, Any], ...]) -> Any:
    value = base
    for op, arg in ops:
        value = _apply_op(value, op, arg)
    return value


class BranchChannel(Channel):
    """A branch's view: the parent's values plus the branch's own recorded changes."""

    def __init__(self, base: Channel, name: str = ""):
        self.name = name
        self.base = base
        self.key_locks = base.key_locks
        self._local: dict[str, Any] = {}

    # Most branches only ever store their task's result, so the tables below start as
    # one shared empty mapping and a branch gets its own on its first write (_mut).
    _viewed: frozenset[str] | set[str] = frozenset()
    _ops: Mapping[str, list[tuple[str, Any]]] = _NOTHING
    _isolation: Isolation | None = None  # made on the first read of a mutable value
    _deleted: Mapping[str, None] = _NOTHING
    # What the branch first saw of a key it isolated or changed additively: changes are
    # judged against this, not against the parent's value now, which may have moved on
    # (a task under a timeout, or ready-node scheduling, commits while others run).
    _origin: Mapping[str, Any] = _NOTHING
    _op_base: Mapping[str, Any] = _NOTHING

    def _mut(self, name: str) -> dict[str, Any]:
        table = self.__dict__.get(name)
        if table is None:
            table = {}
            setattr(self, name, table)
        return table

    def _view(self, key: str) -> None:
        """``key`` is in _local without an assignment (a read view, an additive change)."""
        viewed = self._viewed
        if not isinstance(viewed, set):
            viewed = self._viewed = set()
        viewed.add(key)

    def _assigned(self, key: str) -> bool:
        return key in self._local and key not in self._viewed

    def get(self, key: str, default: Any = None) -> Any:
        value = self.peek(key, MISSING)
        if value is MISSING:
            return default
        if key not in self._local and not is_atomic(value):
            self._mut("_origin")[key] = value
            if self._isolation is None:
                self._isolation = Isolation()
            value, shared = self._isolation.isolate(value)
            if shared is not None:
                self._warn_shared(key, shared)
            self._local[key] = value
            self._view(key)
        return value

    @property
    def shared_keys(self) -> set[str]:
        """The run's keys already warned about (kept by the root channel)."""
        return cast("MemoryChannel | BranchChannel", self.base).shared_keys

    def _warn_shared(self, key: str, why: str) -> None:
        """Once per run and key, pointing at the code that read it.  A fresh registry, so
        Python's "default" filter (once per code location) can't hide the next run's."""
        if key in self.shared_keys:
            return
        self.shared_keys.add(key)
        reader = sys._getframe(2)
        while isinstance(reader.f_locals.get("self"), Channel) and reader.f_back is not None:
            reader = reader.f_back  # a channel over this one (a run's journal, a cache's recording) passed it on
        warnings.warn_explicit(
            f"channel key {key!r} (read in session {self.name}): {why}, so parallel branches share it "
            f"by reference and an in-place change in one branch reaches its parent and siblings, even if "
            f"that branch fails. Keep such objects out of the channel, or set a fresh one in each branch.",
            IsolationWarning,
            reader.f_code.co_filename,
            reader.f_lineno,
            module=reader.f_globals.get("__name__"),
            registry={},
            module_globals=reader.f_globals,
        )

    def peek(self, key: str, default: Any = None) -> Any:
        local = self._local.get(key, MISSING)
        if local is not MISSING:
            return local
        if key in self._deleted:
            return default
        return self.base.peek(key, default)

    def adopt(self, isolation: Isolation) -> None:
        # Still inside a branch: what a child froze stays frozen until this branch merges.
        if self._isolation is None:
            self._isolation = Isolation()
        self._isolation.absorb(isolation)

    @property
    def isolation(self) -> Isolation | None:
        """What this branch was handed and froze (None if it read nothing mutable)."""
        return self._isolation

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self._local[key] = value
        if key in self._viewed:
            self._viewed.discard(key)  # type: ignore[union-attr]  # a key in it: it is a set
        if key in self._ops:
            del self._mut("_ops")[key]
        if key in self._deleted:
            del self._mut("_deleted")[key]

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        self._local.pop(key, None)
        if key in self._viewed:
            self._viewed.discard(key)  # type: ignore[union-attr]  # a key in it: it is a set
        if key in self._ops:
            del self._mut("_ops")[key]
        if existed:
            self._mut("_deleted")[key] = None
        return existed

    def exists(self, key: str) -> bool:
        if key in self._local:
            return True
        return key not in self._deleted and self.base.exists(key)

    def keys(self) -> list[str]:
        seen = [k for k in self.base.keys() if k not in self._deleted]
        known = set(seen)
        return seen + [k for k in self._local if k not in known]

    def _record(self, key: str, op: str, arg: Any) -> Any:
        # Serialises read-modify-write operations if a task shares its channel with
        # threads of its own; the run's key locks are shared, so take this channel's own.
        with self.key_locks.get(f"__rmw__{self.name}"):
            current = self.get(key, MISSING)
            if op != "add" and current is not MISSING and not isinstance(current, list):
                raise TypeError(f"channel key {key!r} holds {type(current).__name__}, not a list")
            value = _apply_op(current, op, arg)
            assigned = self._assigned(key)
            self._local[key] = value
            if key in self._deleted:
                del self._mut("_deleted")[key]
            if not assigned:
                self._view(key)
                if key not in self._ops:
                    self._mut("_op_base")[key] = current
                self._mut("_ops").setdefault(key, []).append((op, arg))
            return value

    def append(self, key: str, value: Any, ttl: int | None = None) -> int:
        return len(self._record(key, "append", value))

    def prepend(self, key: str, value: Any, ttl: int | None = None) -> int:
        return len(self._record(key, "prepend", value))

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        return self._record(key, "add", amount)

    def assignments(self) -> Iterable[tuple[str, Any]] | None:
        """``(key, value)`` of every change, in first-touch order, when the branch only
        ever set keys (each one is then a ``Change("set", value)`` of ``changes()``,
        with no Change made); None when it also read, deleted or added to keys."""
        if self._viewed or self._deleted:
            return None
        return self._local.items()

    def changes(self) -> dict[str, Change]:
        """What this branch changed since the fork, keyed in first-touch order."""
        result: dict[str, Change] = {}
        for key in self._deleted:
            result[key] = Change("delete")
        viewed = self._viewed
        for key, value in self._local.items():
            if key not in viewed:
                result[key] = Change("set", value)
                continue
            ops = self._ops.get(key)
            if ops:
                ops_t = tuple(ops)
                expected = replay(self._op_base[key], ops_t)
                result[key] = Change("ops", value, ops_t) if same_value(value, expected) else Change("set", value)
            elif key in self._origin:
                assert self._isolation is not None  # only an isolating read records an origin
                if not self._isolation.unchanged(self._origin[key], value):
                    result[key] = Change("set", value)
            elif value is not self.base.peek(key, MISSING):
                result[key] = Change("set", value)  # left by a delete then an op, say
        return result

    def load_changes(self, changes: Mapping[str, Change]) -> None:
        """Take on changes this branch made elsewhere (its session ran on a Dask
        worker, over a copy of the same fork), so ``changes()`` reports them as if made
        here and the usual merge folds them in."""
        for key, change in changes.items():
            if change.kind == "delete":
                self._local.pop(key, None)
                if key in self._viewed:
                    self._viewed.discard(key)  # type: ignore[union-attr]  # a key in it: it is a set
                self._mut("_deleted")[key] = None
            elif change.kind == "set":
                self.set(key, change.value)
            else:
                self.load_ops(key, change.value, self.base.peek(key, MISSING), change.ops)

    def load_ops(self, key: str, value: Any, op_base: Any, ops: Any) -> None:
        """Take on additive changes ``ops`` made elsewhere to ``key`` over ``op_base``,
        leaving ``value`` (a Dask worker's branch, a restored checkpoint)."""
        self._local[key] = value
        self._view(key)
        self._mut("_op_base")[key] = op_base
        self._mut("_ops")[key] = list(ops)

    def fork_value(self, key: str) -> Any:
        """The parent's value of ``key`` as the branch saw it at the fork (or MISSING)."""
        return self.base.peek(key, MISSING)
