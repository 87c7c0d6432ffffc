"""``WatchedChannel``: a channel laid over another that passes every call on to it and
tells a subclass of each change the caller made (``set``, ``delete``, ``append``,
``prepend``, ``atomic_add``, in order, with their arguments).

A run with a cache records what a task read and changed (``core.runtime.recording``);
a run without one journals only what it changed (``core.runtime.journal``).  Both are
this wrapper with another ``_changed``; the recorder also reads a key before a change
that depends on its value (``_before_change``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .channel import Channel
from .isolation import Isolation


class WatchedChannel(Channel):
    """``base`` with every change reported to ``_changed`` after it was made."""

    def __init__(self, base: Channel):
        self.base = base
        self.name = base.name
        self.key_locks = base.key_locks

    def _before_change(self, key: str) -> None:
        """Called before a change that depends on ``key``'s value (all but ``set``)."""

    def _changed(self, op: str, key: str, args: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def get(self, key: str, default: Any = None) -> Any:
        return self.base.get(key, default)

    def peek(self, key: str, default: Any = None) -> Any:
        return self.base.peek(key, default)

    def exists(self, key: str) -> bool:
        return self.base.exists(key)

    def keys(self) -> list[str]:
        return self.base.keys()

    def to_dict(self) -> dict[str, Any]:
        return self.base.to_dict()

    def adopt(self, isolation: Isolation) -> None:
        self.base.adopt(isolation)

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        with self.base.lock(key, timeout):
            yield

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.base.set(key, value, ttl)
        self._changed("set", key, (value, ttl))

    def delete(self, key: str) -> bool:
        self._before_change(key)
        deleted = self.base.delete(key)
        self._changed("delete", key, ())
        return deleted

    def append(self, key: str, value: Any, ttl: int | None = None) -> int:
        self._before_change(key)
        size = self.base.append(key, value, ttl)
        self._changed("append", key, (value, ttl))
        return size

    def prepend(self, key: str, value: Any, ttl: int | None = None) -> int:
        self._before_change(key)
        size = self.base.prepend(key, value, ttl)
        self._changed("prepend", key, (value, ttl))
        return size

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        self._before_change(key)
        total = self.base.atomic_add(key, amount)
        self._changed("atomic_add", key, (amount,))
        return total
