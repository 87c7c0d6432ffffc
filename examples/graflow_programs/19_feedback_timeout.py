"""A feedback request that times out: graflow's engine writes a checkpoint under
./checkpoints/<session>/ and execute returns None."""

import glob
import os
import re
import shutil

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.hitl.types import FeedbackTimeoutError

with workflow("review") as wf:

    @task
    def analyse():
        print("analyse")
        return {"anomalies": 3}

    @task(inject_context=True)
    def ask_reviewer(context):
        try:
            response = context.request_feedback(
                feedback_type="text", prompt="Assess the 3 anomalies:", timeout=0.5
            )
        except FeedbackTimeoutError as error:
            print("ask_reviewer timed out after", error.timeout, "s")
            raise
        return response.text

    @task
    def publish():
        print("publish")

    analyse >> ask_reviewer >> publish

    result, context = wf.execute(ret_context=True)
    print("execute returned:", result)

written = glob.glob(os.path.join("checkpoints", "*", "*.pkl"))
print("checkpoints written:", len(written))
name = os.path.basename(written[0])
print("named like graflow's:", bool(re.fullmatch(r"session_.+_step_\d+_\d+\.pkl", name)))
print("the context names it:", os.path.abspath(context.last_checkpoint_path) == os.path.abspath(written[0]))
print("its session:", context.checkpoint_metadata["session_id"] == context.session_id)
shutil.rmtree("checkpoints")
shutil.rmtree("feedback_data", ignore_errors=True)
