"""graflow's ``graflow.exceptions`` module, under our name."""

from .core.errors import (
    ConfigError,
    CycleLimitExceededError,
    DuplicateTaskError,
    GraflowError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    GraphMutationError,
    MergeConflictError,
    ParallelGroupError,
    RetryLimitExceededError,
    StepLimitExceededError,
    TaskError,
    as_runtime_error,
)

__all__ = [
    "ConfigError", "CycleLimitExceededError", "DuplicateTaskError", "GraflowError",
    "GraflowRuntimeError", "GraflowWorkflowCanceledError", "GraphCompilationError",
    "GraphMutationError", "MergeConflictError", "ParallelGroupError", "RetryLimitExceededError",
    "StepLimitExceededError", "TaskError", "as_runtime_error",
]
