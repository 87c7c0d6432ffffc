"""A task asks for a checkpoint with a path and metadata; the engine writes the three
files after the task, and a context resumed from the .pkl alone runs what is left with
WorkflowEngine().execute."""

import os
import tempfile

from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

with tempfile.TemporaryDirectory() as folder:
    base = os.path.join(folder, "after_clean")

    with workflow("report") as wf:

        @task
        def load():
            print("load")
            return [3, 1, 2]

        @task(inject_context=True)
        def clean(task_ctx: TaskExecutionContext):
            print("clean")
            rows = sorted(task_ctx.get_channel().get("load.__result__"))
            task_ctx.checkpoint(path=base, metadata={"stage": "cleaned"})
            return rows

        @task(inject_context=True)
        def publish(task_ctx: TaskExecutionContext):
            rows = task_ctx.get_channel().get("clean.__result__")
            print("publish", rows)
            return sum(rows)

        load >> clean >> publish

        print("tasks:", list(wf.graph.nodes.keys()))
        result, context = wf.execute("load", ret_context=True)
        print("first run:", result)
        print("checkpoint:", os.path.relpath(context.last_checkpoint_path, folder))
        for suffix in (".pkl", ".state.json", ".meta.json"):
            print(" ", suffix, os.path.exists(base + suffix))
        print("steps:", context.steps)

    restored, meta = CheckpointManager.resume_from_checkpoint(context.last_checkpoint_path)
    print("stage:", meta.user_metadata["stage"], "steps:", meta.steps)
    print("same session:", meta.session_id == context.session_id)
    print("completed:", list(restored.completed_tasks))
    print("kept:", restored.get_result("load"), restored.get_result("clean"))
    print("resumed run:", WorkflowEngine().execute(restored))
    print("publish:", restored.get_result("publish"))
