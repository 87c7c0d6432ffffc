"""``DebuggerWidget``: buttons and pictures over a ``Debugger``.

Every button calls the same API a test or a notebook would (``step``, ``continue_``,
``run_to_end``, ``restart``, ``set_breakpoints``) and then redraws from ``state()``.
The run itself is on the debugger's background thread, so the kernel is free to take
the clicks; each click waits (bounded) until the run is at rest before redrawing, so
the pictures never show a half-made move.  An error from an action (a failing task,
a timeout) is shown in the status line instead of escaping the click.

Layout: the graph and the session tree in one ``GraphView`` (a held node is stepped by
clicking it, its session continued by an alt-click, a breakpoint toggled by a
shift-click; the buttons stay for keyboard users); global buttons; one row per
live session (step this branch / continue this branch); breakpoint pickers; the
channel inspector (each session's channel, a branch's changes since its fork) and
the merge explainer for any fan-in that is held.

Busy: while an action runs, the status line says what runs (``running fit in
4821_fit``; that session's row says ``running``) and since when, and every button and
picker is disabled (a click then would only queue behind it); when it ends the status
says what happened and how long it took, and the buttons that can be pressed come back.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..debug import Debugger
from ..debug.merge_preview import describe_change, short
from ..debug.values import value_html
from ..debug.views import Halt, SessionStates, Step, describe_position
from .closing import close_parts
from .graph_view import GraphView

ALL_MERGES = "(every group)"
BOLD = " style='font-weight:bold'"


class SessionRow(widgets.HBox):
    """One live session: what it is doing, and its two buttons."""

    def __init__(self, entry: dict[str, Any], on_step: Callable[[str], None], on_continue: Callable[[str], None]):
        self.session_id = entry["session_id"]
        self.label = widgets.HTML(
            f"<code>{'&nbsp;' * 2 * entry['depth']}{html.escape(self.session_id)}</code> "
            f"<b>{html.escape(entry['status'])}</b> {html.escape(describe_position(entry))} "
            f"<span style='color:#777'>queue: {html.escape(', '.join(entry['queue']) or '-')}</span>",
            layout=widgets.Layout(width="60%"),
        )
        held = entry["status"] == "held"
        self.step_button = widgets.Button(description="step", disabled=not held, tooltip=f"step {self.session_id} only")
        self.continue_button = widgets.Button(
            description="continue", disabled=entry["status"] == "done", tooltip=f"let {self.session_id} run freely"
        )
        self.step_button.on_click(lambda _b: on_step(self.session_id))
        self.continue_button.on_click(lambda _b: on_continue(self.session_id))
        super().__init__([self.label, self.step_button, self.continue_button])


class DebuggerWidget(widgets.VBox):
    """Buttons on a step debugger: a row per open session, step / continue / restart, a
    breakpoint picker and a channel inspector."""

    def __init__(self, debugger: Debugger, pictures: bool = True):
        self.debugger = debugger
        self.busy = False  # an action is running: every control is disabled
        self.pictures = pictures
        # The graph and the session tree in one GraphView: click a held node to step it
        # (alt-click: continue its session), shift-click a task to toggle a breakpoint.
        self.graph: Any = GraphView(debugger.workflow, debugger.run, sessions=True) if pictures else widgets.HTML()
        if pictures:
            self.graph.on_node_click(self._node_clicked)
        self.status = widgets.HTML()
        self.step_button = widgets.Button(description="step", tooltip="the first held session runs one task")
        self.continue_button = widgets.Button(description="continue", tooltip="run freely until a breakpoint")
        self.run_button = widgets.Button(description="run to end", tooltip="release everything")
        self.restart_button = widgets.Button(description="restart", tooltip="cancel this run, start again")
        self.step_button.on_click(lambda _b: self._act(debugger.step))
        self.continue_button.on_click(lambda _b: self._act(debugger.continue_))
        self.run_button.on_click(lambda _b: self._act(debugger.run_to_end))
        self.restart_button.on_click(lambda _b: self._act(debugger.restart))
        self.rows_box = widgets.VBox()
        self.rows: dict[str, SessionRow] = {}
        nodes = debugger.workflow.graph.nodes
        tasks = [n for n, node in nodes.items() if not node.is_group]
        groups = [n for n, node in nodes.items() if node.is_group]
        self.halt_before = widgets.SelectMultiple(options=tasks, value=sorted(debugger.halt_before), description="halt before")
        self.halt_after = widgets.SelectMultiple(options=tasks, value=sorted(debugger.halt_after), description="halt after")
        merge_value = [ALL_MERGES] if "*" in debugger.halt_at_merge else sorted(debugger.halt_at_merge)
        self.halt_at_merge = widgets.SelectMultiple(options=[ALL_MERGES, *groups], value=merge_value, description="at merge")
        for picker in (self.halt_before, self.halt_after, self.halt_at_merge):
            picker.observe(self._breakpoints_changed, names="value")
        self.channels = widgets.HTML()
        self.merge = widgets.HTML()
        super().__init__(
            [
                self.graph,
                widgets.HBox([self.step_button, self.continue_button, self.run_button, self.restart_button]),
                self.status,
                self.rows_box,
                widgets.HBox([self.halt_before, self.halt_after, self.halt_at_merge]),
                widgets.HBox([self.channels, self.merge]),
            ]
        )
        self.refresh()

    # -- actions -----------------------------------------------------------------------
    def _act(self, action: Callable[..., Any], *args: Any) -> None:
        """Run one debugger action.  While it runs (a model fit can take seconds) the
        widget says what is running and since when, and every button and picker is
        disabled; when it ends, the status line says what happened and how long it took."""
        self._busy(self._doing(action, *args))
        started = time.monotonic()
        try:
            outcome = action(*args)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            text = f"<span style='color:#b00'>{html.escape(message)}</span>"
        else:
            text = html.escape(self._say(outcome))
        took = time.monotonic() - started
        self.status.value = f"{text} <span style='color:#777'>(took {took:.1f} s)</span>"
        self.busy = False
        self.refresh(keep_status=True)

    def _doing(self, action: Callable[..., Any], *args: Any) -> str:
        """What the action is about to run, in words (from the state before it)."""
        state = self.debugger.state()
        name = getattr(action, "__name__", "")
        if name == "step":
            held = [s for s in state if s["status"] == "held" and (not args or s["session_id"] == args[0])]
            if held and held[0]["stop"] == "before":
                sid = held[0]["session_id"]
                if sid in self.rows:
                    self.rows[sid].label.value = f"<code>{html.escape(sid)}</code> <b>running</b> {html.escape(held[0]['task'])}"
                return f"running {held[0]['task']} in {sid}"
            return "stepping " + (held[0]["session_id"] if held else "")
        if name == "continue_":
            return f"running {args[0]} freely until a breakpoint" if args else "running freely until a breakpoint"
        if name == "run_to_end":
            return "running to the end"
        return "restarting" if name == "restart" else "working"

    def _busy(self, doing: str) -> None:
        self.busy = True
        self.status.value = (
            f"<span class='graflow-busy'><b>busy</b>: {html.escape(doing)} (started {time.strftime('%H:%M:%S')}); "
            "the buttons come back when it ends</span>"
        )
        for control in self._controls():
            control.disabled = True

    def _controls(self) -> list[Any]:
        rows = [b for row in self.rows.values() for b in (row.step_button, row.continue_button)]
        return [
            self.step_button, self.continue_button, self.run_button, self.restart_button,
            self.halt_before, self.halt_after, self.halt_at_merge, *rows,
        ]

    def _say(self, outcome: Any) -> str:
        if isinstance(outcome, (Step, Halt)):
            return str(outcome)
        if isinstance(outcome, SessionStates):  # restart: the new run's state
            return "restarted: " + "; ".join(f"{s['session_id']} {describe_position(s)}" for s in outcome)
        return f"the run ended ({self.debugger.status}), result {short(outcome)}"  # run_to_end

    def step_session(self, session_id: str) -> None:
        self._act(self.debugger.step, session_id)

    def continue_session(self, session_id: str) -> None:
        self._act(self.debugger.continue_, session_id)

    def _breakpoints_changed(self, _change: Any) -> None:
        merge: Any = list(self.halt_at_merge.value)
        if ALL_MERGES in merge:
            merge = True
        self.debugger.set_breakpoints(before=self.halt_before.value, after=self.halt_after.value, merge=merge)
        if self.pictures:
            self.graph.breakpoints = set(self.halt_before.value)
            self.graph.refresh()

    def _node_clicked(self, _view: Any, info: dict[str, Any], shift: bool, alt: bool) -> bool:
        """A click in the picture: on a held task or group, step its session (alt: continue it);
        with shift on any task, toggle a breakpoint before it.  Other clicks open the
        inspector.  Ignored while an action runs, as the buttons are."""
        if info.get("kind") not in ("task", "group", "join") or self.busy:
            return False
        task_id = info["id"]
        if shift:
            if task_id in self.halt_before.options:
                chosen = set(self.halt_before.value) ^ {task_id}
                self.halt_before.value = tuple(t for t in self.halt_before.options if t in chosen)
                on = "on" if task_id in chosen else "off"
                self.status.value = html.escape(f"breakpoint before {task_id} {on}")
            return True
        if info.get("state") == "held" and info.get("session"):
            (self.continue_session if alt else self.step_session)(info["session"])
            return True
        return False

    # -- drawing -----------------------------------------------------------------------
    def refresh(self, keep_status: bool = False) -> None:
        dbg = self.debugger
        state = dbg.state()
        if self.pictures:
            self.graph.breakpoints = set(dbg.halt_before)
            self.graph.refresh(dbg.run, relayout=True)  # a held node is drawn in its own shape
        if not keep_status:
            self.status.value = html.escape(repr(dbg))
        replaced = list(self.rows_box.children)
        self.rows = {s["session_id"]: SessionRow(s, self.step_session, self.continue_session) for s in state}
        self.rows_box.children = list(self.rows.values())
        for row in replaced:  # ipywidgets keeps a widget until it is closed (see closing)
            close_parts(row)
            row.close()
        finished = dbg.finished
        for button in (self.step_button, self.continue_button, self.run_button):
            button.disabled = finished
        self.restart_button.disabled = False
        for picker in (self.halt_before, self.halt_after, self.halt_at_merge):
            picker.disabled = False
        self.channels.value = self._channels_html(state)
        previews = dbg.pending_merges()
        self.merge.value = "".join(p._repr_html_() for p in previews)

    def close(self) -> None:
        """Close this widget and every part of it, so that nothing keeps the debugger
        (and its run) alive; the debugger itself stays as it is."""
        close_parts(self)
        super().close()

    def _channels_html(self, state: list[dict[str, Any]]) -> str:
        blocks = []
        for entry in state:
            if entry["status"] == "running":
                continue  # its channel is changing under us
            sid = entry["session_id"]
            changes = self.debugger.changes(sid)
            values = self.debugger.channel(sid)
            rows = "".join(
                f"<tr{BOLD if key in changes else ''}><td>{html.escape(key)}</td><td>{value_html(value)}</td></tr>"
                for key, value in values.items()
            )
            since = "".join(f"<li>{html.escape(describe_change(k, c))}</li>" for k, c in changes.items())
            changed = f"<ul>{since}</ul>" if since else ""
            blocks.append(f"<div><b>{html.escape(sid)}</b><table>{rows}</table>{changed}</div>")
        return "<div><b>channels</b> (a branch's changes since its fork in bold)</div>" + "".join(blocks)
