"""The engine: pure Python, no notebook or drawing imports (observers live elsewhere)."""

from .channel import BranchChannel, Channel, MemoryChannel
from .checkpoint import CheckpointManager, CheckpointMetadata
from .context import ExecutionContext, TaskExecutionContext
from .decorators import task
from .engine import WorkflowEngine
from .errors import (
    AbandonedAttemptsLimitError,
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
    TaskStoppedError,
)
from .events import Event, EventBus, EventKind, EventLog, ObserverError, ObserverWarning
from .graph import TaskGraph
from .isolation import IsolationWarning
from .policies import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    StrictGroupPolicy,
)
from .queue import InMemoryTaskQueue
from .retry import RetryPolicy
from .run import Run, SessionRecord, TaskRun
from .task import Executable, ParallelGroup, SequentialTask, Task, TaskWrapper, chain, parallel
from .workflow import WorkflowContext, workflow

__all__ = [
    "AbandonedAttemptsLimitError", "AtLeastNGroupPolicy", "CheckpointManager", "CheckpointMetadata", "BestEffortGroupPolicy", "BranchChannel", "Channel", "ConfigError",
    "CriticalGroupPolicy", "CycleLimitExceededError", "DuplicateTaskError", "Event", "EventBus",
    "EventKind", "EventLog", "Executable", "ExecutionContext", "GraflowError", "GraflowRuntimeError",
    "GraflowWorkflowCanceledError", "GraphCompilationError", "GraphMutationError",
    "GroupExecutionPolicy", "InMemoryTaskQueue", "IsolationWarning", "MemoryChannel", "MergeConflictError",
    "ObserverError", "ObserverWarning",
    "ParallelGroup", "ParallelGroupError", "RetryLimitExceededError", "RetryPolicy", "Run",
    "SequentialTask", "SessionRecord", "StepLimitExceededError", "StrictGroupPolicy", "Task",
    "TaskError", "TaskExecutionContext", "TaskStoppedError", "TaskGraph", "TaskRun", "TaskWrapper", "WorkflowContext",
    "WorkflowEngine", "chain", "parallel", "task", "workflow",
]
