"""Human input: a task waits for an answer another thread gives."""

import threading

from graflow import TaskExecutionContext, task, workflow
from graflow.hitl.types import FeedbackResponse, FeedbackType

answered = threading.Event()


def reviewer(manager):
    """Someone else's thread: waits for the question, then approves it."""
    while True:
        pending = manager.list_pending_requests()
        if pending:
            break
        answered.wait(0.01)
    request = pending[0]
    print("reviewer sees:", request.prompt, request.feedback_type)
    response = FeedbackResponse(
        feedback_id=request.feedback_id, response_type=FeedbackType.APPROVAL, approved=True, reason="looks good"
    )
    print("answer accepted:", manager.provide_feedback(request.feedback_id, response))
    answered.set()


with workflow("approval") as wf:

    @task(inject_context=True)
    def draft(ctx: TaskExecutionContext):
        return "release notes v2"

    @task(inject_context=True)
    def approve(ctx: TaskExecutionContext, draft: str):
        thread = threading.Thread(target=reviewer, args=(ctx.execution_context.feedback_manager,))
        thread.start()
        response = ctx.request_feedback(FeedbackType.APPROVAL, f"Publish '{draft}'?", timeout=30)
        thread.join()
        print("approved:", response.approved, "reason:", response.reason)
        return response.approved

    @task
    def publish(approve: bool):
        print("published" if approve else "held back")
        return approve

    draft >> approve >> publish
    print("result:", wf.execute("draft"))
