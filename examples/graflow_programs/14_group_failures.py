"""Every member of a group runs; the error lists every failure (graflow's strict and
critical policies), on the threading and the direct backend."""

from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.handlers.group_policy import CriticalGroupPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import ParallelGroupError


def run_group(name, failing, backend, policy=None):
    with workflow(name) as wf:

        def member(member_id):
            @task(id=member_id)
            def body():
                if member_id in failing:
                    raise ValueError(f"{member_id} could not finish")
                return member_id

            return body

        checks = member("check_a") | member("check_b") | member("check_c") | member("check_d")
        options = {"backend": backend}
        if policy is not None:
            options["policy"] = policy
        group = checks.with_execution(**options)

        @task
        def report():
            print("  [report] all checks passed")
            return "ok"

        group >> report
        context = ExecutionContext.create(wf.graph, group.task_id)
        try:
            WorkflowEngine().execute(context)
            print("  result:", context.get_result("report"))
        except ParallelGroupError as error:
            print("  failed:", sorted(task_id for task_id, _message in error.failed_tasks))
            print("  succeeded:", sorted(error.successful_tasks))
            print("  report ran:", context.get_result("report") is not None)


print("strict, threading, three failures")
run_group("strict_threads", {"check_a", "check_b", "check_c"}, CoordinationBackend.THREADING)
print("strict, threading, one failure")
run_group("strict_one", {"check_c"}, CoordinationBackend.THREADING)
print("strict, direct, two failures")
run_group("strict_direct", {"check_b", "check_d"}, CoordinationBackend.DIRECT)
print("critical check_a, check_b fails")
run_group("critical_ok", {"check_b"}, CoordinationBackend.THREADING, CriticalGroupPolicy(["check_a"]))
print("critical check_a and check_d, both fail with check_b")
run_group("critical_fail", {"check_a", "check_b", "check_d"}, CoordinationBackend.THREADING,
          CriticalGroupPolicy(["check_a", "check_d"]))
