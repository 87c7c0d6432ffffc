"""Group policies: what a parallel group does when members fail."""

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy, CriticalGroupPolicy
from graflow.exceptions import ParallelGroupError


def build(name, policy, backend):
    with workflow(name) as wf:

        @task
        def ok_1():
            return "ok"

        @task
        def ok_2():
            return "ok"

        @task
        def fails():
            raise RuntimeError("boom")

        @task
        def after():
            print(f"  {name}: successor ran")
            return "after"

        (ok_1 | ok_2 | fails).with_execution(backend=backend, policy=policy) >> after
        return wf


cases = [
    ("strict", "strict", CoordinationBackend.THREADING),
    ("best_effort", "best_effort", CoordinationBackend.THREADING),
    ("at_least_2", AtLeastNGroupPolicy(min_success=2), CoordinationBackend.DIRECT),
    ("at_least_3", AtLeastNGroupPolicy(min_success=3), CoordinationBackend.DIRECT),
    ("critical_ok", CriticalGroupPolicy(critical_task_ids=["ok_1"]), "threading"),
    ("critical_fails", CriticalGroupPolicy(critical_task_ids=["fails"]), "direct"),
]
for name, policy, backend in cases:
    wf = build(name, policy, backend)
    try:
        wf.execute("ParallelGroup_1")
        print(f"{name}: group succeeded")
    except ParallelGroupError as error:
        print(f"{name}: ParallelGroupError, failed: {[task_id for task_id, _ in error.failed_tasks]}")
