"""What a run started with ``wf.start(...)`` shows in the cell that started it.

The cell has ended long before the run does, so nothing here may print or display
later: a new output then lands in whatever cell runs at that moment (or nowhere).  So
``wf.start`` in a notebook displays one ``RunPanel`` while its cell still runs, and
from then on everything changes through widget traits, which reach the front end as
comm messages whichever cell is running:

- a status line (running, paused, how it ended), redrawn each time the run pauses or
  ends, with a ``cancel`` button;
- with ``live=True``, the live view's area and final picture (``observe.live``'s
  ``LiveView.targets``), in two HTML widgets instead of display handles;
- when the run waits for input, its forms (``HumanInputPanel``): the cell has ended,
  so they are clickable, and answering continues the run in the background
  (``RunHandle.resume``) instead of on the kernel's thread.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..core.runtime.handle import RunHandle
from ..debug.merge_preview import short
from ..observe.live import notebook_shell, redraw_final
from .closing import close_parts
from .human_input import HumanInputPanel, PendingInput


class HtmlTarget:
    """A display handle's ``update`` onto an ``HTML`` widget: what the live view draws
    into for a started run."""

    def __init__(self, widget: widgets.HTML, host: widgets.Box | None = None):
        self.widget = widget
        self.host = host  # where a live view drawn by a widget (GraphLiveView) puts it

    def show_widget(self, view: widgets.DOMWidget) -> None:
        """Put the live view's widget in the panel: its frames then change only its state."""
        if self.host is None:
            raise RuntimeError("this target has no place for a widget")
        self.host.children = (view,)

    def update(self, obj: Any, raw: bool = False) -> None:
        bundle = obj if raw else _bundle(obj)
        text = bundle.get("text/html")
        if text is None:
            svg = bundle.get("image/svg+xml")
            text = svg if svg is not None else f"<pre>{html.escape(str(bundle.get('text/plain', '')))}</pre>"
        self.widget.value = text


def _bundle(obj: Any) -> dict[str, Any]:
    shell = notebook_shell()
    if shell is None:
        return {"text/plain": repr(obj)}
    data, _metadata = shell.display_formatter.format(obj)
    return data


class HandleInputs:
    """The ``InputSource`` over a started run: answering resumes it in the background."""

    def __init__(self, handle: RunHandle):
        self.handle = handle

    def pending_inputs(self) -> list[PendingInput]:
        return [PendingInput(p.session_id, p.prompt, p.kind, p.options) for p in self.handle.pending]

    def resume(self, session_id: str, value: Any) -> Any:
        return self.handle.resume(session_id, value)


class RunPanel(widgets.VBox):
    """A started run's status line, cancel button, live view and input forms."""

    def __init__(self, handle: RunHandle, live_view: Any = None):
        self.handle = handle
        self.status = widgets.HTML(status_html(handle))
        self.cancel_button = widgets.Button(description="cancel", tooltip="stop the run at its next task boundary")
        self.cancel_button.on_click(lambda _b: self._cancel())
        self.live_note = widgets.HTML()
        self.live_picture = widgets.HTML()
        self.live_area = widgets.Box()  # the GraphView of a live view drawn by one
        self.inputs = widgets.VBox()
        self.form: HumanInputPanel | None = None
        children: list[Any] = [widgets.HBox([self.status, self.cancel_button])]
        if live_view is not None:
            live_view.targets = (HtmlTarget(self.live_note, self.live_area), HtmlTarget(self.live_picture))
            children += [self.live_note, self.live_area, self.live_picture]
        super().__init__([*children, self.inputs])
        self.add_class("graflow-started-run")
        # Guards form: the run's thread (a pause, the end) and a click redraw at once.
        self._lock = threading.RLock()
        handle.on_leg_end(lambda _h: self.redraw())
        self.redraw()  # the run may have paused or ended before the line above

    def redraw(self) -> None:
        """The status line, and the forms while the run waits for input (on the run's
        thread when it pauses or ends; on the kernel's after a click)."""
        with self._lock:
            self._redraw()

    def _redraw(self) -> None:
        handle = self.handle
        self.status.value = status_html(handle)
        self.cancel_button.disabled = handle.done
        if handle.status == "paused":
            if self.form is None:
                self.form = HumanInputPanel(HandleInputs(handle), on_answer=lambda _outcome, _error: self.redraw())
                self.inputs.children = [self.form]
            else:
                self.form.refresh()
        elif handle.done:
            redraw_final(handle.run)  # the live view's note and picture said "paused" if it asked
            if self.form is not None:
                form, self.form = self.form, None
                self.inputs.children = [form.status]  # what the last answer said stays in view
                close_parts(form.forms_box)

    def _cancel(self) -> None:
        self.handle.cancel()
        self.redraw()


def status_html(handle: RunHandle) -> str:
    run = handle.run
    status = handle.status
    line = f"run {run.root_session_id} of {run.workflow_name!r}: {status}"
    if status == "paused":
        line += ", waiting for input in " + ", ".join(sorted({p.session_id for p in run.pending_inputs()}))
    elif status == "succeeded":
        line += f", result {short(run.result)}"
    elif status in ("failed", "cancelled") and run.error is not None:
        line += f" ({type(run.error).__name__}: {run.error})"
    return f"<span class='graflow-run-status'>{html.escape(line)}</span>"


def show_started_run(handle: RunHandle, live_view: Any = None) -> RunPanel | None:
    """``wf.start`` in a notebook: display the run's panel in the starting cell (before
    the run's thread starts, so the live view draws into it); outside one, nothing."""
    if notebook_shell() is None:
        return None
    panel = RunPanel(handle, live_view)
    display(panel)
    return panel
