"""Loops: next_iteration repeats a task; the cycle controller counts its runs."""

from graflow import TaskExecutionContext, task, workflow
from graflow.exceptions import CycleLimitExceededError

with workflow("counter") as wf:

    @task(inject_context=True, max_cycles=5)
    def count_up(ctx: TaskExecutionContext, data=None):
        value = (data or {}).get("value", 0) + 1
        runs = ctx.execution_context.cycle_controller.get_cycle_count("count_up")
        print(f"cycle {ctx.cycle_count}: value={value} runs={runs} can_iterate={ctx.can_iterate()}")
        if value < 3:
            ctx.next_iteration({"value": value})
        else:
            ctx.get_channel().set("final", value)
        return value

    wf.execute("count_up")
    print("max cycles:", 5)

with workflow("runaway") as wf2:

    @task(inject_context=True, max_cycles=2)
    def forever(ctx: TaskExecutionContext, data=None):
        ctx.next_iteration()

    try:
        wf2.execute("forever")
    except CycleLimitExceededError as error:
        print("stopped:", type(error).__name__)
        print("task:", error.task_id, "cycles:", error.cycle_count, "limit:", error.max_cycles)
