"""The Driver protocol: what a group runner asks of whatever drains sessions.

The coordinator, the direct runner and the ready scheduler run a group's members by
handing sessions back to the engine that called them.  They type against this
protocol, so none of them imports the engine (which imports them): the engine is one
``Driver``; a test or a future sequential runner can be another.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..session import Session


class Driver(Protocol):
    def execute(self, context: Session, start_task_id: str | None = None) -> Any:
        """Drain ``context``'s session to its end (a branch: in place, on this thread)."""

    def run_queue(self, ctx: Session) -> Any:
        """Drain ``ctx``'s queue on this thread, task by task (a direct group's members)."""

    def run_task(
        self, ctx: Session, task: Any, order_key: tuple[Any, ...], thread: str | None = None, entry: Any = None,
    ) -> Any:
        """Run ``task``'s attempts in ``ctx`` until one succeeds or it may not retry."""

    def compensate(self, branch: Session, member: Any, compensation: Any) -> BaseException | None:
        """Run a member's compensation once in its branch; the error it raised, or None."""
