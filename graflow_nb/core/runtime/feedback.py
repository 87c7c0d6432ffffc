"""Human input: a task asks, its session parks, the run says what it waits for.

graflow blocks the asking thread, polling files every 0.5 s.  Here the pause model
decides, by what the task passes:

- no ``timeout`` (the default): a question with no answer yet raises
  ``PauseRequested`` at once.  The task's session stops *without* holding a thread
  (the task goes back to the head of its queue), siblings run on to the group
  barrier, and ``execute`` returns a ``PausedRun`` listing every waiting session.
  ``resume(answers)`` re-enters the run; the asking task runs again from its start
  and this time receives the answer.  Tasks that finished are never run again.
- ``timeout=N`` (graflow's call): the task blocks its thread up to N seconds for an
  answer from another thread (``Session.feedback_manager.provide_feedback``
  or ``run.answer``), woken by the answer itself, not by polling.  Unanswered after N
  seconds, graflow raises ``FeedbackTimeoutError`` and its engine checkpoints and
  returns ``None``; here the session pauses exactly as above, and the question stays
  answerable.  What is raised in the task is a ``FeedbackTimeoutError`` too, so a task
  that catches it (graflow's way to fall back) goes on, and the question is withdrawn.
  The same holds for any pause a task catches and swallows.  With ``default=...`` as well it takes the default instead of pausing
  (``default`` without ``timeout`` waits graflow's 180 s).
- In a run without threads (Pyodide, the step debugger's ``threads=False``) no other
  thread could answer while the task waits, so a ``timeout`` runs out at once: the
  question takes its ``default``, or pauses the session as above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from ..data.channel import MISSING
from ..errors import PauseRequested, PicklableError
from ..events import EventKind
from .run import PendingInput


class AskingTask(Protocol):
    """What a question reads of the asking task's context (``core.session``'s
    ``TaskExecutionContext``, whose ``request_feedback`` calls in here)."""

    task_id: str
    execution_context: Any  # its session: run, session_id, waiting_key

    def get_channel(self) -> Any: ...

GRAFLOW_FEEDBACK_TIMEOUT = 180.0  # graflow's wait, used when only a default is given


class FeedbackType(str, Enum):  # noqa: UP042  (not StrEnum: str() prints FeedbackType.APPROVAL, as graflow's does)
    """graflow's ``graflow.hitl.types.FeedbackType`` (a ``str`` too: ``"approval"`` works)."""

    APPROVAL = "approval"
    TEXT = "text"
    SELECTION = "selection"
    MULTI_SELECTION = "multi_selection"
    CUSTOM = "custom"


KINDS = tuple(kind.value for kind in FeedbackType)


def _now() -> str:
    return datetime.now().isoformat()


@dataclass
class FeedbackRequest:
    """graflow's request shape: one question a task is waiting on."""

    feedback_id: str
    task_id: str
    session_id: str
    feedback_type: FeedbackType
    prompt: str
    options: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    timeout: float | None = None
    status: str = "pending"
    channel_key: str | None = None
    write_to_channel: bool = False


@dataclass
class FeedbackResponse:
    """graflow's response shape: the field for the question's kind is filled."""

    feedback_id: str
    response_type: FeedbackType | str
    approved: bool | None = None
    text: str | None = None
    selected: str | None = None
    selected_multiple: list[str] | None = None
    custom_data: Any = None
    reason: str | None = None
    responded_at: str | None = field(default=None, compare=False)  # when, not what: not compared
    responded_by: str | None = None

    @property
    def value(self) -> Any:
        """The answer itself: the field the response's kind fills."""
        return {
            "approval": self.approved,
            "text": self.text,
            "selection": self.selected,
            "multi_selection": self.selected_multiple,
        }.get(str(getattr(self.response_type, "value", self.response_type)), self.custom_data)


class FeedbackHandler:
    """graflow's callbacks around one question (``request_feedback(..., handler=h)``).

    Override what you need; each hook that raises is reported like an observer's error
    (one ``ObserverWarning``, ``run.observer_errors``) and never changes the run."""

    def on_request_created(self, request: FeedbackRequest) -> None:
        """The question was asked and nobody has answered it yet."""

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """The asking task is about to receive ``response``."""

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        """``timeout`` seconds passed without an answer (the session pauses next)."""


