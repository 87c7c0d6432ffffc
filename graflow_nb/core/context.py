"""graflow's ``ExecutionContext``: a run's root session that can run itself.

``ExecutionContext.create(graph, start)`` then ``ctx.execute()`` (or
``WorkflowEngine().execute(ctx)``) is graflow's low-level way to run a graph.  The
session's state and rules live in ``core.session``, below the engine; this class only
adds an engine to run with when none was handed to the run, which is why it sits above
the engine.  Branches forked from it are of this class too, so one session tree holds
one class, and checkpoints and pickles name ``core.context.ExecutionContext`` as before.
"""

from __future__ import annotations

from typing import Any

from .model.graph import TaskGraph
from .runtime.engine import WorkflowEngine
from .runtime.session import DEFAULT_MAX_WORKERS, GRAFLOW_MAX_CYCLES, RESULT_SUFFIX, Session, TaskExecutionContext

__all__ = [
    "DEFAULT_MAX_WORKERS", "GRAFLOW_MAX_CYCLES", "RESULT_SUFFIX", "ExecutionContext", "TaskExecutionContext",
    "direct_call_context",
]


class ExecutionContext(Session):
    """One session of a run: its queue, its channel and its record; a branch session's
    context is a child of its parent's (graflow's name, for ``WorkflowEngine.execute``).
    Started by hand, ``execute()`` drives it with the run's engine, or with a new
    ``WorkflowEngine`` if the run has none yet."""

    def execute(self) -> Any:
        driver = self.run.driver
        return (driver if driver is not None else WorkflowEngine()).execute(self)


def direct_call_context(task_id: str) -> TaskExecutionContext:
    """What a task called directly (outside a run) with ``inject_context=True`` gets:
    a context over a throwaway one-session run."""
    return TaskExecutionContext(task_id, ExecutionContext.create(TaskGraph(), session_id="direct_call"))
