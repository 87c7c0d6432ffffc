"""graflow's ``graflow.core.handlers.group_policy``: the policies, defined in ``core.policies``."""

from ..model.policies import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    StrictGroupPolicy,
    TaskResult,
    resolve_policy,
)

resolve_group_policy = resolve_policy  # graflow's name: a name, graflow's dict form or an instance

__all__ = [
    "AtLeastNGroupPolicy", "BestEffortGroupPolicy", "CriticalGroupPolicy", "GroupExecutionPolicy",
    "StrictGroupPolicy", "TaskResult", "resolve_group_policy",
]
