"""graflow_nb: graflow's authoring API on an engine that isolates parallel branches,
with renders, metrics and notebook tooling built on its event stream.

``from graflow_nb import task, workflow`` is all a notebook needs; code written for
``graflow`` runs after renaming the import.
"""

from .core import (
    ExecutionContext,
    ParallelGroup,
    RetryPolicy,
    TaskExecutionContext,
    TaskGraph,
    TaskWrapper,
    WorkflowEngine,
    chain,
    parallel,
    task,
    workflow,
)
from .core.errors import (
    CycleLimitExceededError,
    DuplicateTaskError,
    GraflowError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    MergeConflictError,
    ParallelGroupError,
    RetryLimitExceededError,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    """``draw_graph`` / ``draw_sessions`` load the graphviz layer only when first used."""
    if name in ("draw_graph", "draw_sessions"):
        from . import observe

        return getattr(observe, name)
    raise AttributeError(f"module 'graflow_nb' has no attribute {name!r}")


__all__ = [
    "task", "workflow", "TaskExecutionContext", "RetryPolicy", "chain", "parallel",
    "TaskWrapper", "ParallelGroup", "TaskGraph", "ExecutionContext", "WorkflowEngine",
    "GraflowError", "GraflowRuntimeError", "ParallelGroupError", "CycleLimitExceededError",
    "RetryLimitExceededError", "GraflowWorkflowCanceledError", "GraphCompilationError",
    "DuplicateTaskError", "MergeConflictError", "draw_graph", "draw_sessions",
]
