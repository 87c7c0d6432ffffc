"""Fan-out and fan-in: a group's successor runs once, after every member."""

from graflow import TaskExecutionContext, task, workflow

runs = []

with workflow("diamond") as wf:

    @task
    def fetch():
        runs.append("fetch")
        return {"rows": 3}

    @task(inject_context=True)
    def double(ctx: TaskExecutionContext, fetch):
        runs.append("double")
        ctx.get_channel().set("doubled", fetch["rows"] * 2)
        return fetch["rows"] * 2

    @task(inject_context=True)
    def increment(ctx: TaskExecutionContext, fetch):
        runs.append("increment")
        ctx.get_channel().set("incremented", fetch["rows"] + 1)
        return fetch["rows"] + 1

    @task(inject_context=True)
    def store(ctx: TaskExecutionContext):
        runs.append("store")
        channel = ctx.get_channel()
        total = channel.get("doubled") + channel.get("incremented")
        print("store sees", channel.get("doubled"), channel.get("incremented"), "->", total)
        return total

    fetch >> (double | increment) >> store
    print("result:", wf.execute("fetch"))
    print("store ran", runs.count("store"), "time(s); members:", sorted(runs[1:3]))
