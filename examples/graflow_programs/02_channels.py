"""Channels: tasks share data by key; results are stored as "<task>.__result__"."""

from graflow import TaskExecutionContext, task, workflow

with workflow("channels") as wf:

    @task(inject_context=True)
    def produce(ctx: TaskExecutionContext):
        channel = ctx.get_channel()
        channel.set("user", {"name": "Ada", "visits": 1})
        channel.set("greeting", "hi")
        print("keys after produce:", sorted(k for k in channel.keys() if not k.endswith("__result__")))
        return "produced"

    @task(inject_context=True)
    def consume(ctx: TaskExecutionContext, greeting: str, region: str = "nowhere"):
        user = ctx.get_channel().get("user")
        print(f"{greeting}, {user['name']} from {region}")
        print("produce returned:", ctx.get_result("produce"))
        print("missing key default:", ctx.get_channel().get("absent", "n/a"))
        return user["visits"] + 1

    @task
    def report(consume):
        print("visits now:", consume)
        return consume

    produce >> consume >> report
    result, ctx = wf.execute("produce", ret_context=True, initial_channel={"region": "Paris"})
    print("result:", result)
    print("consume.__result__ =", ctx.get_channel().get("consume.__result__"))
