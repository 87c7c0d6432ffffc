"""A group policy of your own, written the way graflow documents it: subclass
GroupExecutionPolicy, validate and partition the results, raise ParallelGroupError."""

from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy, GroupExecutionPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import ParallelGroupError


class QuorumWithPrimary(GroupExecutionPolicy):
    """The primary must succeed, and at most `budget` of the others may fail."""

    def __init__(self, primary, budget):
        self.primary = primary
        self.budget = budget

    def get_name(self):
        return "quorum_with_primary"

    def on_group_finished(self, group_id, tasks, results, context):
        self._validate_group_results(group_id, tasks, results)
        members = sorted(task.task_id for task in tasks)
        print("  policy sees members:", members)
        successful, failed = self._partition_group_results(results)
        if not results[self.primary].success:
            raise ParallelGroupError(
                "primary failed", group_id=group_id, failed_tasks=[(self.primary, "primary")],
                successful_tasks=successful,
            )
        if len(failed) > self.budget:
            raise ParallelGroupError(
                f"{len(failed)} failures, budget {self.budget}", group_id=group_id, failed_tasks=failed,
                successful_tasks=successful,
            )


def deploy(name, failing, policy):
    with workflow(name) as wf:

        def step(step_id):
            @task(id=step_id)
            def body():
                if step_id in failing:
                    raise RuntimeError(f"{step_id} is down")
                return step_id

            return body

        group = (step("database") | step("cache") | step("search") | step("mailer")).with_execution(
            backend=CoordinationBackend.THREADING, policy=policy
        )

        @task
        def announce():
            print("  [announce] deployed")

        group >> announce
        context = ExecutionContext.create(wf.graph, group.task_id)
        try:
            WorkflowEngine().execute(context)
        except ParallelGroupError as error:
            print("  refused:", str(error).splitlines()[0] if isinstance(policy, QuorumWithPrimary) else "at least n")
            print("  failed:", sorted(task_id for task_id, _ in error.failed_tasks))
            print("  succeeded:", sorted(error.successful_tasks))


print("custom policy, one optional failure")
deploy("custom_ok", {"mailer"}, QuorumWithPrimary("database", budget=1))
print("custom policy, two optional failures")
deploy("custom_budget", {"cache", "mailer"}, QuorumWithPrimary("database", budget=1))
print("custom policy, primary fails")
deploy("custom_primary", {"database"}, QuorumWithPrimary("database", budget=1))
print("at least 3 of 4, two fail")
deploy("at_least", {"search", "cache"}, AtLeastNGroupPolicy(3))
print("at least 2 of 4, two fail")
deploy("at_least_ok", {"search", "cache"}, AtLeastNGroupPolicy(2))
print("policy name:", QuorumWithPrimary("database", 0).get_name(), AtLeastNGroupPolicy(2).get_name())
