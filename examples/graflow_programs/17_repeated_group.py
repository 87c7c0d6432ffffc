"""The same group written twice, as graflow's documentation writes it."""

from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.workflow import workflow

with workflow("batches") as wf:

    @task(inject_context=True)
    def load(context: TaskExecutionContext):
        context.get_channel().set("items", [1, 2, 3, 4, 5, 6])
        print("load")

    def batch(number):
        @task(id=f"batch_{number}", inject_context=True)
        def body(context: TaskExecutionContext):
            items = context.get_channel().get("items")
            return sum(items[number - 1 :: 3])

        return body

    batch_1, batch_2, batch_3 = batch(1), batch(2), batch(3)

    @task(inject_context=True)
    def aggregate(context: TaskExecutionContext):
        return [context.get_result(f"batch_{n}") for n in (1, 2, 3)]

    load >> (batch_1 | batch_2 | batch_3)
    (batch_1 | batch_2 | batch_3) >> aggregate

    print("result:", wf.execute("load"))
