"""graflow's ``TaskHandler``: what runs a task declared with ``@task(handler="name")``.

Register one with ``WorkflowEngine().register_handler("name", handler)`` and run with
that engine (``engine.execute(ExecutionContext.create(graph, start))``); it then runs
those tasks in every session of the run, branches included.  As in graflow the handler
must call ``context.set_result(task.task_id, value)``; storing an exception there fails
the task with it.  Inside ``execute_task``, ``task.run()`` runs the task's own function
for this attempt (channel parameters resolved, the context injected if asked for).
A task naming a handler that is not registered fails with a ``ConfigError`` that names
both (graflow's default ``"direct"`` needs no registration).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ..model.policies import TaskResult

if TYPE_CHECKING:
    from ..model.task import Executable
    from .session import Session


__all__ = ["TaskHandler", "TaskResult"]  # graflow keeps TaskResult here; it is defined in core.policies


class TaskHandler(ABC):
    """Base class for custom task handlers (graflow's ``graflow.core.handler.TaskHandler``)."""

    @abstractmethod
    def execute_task(self, task: Executable, context: Session) -> None:
        """Run ``task`` and store its result with ``context.set_result(task.task_id, value)``."""
