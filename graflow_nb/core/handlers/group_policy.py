"""graflow's ``graflow.core.handlers.group_policy``: the policies, defined in ``core.policies``."""

from ..policies import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    StrictGroupPolicy,
    TaskResult,
)

__all__ = [
    "AtLeastNGroupPolicy", "BestEffortGroupPolicy", "CriticalGroupPolicy", "GroupExecutionPolicy",
    "StrictGroupPolicy", "TaskResult",
]
