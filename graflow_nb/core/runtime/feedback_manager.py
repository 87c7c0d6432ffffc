"""graflow's ``FeedbackManager`` surface over a run's questions, for other threads.

graflow programs answer a blocked task from another thread (or its web API) with
``execution_context.feedback_manager.provide_feedback(feedback_id, response)``.  Here
the questions live on the run (``Run.pending``), so every session of a run, the root
and every branch, hands out a manager over the same questions; nothing is written to
disk (graflow's filesystem backend creates ``./feedback_data/``).

graflow also builds a manager of its own, ``FeedbackManager(backend="filesystem",
backend_config={...})``, hands it to a run (``ctx.feedback_manager = manager``), answers
a question after the run stopped on it, and hands the same manager to the context
resumed from the checkpoint.  Such a manager keeps, in memory, every answer it was
given, and gives each to any run it is handed that waits on that question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .feedback import FeedbackRequest, FeedbackResponse, request_of

if TYPE_CHECKING:
    from .run import Run


BACKENDS = ("filesystem", "memory")


class FeedbackManager:
    """List and answer the questions a run's tasks are waiting on."""

    def __init__(self, backend: Any = "filesystem", backend_config: dict[str, Any] | None = None, *,
                 run: Run | None = None):
        """``run``: the run whose questions it answers (``ctx.feedback_manager`` makes
        one over its run).  ``backend`` / ``backend_config``: graflow's; every answer
        stays in this process's memory whatever they say (nothing is written)."""
        if backend not in BACKENDS:
            raise ValueError(
                f"FeedbackManager(backend={backend!r}) is not offered: graflow_nb keeps questions and answers "
                f"in memory; use backend='filesystem' (nothing is written) or leave it out"
            )
        if backend_config is not None and not isinstance(backend_config, dict):
            raise TypeError(f"FeedbackManager(backend_config=...) takes a dict, got {type(backend_config).__name__}")
        self._run = run
        self._given: dict[str, Any] = {}  # feedback id -> the answer, for any run it is handed later

    def attach(self, run: Run) -> None:
        """Answer ``run``'s questions from now on (``ctx.feedback_manager = self``), and
        give it the answers this manager was given for questions it waits on."""
        self._run = run
        for feedback_id, response in self._given.items():
            if feedback_id in run.pending and feedback_id not in run.answers:
                self._answer(run, feedback_id, response)

    def _bound(self) -> Run:
        if self._run is None:
            raise RuntimeError(
                "this FeedbackManager is not handed to a run yet: set ctx.feedback_manager = manager first"
            )
        return self._run

    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Unanswered questions in session order (only ``session_id``'s when given)."""
        run = self._bound()
        return [
            request_of(question)
            for question in run.pending_inputs()
            if question.key not in run.answers and (session_id is None or question.session_id == session_id)
        ]

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        question = self._bound().pending.get(feedback_id)
        return None if question is None else request_of(question)

    def provide_feedback(self, feedback_id: str, response: Any) -> bool:
        """Answer ``feedback_id`` with a ``FeedbackResponse`` (or the bare value).

        False, as in graflow, when no question with that id is waiting; a task
        blocked on it (``timeout=``) wakes at once, a paused one runs on ``resume``.
        An answer that can't be right (a selection not among the options) raises
        ``ValueError`` naming the question."""
        run = self._bound()
        if feedback_id not in run.pending or feedback_id in run.answers:
            return False
        self._answer(run, feedback_id, response)
        self._given[feedback_id] = response
        return True

    @staticmethod
    def _answer(run: Run, feedback_id: str, response: Any) -> None:
        if isinstance(response, FeedbackResponse):
            run.responses[feedback_id] = response  # the asking task gets it whole (reason, ...)
            value = response.value
        else:
            value = response
        try:
            run.answer(feedback_id, value)
        except BaseException:
            run.responses.pop(feedback_id, None)
            raise

    def __repr__(self) -> str:
        if self._run is None:
            return f"<FeedbackManager not handed to a run, answers given={len(self._given)}>"
        return f"<FeedbackManager run={self._run.root_session_id!r} pending={len(self.list_pending_requests())}>"
