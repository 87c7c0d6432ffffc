"""A task that moves a ticket through its states, one state per iteration
(next_iteration), checkpointing after each move; every checkpoint resumes on its own
and the machine runs on from the state the channel held."""

import os
import tempfile

from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

NEXT = {"OPEN": "TRIAGED", "TRIAGED": "RESOLVED", "RESOLVED": "CLOSED"}

with tempfile.TemporaryDirectory() as folder:
    with workflow("ticket") as wf:

        @task(inject_context=True)
        def advance(task_ctx: TaskExecutionContext):
            channel = task_ctx.get_channel()
            state = channel.get("state", "OPEN")
            moved = NEXT[state]
            channel.set("state", moved)
            print(f"{state} -> {moved}")
            if moved == "CLOSED":
                return "ticket closed"
            task_ctx.checkpoint(path=os.path.join(folder, f"ticket_{moved.lower()}"), metadata={"stage": moved})
            task_ctx.next_iteration()
            return None

        result, context = wf.execute("advance", ret_context=True)
        print("first run:", result, "/", context.channel.get("state"))
        print("last checkpoint:", os.path.basename(context.last_checkpoint_path))

    engine = WorkflowEngine()
    for name in ("ticket_triaged.pkl", "ticket_resolved.pkl"):
        restored, meta = CheckpointManager.resume_from_checkpoint(os.path.join(folder, name))
        print(f"[{name}] stage {meta.user_metadata['stage']}, state {restored.channel.get('state')}")
        print("  metadata keys:", sorted(meta.user_metadata))
        print("  ran to:", engine.execute(restored), "/", restored.channel.get("state"))
