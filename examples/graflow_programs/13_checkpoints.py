"""Checkpoints: save after a task, fail later, fix, and resume from the save."""

import os
import shutil
import tempfile

from graflow import TaskExecutionContext, task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.engine import WorkflowEngine

folder = tempfile.mkdtemp()
target = os.path.join(folder, "after_extract.pkl")
calls = []
os.environ["TRANSFORM_BROKEN"] = "1"

with workflow("resumable") as wf:

    @task(inject_context=True)
    def extract(ctx: TaskExecutionContext):
        calls.append("extract")
        ctx.get_channel().set("rows", [1, 2, 3])
        ctx.checkpoint(metadata={"stage": "extracted"}, path=target)
        return 3

    @task(inject_context=True)
    def transform(ctx: TaskExecutionContext):
        calls.append("transform")
        if os.environ.get("TRANSFORM_BROKEN"):
            raise RuntimeError("transform is broken")
        return [r * 10 for r in ctx.get_channel().get("rows")]

    @task
    def load(transform):
        calls.append("load")
        print("loading", transform)
        return sum(transform)

    extract >> transform >> load
    try:
        wf.execute("extract")
    except Exception as error:
        print("first run failed:", type(error).__name__)
    print("checkpoint written:", os.path.exists(target))

    del os.environ["TRANSFORM_BROKEN"]  # the fix
    context, metadata = CheckpointManager.resume_from_checkpoint(target)
    result = WorkflowEngine().execute(context)
    print("resumed result:", result)
    print("rows from the checkpoint:", context.get_channel().get("rows"))
    print("calls:", calls)

shutil.rmtree(folder)
