"""Dynamic tasks: a running task adds work with next_task, or jumps with goto."""

from graflow import TaskExecutionContext, parallel, task, workflow

ran = []

with workflow("dynamic") as wf:

    @task(inject_context=True)
    def plan(ctx: TaskExecutionContext):
        ran.append("plan")

        @task("extra_step")
        def extra_step():
            ran.append("extra_step")
            print("extra step added at run time")
            return "extra"

        ctx.next_task(extra_step)
        return "planned"

    @task
    def after_plan():
        ran.append("after_plan")
        return "after"

    plan >> after_plan
    wf.execute("plan")
    print("ran:", ran)

ran.clear()
with workflow("fan_out_then_sink") as wf2:

    @task
    def left():
        ran.append("left")
        return "L"

    @task
    def right():
        ran.append("right")
        return "R"

    @task
    def sink():
        ran.append("sink")
        print("sink ran after the dynamic group")
        return "S"

    @task(inject_context=True)
    def spawner(ctx: TaskExecutionContext):
        ran.append("spawner")
        ctx.next_task(parallel(left, right) >> sink)
        return "spawned"

    wf2.execute("spawner")
    print("ran:", sorted(ran[1:3]), ran[0], ran[3:])

ran.clear()
with workflow("goto") as wf3:

    @task(inject_context=True)
    def check(ctx: TaskExecutionContext):
        ran.append("check")
        ctx.next_task(handle_error, goto=True)
        return "jumped"

    @task
    def normal_path():
        ran.append("normal_path")

    @task
    def handle_error():
        ran.append("handle_error")
        return "handled"

    check >> normal_path
    print("goto result:", wf3.execute("check"))
    print("ran:", ran)
