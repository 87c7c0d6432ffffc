"""graflow's ``CycleController``: how often each task has run, read from a session.

The counts live on the session (``Session.cycle_counts``, one per task id,
iterations counted for the task they repeat); this is graflow's way of reading them,
as agent loops do: ``ctx.execution_context.cycle_controller.get_cycle_count("loop")``.
A branch session counts its own runs, so inside a parallel member the count is that
member's, not its siblings'.
"""

from __future__ import annotations

from typing import Any, Protocol


class CountingSession(Protocol):
    """What the controller reads of a session (``core.session.Session``, which makes
    controllers and so cannot be imported here)."""

    cycle_counts: dict[str, int]
    default_max_cycles: int | None

    def max_cycles_for(self, task: Any) -> int: ...
    def lookup(self, task_id: str) -> Any: ...


class CycleController:
    """A view of one session's cycle counts and limits (nothing is copied)."""

    def __init__(self, context: CountingSession):
        self._context = context

    @property
    def cycle_counts(self) -> dict[str, int]:
        return dict(self._context.cycle_counts)

    @property
    def default_max_cycles(self) -> int | None:
        return self._context.default_max_cycles

    def get_cycle_count(self, task_id: str) -> int:
        """How many times ``task_id`` has started in this session (0 if never)."""
        return self._context.cycle_counts.get(task_id, 0)

    def get_max_cycles_for_node(self, task_id: str) -> int:
        """The limit ``next_iteration`` applies to ``task_id``."""
        return self._context.max_cycles_for(self._context.lookup(task_id))

    def can_execute(self, task_id: str, iteration: int | None = None) -> bool:
        """True while ``task_id`` (or the given iteration count) is under its limit."""
        count = self.get_cycle_count(task_id) if iteration is None else iteration
        return count < self.get_max_cycles_for_node(task_id)
