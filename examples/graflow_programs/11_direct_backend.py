"""The DIRECT backend: members run one by one in the group's own session."""

from graflow import TaskExecutionContext, task, workflow
from graflow.coordination.coordinator import CoordinationBackend

seen = {}

with workflow("direct") as wf:

    @task(inject_context=True)
    def start(ctx: TaskExecutionContext):
        seen["start"] = ctx.session_id
        return "started"

    @task(inject_context=True)
    def first(ctx: TaskExecutionContext):
        seen["first"] = ctx.session_id
        ctx.get_channel().set("order", ["first"])
        return 1

    @task(inject_context=True)
    def second(ctx: TaskExecutionContext):
        seen["second"] = ctx.session_id
        order = ctx.get_channel().get("order")
        print("second sees first's write:", order)
        return 2

    @task(inject_context=True)
    def finish(ctx: TaskExecutionContext):
        print("first + second =", ctx.get_result("first") + ctx.get_result("second"))
        return "done"

    start >> (first | second).with_execution(backend=CoordinationBackend.DIRECT) >> finish
    print("result:", wf.execute("start"))
    print("one session for all:", seen["start"] == seen["first"] == seen["second"])
