"""graflow's ``DirectTaskHandler``: run the task's function here and store its result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..runtime.handler import TaskHandler

if TYPE_CHECKING:
    from ..model.task import Executable
    from ..runtime.session import Session


class DirectTaskHandler(TaskHandler):
    """What a task without a handler gets; a base to wrap (logging, timing) by subclassing."""

    def execute_task(self, task: Executable, context: Session) -> None:
        context.set_result(task.task_id, task.run())  # type: ignore[attr-defined]  # every function task has run()
