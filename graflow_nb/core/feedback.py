"""Human input: a task asks, its session parks, the run says what it waits for.

graflow blocks the asking thread, polling files every 0.5 s.  Here a question with no
answer yet raises ``PauseRequested``: the task's session stops *without* holding a
thread (the task goes back to the head of its queue), siblings run on to the group
barrier, and ``execute`` returns a ``PausedRun`` listing every waiting session.
``resume(answers)`` re-enters the run; the asking task runs again from its start and
this time receives the answer.  Tasks that finished are never run again.

With ``default=...`` a question instead waits up to ``timeout`` seconds on its thread
for ``run.answer(...)`` (from a widget, another thread) and then takes the default:
use it where a person may answer but the run must not stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .channel import MISSING
from .errors import PauseRequested
from .events import EventKind
from .run import PendingInput

if TYPE_CHECKING:
    from .context import TaskExecutionContext

KINDS = ("approval", "text", "selection", "multi_selection", "custom")


@dataclass
class FeedbackResponse:
    """graflow's response shape: the field for the question's kind is filled."""

    feedback_id: str
    response_type: str
    approved: bool | None = None
    text: str | None = None
    selected: str | None = None
    selected_multiple: list[str] | None = None
    custom_data: Any = None

    @property
    def value(self) -> Any:
        return {
            "approval": self.approved,
            "text": self.text,
            "selection": self.selected,
            "multi_selection": self.selected_multiple,
        }.get(self.response_type, self.custom_data)


def check_answer(question: PendingInput, value: Any) -> None:
    """Refuse an answer that can't be right for the question, naming what would be."""
    if question.kind == "selection" and question.options and value not in question.options:
        raise ValueError(f"{question.key}: {value!r} is not one of the options {question.options}")
    if question.kind == "multi_selection" and question.options:
        wrong = [v for v in value if v not in question.options]
        if wrong:
            raise ValueError(f"{question.key}: {wrong} are not among the options {question.options}")


def _response(question: PendingInput, value: Any) -> FeedbackResponse:
    response = FeedbackResponse(question.key, question.kind)
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
    task_ctx: TaskExecutionContext,
    kind: str,
    prompt: str,
    options: list[str] | None,
    metadata: dict[str, Any] | None,
    timeout: float,
    channel_key: str | None,
    write_to_channel: bool,
    default: Any,
    number: int,
) -> FeedbackResponse:
    if kind not in KINDS:
        raise ValueError(f"unknown feedback type {kind!r}; use one of {', '.join(KINDS)}")
    ctx = task_ctx.execution_context
    run = ctx.run
    key = f"{ctx.session_id}/{task_ctx.task_id}/{number}"
    question = PendingInput(key, ctx.session_id, task_ctx.task_id, kind, prompt, options, metadata)
    if key in run.answers:
        value = run.answers[key]
    elif default is MISSING:
        run.ask(question)
        ctx.waiting_key = key
        raise PauseRequested(key)
    else:
        run.ask(question)
        value = run.wait_for_answer(key, timeout, default)
    run.pending.pop(key, None)
    ctx.waiting_key = None
    if run.bus.active:
        run.bus.emit(EventKind.TASK_RESUMED, ctx.session_id, task_ctx.task_id, key=key, answer=value)
    if write_to_channel and channel_key:
        task_ctx.get_channel().set(channel_key, value)
    return _response(question, value)
