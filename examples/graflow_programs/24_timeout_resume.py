"""A review request that times out: the engine checkpoints under ./checkpoints/ and
execute returns None; the answer given afterwards, the run resumed from that file with
WorkflowEngine finishes with it."""

import glob
import os
import shutil

from graflow.core.checkpoint import CheckpointManager
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow
from graflow.hitl.types import FeedbackResponse, FeedbackType

with workflow("review") as wf:

    @task
    def analyse():
        print("analyse")
        return {"anomalies": 2}

    @task(inject_context=True)
    def review(context):
        report = context.get_channel().get("analyse.__result__")
        response = context.request_feedback(
            feedback_type="text", prompt=f"Assess {report['anomalies']} anomalies:", timeout=0.5
        )
        print("review received:", response.text)
        return response.text

    @task(inject_context=True)
    def finalise(context):
        review_text = context.get_channel().get("review.__result__")
        print("finalise with:", review_text)
        return {"status": "done", "review": review_text}

    analyse >> review >> finalise

    result, context = wf.execute(ret_context=True)
    print("execute returned:", result)

[path] = glob.glob(os.path.join("checkpoints", "*", "*.pkl"))
print("the context names it:", os.path.abspath(context.last_checkpoint_path) == os.path.abspath(path))
feedback_id = context.checkpoint_metadata["user_metadata"]["feedback_id"]

resumed, _meta = CheckpointManager.resume_from_checkpoint(path)
answer = FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.TEXT, text="false positives")
print("answered:", resumed.feedback_manager.provide_feedback(feedback_id, answer))
print("resumed run:", WorkflowEngine().execute(resumed))
shutil.rmtree("checkpoints")
shutil.rmtree("feedback_data", ignore_errors=True)
