"""Checkpoint before the risky step; when it fails, resume from the checkpoint instead
of starting over, so the fetch is not repeated and the step runs again."""

import os
import tempfile

from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

with tempfile.TemporaryDirectory() as folder:
    checkpoint = os.path.join(folder, "before_processing")
    outage = os.path.join(folder, "outage")  # the first processing attempt meets an outage
    open(outage, "w").close()

    with workflow("recovery") as wf:

        @task
        def fetch():
            print("fetch")
            return {"records": 120}

        @task(inject_context=True)
        def validate(task_ctx: TaskExecutionContext):
            data = task_ctx.get_channel().get("fetch.__result__")
            print("validate", data["records"])
            task_ctx.checkpoint(path=checkpoint, metadata={"stage": "validated"})
            return {**data, "valid": True}

        @task(inject_context=True)
        def process(task_ctx: TaskExecutionContext):
            data = task_ctx.get_channel().get("validate.__result__")
            if os.path.exists(outage):
                os.remove(outage)
                print("process: outage")
                raise RuntimeError("storage unavailable")
            print("process", data["records"])
            return data["records"] * 2

        @task
        def finish():
            print("finish")
            return "SUCCESS"

        fetch >> validate >> process >> finish

        try:
            wf.execute("fetch")
        except Exception as error:
            print("attempt 1 failed:", type(error).__name__)

    restored, meta = CheckpointManager.resume_from_checkpoint(checkpoint + ".pkl")
    print("resuming after:", meta.user_metadata["stage"])
    print("attempt 2:", WorkflowEngine().execute(restored))
    print("completed:", list(restored.completed_tasks))
    print("process result:", restored.get_result("process"))
