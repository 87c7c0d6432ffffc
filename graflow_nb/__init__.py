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


_LAZY = {
    "draw_graph": "observe",
    "draw_sessions": "observe",
    "load_pipeline": "pipeline",
    "to_pipeline": "pipeline",
}


def __getattr__(name: str):
    """Renders and pipeline files load their libraries (graphviz, yaml) on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'graflow_nb' has no attribute {name!r}")


__all__ = [
    "task", "workflow", "TaskExecutionContext", "RetryPolicy", "chain", "parallel",
    "TaskWrapper", "ParallelGroup", "TaskGraph", "ExecutionContext", "WorkflowEngine",
    "GraflowError", "GraflowRuntimeError", "ParallelGroupError", "CycleLimitExceededError",
    "RetryLimitExceededError", "GraflowWorkflowCanceledError", "GraphCompilationError",
    "DuplicateTaskError", "MergeConflictError", "draw_graph", "draw_sessions", "load_pipeline", "to_pipeline",
]
