"""The engine: pure Python, no notebook or drawing imports (observers live elsewhere)."""

# graflow's module path ``graflow_nb.core.task`` is also this package's ``task`` decorator:
# loading the module first means a later ``import graflow_nb.core.task`` (which binds a
# submodule onto its package only when it loads it) never replaces the decorator here.
from . import task as _task_module  # noqa: F401  (loaded first, on purpose)
from .checkpoint import CheckpointManager, CheckpointMetadata
from .context import ExecutionContext, TaskExecutionContext
from .data.channel import BranchChannel, Channel, MemoryChannel
from .data.isolation import IsolationWarning
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
    MapItemsError,
    MergeConflictError,
    ParallelGroupError,
    RetryLimitExceededError,
    StepLimitExceededError,
    TaskError,
    TaskStoppedError,
)
from .events import Event, EventBus, EventKind, EventLog, ObserverError, ObserverWarning
from .model.decorators import task
from .model.graph import TaskGraph
from .model.policies import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    StrictGroupPolicy,
)
from .model.retry import RetryPolicy
from .model.task import Executable, MapTask, ParallelGroup, SequentialTask, Task, TaskWrapper, chain, parallel
from .runtime.engine import WorkflowEngine
from .runtime.handle import RunHandle, WaitingForInput
from .runtime.loop import BlockedLoopWarning
from .runtime.queue import InMemoryTaskQueue
from .runtime.run import Run, SessionRecord, TaskRun
from .runtime.threadless import threads_available
from .workflow import WorkflowContext, workflow

__all__ = [
    "AbandonedAttemptsLimitError", "AtLeastNGroupPolicy", "BlockedLoopWarning", "CheckpointManager", "CheckpointMetadata", "BestEffortGroupPolicy", "BranchChannel", "Channel", "ConfigError",
    "CriticalGroupPolicy", "CycleLimitExceededError", "DuplicateTaskError", "Event", "EventBus",
    "EventKind", "EventLog", "Executable", "ExecutionContext", "GraflowError", "GraflowRuntimeError",
    "GraflowWorkflowCanceledError", "GraphCompilationError", "GraphMutationError",
    "GroupExecutionPolicy", "InMemoryTaskQueue", "IsolationWarning", "MapItemsError", "MapTask", "MemoryChannel", "MergeConflictError",
    "ObserverError", "ObserverWarning",
    "ParallelGroup", "ParallelGroupError", "RetryLimitExceededError", "RetryPolicy", "Run", "RunHandle",
    "SequentialTask", "SessionRecord", "StepLimitExceededError", "StrictGroupPolicy", "Task",
    "TaskError", "TaskExecutionContext", "TaskStoppedError", "TaskGraph", "TaskRun", "TaskWrapper", "WaitingForInput",
    "WorkflowContext", "WorkflowEngine", "chain", "parallel", "task", "threads_available", "workflow",
]