def request_of(question: PendingInput) -> FeedbackRequest:
    """graflow's view of one question."""
    return FeedbackRequest(
        question.key,
        question.task_id,
        question.session_id,
        FeedbackType(question.kind),
        question.prompt,
        question.options,
        dict(question.metadata or {}),
    )


class FeedbackTimeoutError(PicklableError, Exception):
    """graflow's ``FeedbackTimeoutError``, importable for programs that catch it.

    graflow_nb never raises it: an unanswered question pauses its session instead
    (see the module docstring), and ``execute`` returns a ``PausedRun``."""

    # Errors travel in pickles (checkpoints, Dask outcomes) by their module's path:
    # this one keeps graflow's, where programs import it (core.feedback, a face now).
    __module__ = "graflow_nb.core.feedback"

    def __init__(self, feedback_id: str, timeout: float):
        self.feedback_id = feedback_id
        self.timeout = timeout
        super().__init__(f"Feedback request {feedback_id} timed out after {timeout} seconds")


class FeedbackWaitTimedOut(PauseRequested, FeedbackTimeoutError):
    """No answer within ``timeout``: to the engine a pause, like any unanswered question;
    to a task that catches graflow's ``FeedbackTimeoutError``, graflow's timeout.  A task
    that catches it and goes on withdraws the question (the engine sees it finish)."""

    __module__ = "graflow_nb.core.feedback"

    def __init__(self, feedback_id: str, timeout: float):
        FeedbackTimeoutError.__init__(self, feedback_id, timeout)
        self.key = feedback_id


def _response(question: PendingInput, value: Any) -> FeedbackResponse:
    response = FeedbackResponse(question.key, FeedbackType(question.kind), responded_at=_now())
    if question.kind == "approval":
        response.approved = bool(value)
    elif question.kind == "text":
        response.text = "" if value is None else str(value)
    elif question.kind == "selection":
        response.selected = value
    elif question.kind == "multi_selection":
        response.selected_multiple = list(value)
    else:
        response.custom_data = value
    return response


def request_feedback(
    task_ctx: AskingTask,
    kind: str,
    prompt: str,
    options: list[str] | None,
    metadata: dict[str, Any] | None,
    timeout: float | None,
    channel_key: str | None,
    write_to_channel: bool,
    default: Any,
    number: int,
    handler: FeedbackHandler | None = None,
) -> FeedbackResponse:
    if kind not in KINDS:
        raise ValueError(f"unknown feedback type {kind!r}; use one of {', '.join(KINDS)}")
    ctx = task_ctx.execution_context
    run = ctx.run
    key = f"{ctx.session_id}/{task_ctx.task_id}/{number}"
    question = PendingInput(key, ctx.session_id, task_ctx.task_id, kind, prompt, options, metadata)
    if key in run.answers:
        value = run.answers[key]
    else:
        asked_before = key in run.pending  # asked again after a pause: not a new question
        run.ask(question)
        if run.bus.active:
            run.bus.emit(EventKind.INPUT_REQUESTED, ctx.session_id, task_ctx.task_id, key=key, feedback_type=kind)
        if handler is not None and not asked_before:
            run.call_hook(handler, "on_request_created", request_of(question))
        if timeout is None and default is not MISSING:
            timeout = GRAFLOW_FEEDBACK_TIMEOUT
        if timeout is not None and not run.threads:
            timeout = 0.0  # no other thread could answer while this one waits: don't wait
        value = MISSING if timeout is None else run.wait_for_answer(key, timeout, MISSING)
        if value is MISSING and timeout is not None and handler is not None:
            run.call_hook(handler, "on_request_timeout", request_of(question))
        if value is MISSING and default is not MISSING:
            value = default
        if value is MISSING:
            ctx.waiting_key = key
            question.timed_out = timeout is not None
            raise PauseRequested(key) if timeout is None else FeedbackWaitTimedOut(key, timeout)
    run.pending.pop(key, None)
    ctx.waiting_key = None
    if run.bus.active:
        run.bus.emit(EventKind.TASK_RESUMED, ctx.session_id, task_ctx.task_id, key=key, answer=value)
    if write_to_channel and channel_key:
        task_ctx.get_channel().set(channel_key, value)
    given = run.responses.get(key)
    response = given if given is not None else _response(question, value)
    if handler is not None:
        run.call_hook(handler, "on_response_received", request_of(question), response)
    return response
