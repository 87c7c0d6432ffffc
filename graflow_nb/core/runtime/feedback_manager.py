"""graflow's ``FeedbackManager`` surface over a run's questions, for other threads.

graflow programs answer a blocked task from another thread (or its web API) with
``execution_context.feedback_manager.provide_feedback(feedback_id, response)``.  Here
the questions live on the run (``Run.pending``), so every session of a run, the root
and every branch, hands out a manager over the same questions; nothing is written to
disk (graflow's filesystem backend creates ``./feedback_data/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .feedback import FeedbackRequest, FeedbackResponse, request_of

if TYPE_CHECKING:
    from .run import Run


class FeedbackManager:
    """List and answer the questions a run's tasks are waiting on."""

    def __init__(self, run: Run):
        self._run = run

    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Unanswered questions in session order (only ``session_id``'s when given)."""
        run = self._run
        return [
            request_of(question)
            for question in run.pending_inputs()
            if question.key not in run.answers and (session_id is None or question.session_id == session_id)
        ]

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        question = self._run.pending.get(feedback_id)
        return None if question is None else request_of(question)

    def provide_feedback(self, feedback_id: str, response: Any) -> bool:
        """Answer ``feedback_id`` with a ``FeedbackResponse`` (or the bare value).

        False, as in graflow, when no question with that id is waiting; a task
        blocked on it (``timeout=``) wakes at once, a paused one runs on ``resume``.
        An answer that can't be right (a selection not among the options) raises
        ``ValueError`` naming the question."""
        if feedback_id not in self._run.pending or feedback_id in self._run.answers:
            return False
        if isinstance(response, FeedbackResponse):
            self._run.responses[feedback_id] = response  # the asking task gets it whole (reason, ...)
            value = response.value
        else:
            value = response
        try:
            self._run.answer(feedback_id, value)
        except BaseException:
            self._run.responses.pop(feedback_id, None)
            raise
        return True

    def __repr__(self) -> str:
        return f"<FeedbackManager run={self._run.root_session_id!r} pending={len(self.list_pending_requests())}>"
