"""Where a free-running debugged session stops on its own (Burr's halt_before / halt_after).

A stepped session stops before every task anyway; breakpoints matter once a session
runs freely (``continue_``).  A hit stops *every* session at its next gate call, as an
all-stop debugger does, so the picture a person looks at is not moving.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Breakpoints:
    """Task ids to halt before / after, and group ids whose merge halts (``"*"``: all)."""

    def __init__(self, before: Iterable[str] = (), after: Iterable[str] = (), merge: Iterable[str] | bool = ()):
        self.before: set[str] = set(before)
        self.after: set[str] = set(after)
        self.merge: set[str] = {"*"} if merge is True else set(merge or ())

    @staticmethod
    def _ids(task: Any) -> tuple[str, ...]:
        base = getattr(task, "base_id", None)
        return (task.task_id,) if base is None else (task.task_id, base)

    def halts_before(self, task: Any) -> bool:
        return any(i in self.before for i in self._ids(task))

    def halts_after(self, task: Any) -> bool:
        return any(i in self.after for i in self._ids(task))

    def halts_at_merge(self, group: Any) -> bool:
        return "*" in self.merge or group.task_id in self.merge

    def clear(self) -> None:
        self.before.clear()
        self.after.clear()
        self.merge.clear()

    def __repr__(self) -> str:
        return f"<Breakpoints before={sorted(self.before)} after={sorted(self.after)} merge={sorted(self.merge)}>"
