"""ctx.last_checkpoint_path names the checkpoint a task asked for; a fresh
CheckpointManager.resume_from_checkpoint(path) continues from the file."""

import os
import tempfile

from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

with tempfile.TemporaryDirectory() as folder:
    target = os.path.join(folder, "orders_checkpoint")

    with workflow("orders") as wf:

        @task
        def collect():
            print("collect")
            return ["o1", "o2"]

        @task(inject_context=True)
        def price(task_ctx: TaskExecutionContext):
            print("price")
            task_ctx.checkpoint(path=target, metadata={"stage": "priced"})
            return {"o1": 10, "o2": 32}

        @task(inject_context=True)
        def invoice(task_ctx: TaskExecutionContext):
            prices = task_ctx.get_result("price")
            print("invoice total", sum(prices.values()))
            return sum(prices.values())

        collect >> price >> invoice
        result, context = wf.execute("collect", ret_context=True)
        print("result:", result)

    path = context.last_checkpoint_path
    print("checkpoint file:", os.path.relpath(path, folder))
    print("files:", [os.path.exists(path.replace(".pkl", ext)) for ext in (".pkl", ".state.json", ".meta.json")])
    print("stage:", context.checkpoint_metadata["user_metadata"]["stage"])

    restored, metadata = CheckpointManager.resume_from_checkpoint(path)
    print("restored steps:", metadata.steps, "completed:", list(restored.completed_tasks))
    print("restored path is the same:", restored.last_checkpoint_path == path)
    print("resumed result:", WorkflowEngine().execute(restored))
