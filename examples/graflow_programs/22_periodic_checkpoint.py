"""A training loop (next_iteration) that checkpoints every third epoch and stops at
the tenth, graflow's default cycle limit; the latest checkpoint resumes and trains on
from the epoch it saved."""

import os
import tempfile

from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import TaskExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

with tempfile.TemporaryDirectory() as folder:
    with workflow("training") as wf:

        @task(inject_context=True)
        def train(task_ctx: TaskExecutionContext):
            channel = task_ctx.get_channel()
            epoch = channel.get("epoch", 0) + 1
            loss = round(1.0 / epoch, 4)
            channel.set("epoch", epoch)
            channel.set("loss", loss)
            print(f"epoch {epoch} loss {loss}")
            if epoch % 3 == 0:
                task_ctx.checkpoint(path=os.path.join(folder, f"epoch_{epoch:02d}"), metadata={"epoch": epoch, "loss": loss})
            if epoch >= 10:
                return f"stopped at {epoch}"
            task_ctx.next_iteration()
            return None

        result, context = wf.execute(train.task_id, max_steps=50, ret_context=True)
        print("first run:", result)
        print("last checkpoint:", os.path.basename(context.last_checkpoint_path))

    saved = sorted(f for f in os.listdir(folder) if f.endswith(".pkl"))
    print("checkpoints:", saved)
    restored, meta = CheckpointManager.resume_from_checkpoint(os.path.join(folder, saved[-1]))
    print("resuming at epoch", meta.user_metadata["epoch"], "loss", meta.user_metadata["loss"])
    print("channel epoch:", restored.channel.get("epoch"))
    print("resumed run:", WorkflowEngine().execute(restored))
    print("final epoch:", restored.channel.get("epoch"), "loss", restored.channel.get("loss"))
