"""A small form per session that waits for human input; submitting resumes that session.

The panel depends on a two-method interface, not on the engine, so it can be tested
with a fake and bound to any source of questions:

    pending_inputs() -> [(session_id, prompt, kind, options)]
    resume(session_id, value) -> anything (shown in the status line)

``kind`` is ``approve`` (approve / reject buttons), ``text`` (a text box), ``choice``
(a dropdown over ``options``) or ``multi_choice``; the engine's names (``approval``,
``selection``, ``multi_selection``) are understood too.  ``RunInputs`` adapts a paused
engine run (``wf.last_run`` or the ``PausedRun`` that ``execute`` returned); the panel
adapts one by itself, so ``HumanInputPanel(wf.execute(...))`` is the whole call, and a
``PausedRun`` that ends a cell shows this panel (``show_paused_form``).

An answer whose resumed run fails says which task failed, in which session, and shows
the error's traceback (the user's frames, see ``core.user_frames``) under the form.

What a cell showed about the paused run (its summary line, its picture) would go on
saying "paused" after an answer resumes it; ``on_answer(outcome, error)`` is called
after every answer so whoever drew those can redraw them (the ``%%graflow`` magic
passes one that updates its display handles).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import ipywidgets as widgets
from IPython.display import display

from ..core.runtime.handle import RunHandle
from ..core.runtime.run import PausedRun, Run
from ..core.user_frames import for_caller
from ..debug.merge_preview import short
from .closing import close_parts

_KINDS = {
    "approve": "approve", "approval": "approve",
    "text": "text",
    "choice": "choice", "selection": "choice",
    "multi_choice": "multi_choice", "multi_selection": "multi_choice",
}


class PendingInput(NamedTuple):
    session_id: str
    prompt: str
    kind: str
    options: list[str] | None = None


class InputSource(Protocol):
    """What a ``HumanInputPanel`` answers: a paused run or the step debugger."""

    def pending_inputs(self) -> list[tuple[str, str, str, list[str] | None]]: ...

    def resume(self, session_id: str, value: Any) -> Any: ...


class RunInputs:
    """The interface over a paused engine run: answering one session resumes it; the
    others stay paused (``Run.resume``)."""

    def __init__(self, run: Any):
        self.run = getattr(run, "run", run)

    def pending_inputs(self) -> list[PendingInput]:
        return [PendingInput(p.session_id, p.prompt, p.kind, p.options) for p in self.run.pending_inputs()]

    def resume(self, session_id: str, value: Any) -> Any:
        return self.run.resume(session_id, value)


class InputForm(widgets.VBox):
    """The form for one waiting session; ``submit(value)`` is what its buttons call."""

    def __init__(self, question: PendingInput, panel: HumanInputPanel):
        self.question = question
        self.panel = panel
        kind = _KINDS.get(question.kind, "text")
        self.kind = kind
        label = widgets.HTML(f"<b>{html.escape(question.session_id)}</b> asks: {html.escape(question.prompt)}")
        self.submit_button = widgets.Button(description="submit")
        self.field: Any = None
        if kind == "approve":
            self.approve_button = widgets.Button(description="approve", button_style="success")
            self.reject_button = widgets.Button(description="reject", button_style="danger")
            self.approve_button.on_click(lambda _b: self.submit(True))
            self.reject_button.on_click(lambda _b: self.submit(False))
            controls = [self.approve_button, self.reject_button]
        else:
            options = list(question.options or [])
            if kind == "choice":
                self.field = widgets.Dropdown(options=options, value=options[0] if options else None)
            elif kind == "multi_choice":
                self.field = widgets.SelectMultiple(options=options)
            else:
                self.field = widgets.Text(placeholder="your answer")
            self.submit_button.on_click(lambda _b: self.submit(self._value()))
            controls = [self.field, self.submit_button]
        super().__init__([label, widgets.HBox(controls)])

    def _value(self) -> Any:
        value = self.field.value
        return list(value) if self.kind == "multi_choice" else value

    def submit(self, value: Any) -> None:
        self.panel.answer(self.question.session_id, value)


class HumanInputPanel(widgets.VBox):
    """Every waiting session's form; refreshed after each answer, and ``on_answer``
    called with what the resume returned (or the error it raised)."""

    def __init__(
        self, source: InputSource | PausedRun | Run, on_answer: Callable[[Any, BaseException | None], None] | None = None
    ):
        self.source: InputSource = RunInputs(source) if isinstance(source, (PausedRun, Run)) else source
        self.on_answer = on_answer
        self.status = widgets.HTML()
        self.forms: dict[str, InputForm] = {}
        self.forms_box = widgets.VBox()
        super().__init__([self.forms_box, self.status])
        self.refresh()

    def refresh(self) -> None:
        questions = [PendingInput(*q) for q in self.source.pending_inputs()]
        replaced = list(self.forms_box.children)
        self.forms = {q.session_id: InputForm(q, self) for q in questions}
        self.forms_box.children = list(self.forms.values())
        for form in replaced:  # ipywidgets keeps a widget until it is closed (see closing)
            close_parts(form)
            form.close()
        if not questions and not self.status.value:
            self.status.value = "nothing is waiting for input"

    def answer(self, session_id: str, value: Any) -> None:
        """Resume ``session_id`` with ``value``; the status line says what came back."""
        outcome: Any = None
        failure: BaseException | None = None
        try:
            outcome = self.source.resume(session_id, value)
        except Exception as error:
            failure = error
            text = failure_html(error)
        else:
            text = f"resumed {html.escape(session_id)} with {html.escape(short(value))}: {html.escape(_said(outcome))}"
        self.status.value = text
        self.refresh()
        if self.on_answer is not None:
            try:
                self.on_answer(outcome, failure)
            except Exception as error:  # a redraw that fails must not hide the answer's own outcome
                self.status.value += html.escape(f" (redrawing failed: {type(error).__name__}: {error})")


def failure_html(error: BaseException) -> str:
    """One red line; for an error a task raised, the task and its session first and the
    traceback below (a refused answer is one line: nothing ran)."""
    task_id = getattr(error, "task_id", None)  # set by core.errors.annotate
    line = html.escape(f"{type(error).__name__}: {error}")
    if task_id is None:
        return f"<span style='color:#b00'>{line}</span>"
    where = html.escape(f"task {task_id!r} failed in session {getattr(error, 'session_id', '?')!r}: ")
    frames = html.escape("".join(traceback.format_exception(for_caller(error))))
    return (
        f"<div style='color:#b00' class='graflow-failure'>{where}{line}</div>"
        f"<pre class='graflow-traceback' style='font-size:85%;white-space:pre-wrap'>{frames}</pre>"
    )


def show_paused_form(paused: PausedRun) -> None:
    """Display the form of ``paused`` (what ``execute`` returned), as a cell's value."""
    display(HumanInputPanel(paused))


def _said(outcome: Any) -> str:
    if isinstance(outcome, RunHandle):
        return "the run goes on in the background"
    if getattr(outcome, "status", None) == "paused":
        waiting = sorted({p.session_id for p in outcome.pending})
        return f"still waiting for {', '.join(waiting)}"
    return f"result {short(outcome)}"
