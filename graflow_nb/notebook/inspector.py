"""Pick a task beside the drawn graph and see what happened to it.

Graphviz's SVG can't send clicks back to the kernel without a front-end extension,
and this package builds none; so the picker is a dropdown beside the picture (in a
front end that lets HTML links through, nothing more is promised).  For the chosen
task it shows, per session it ran in: the inputs, result, attempts with their
timings, and the error.

Inputs are the values of the task's parameters as its session's channel holds them
*now* (the engine does not record arguments); for a task whose inputs were not
overwritten afterwards, that is what it received.
"""

from __future__ import annotations

import html
import inspect
from typing import Any

import ipywidgets as widgets

from ..core.data.channel import MISSING
from ..debug.values import value_html
from .closing import close_parts
from .pictures import graph_html

_INJECTED = frozenset({"llm_client", "llm_agent"})


def parameter_names(node: Any) -> list[str]:
    """The parameters a task's function takes from the channel."""
    func = getattr(node, "func", None)
    if func is None:
        return []
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in kinds]
    if getattr(node, "inject_context", False) and names:
        names = names[1:]
    return [n for n in names if n not in _INJECTED]


def task_details(workflow: Any, run: Any, task_id: str) -> dict[str, Any]:
    """Everything the inspector shows about ``task_id``, as plain data."""
    attempts = [t for t in run.task_runs if t.task_id == task_id] if run is not None else []
    sessions: list[str] = []
    for attempt in attempts:
        if attempt.session_id not in sessions:
            sessions.append(attempt.session_id)
    node = workflow.graph.nodes.get(task_id)
    out: dict[str, Any] = {"task_id": task_id, "kind": _kind(node, run, task_id), "runs": []}
    for sid in sessions:
        mine = [a for a in attempts if a.session_id == sid]
        record = run.sessions.get(sid)
        ctx = record.context if record is not None else None
        if node is None and ctx is not None:
            try:
                node = ctx.lookup(task_id)
            except KeyError:
                node = None
        last = mine[-1]
        out["runs"].append(
            {
                "session": sid,
                "status": last.status,
                "result": last.result,
                "error": last.error,
                "inputs": _inputs(node, ctx),
                "attempts": [
                    {
                        "attempt": a.attempt,
                        "status": a.status,
                        "start": a.start - run.started,
                        "duration": a.duration,
                        "thread": a.thread,
                        "error": a.error,
                    }
                    for a in mine
                ],
            }
        )
    return out


def _kind(node: Any, run: Any, task_id: str) -> str:
    if node is not None:
        return "group" if node.is_group else "task"
    dynamic = run is not None and any(t == task_id for t, _s, _by in run.dynamic_tasks)
    return "dynamic task" if dynamic else "unknown"


def _inputs(node: Any, ctx: Any) -> dict[str, Any]:
    if node is None or ctx is None:
        return {}
    bound = getattr(node, "bound_kwargs", {}) or {}
    out = {}
    for name in parameter_names(node):
        if name in bound:
            out[name] = bound[name]
            continue
        value = ctx.channel.get(f"{name}.__result__", MISSING)
        if value is MISSING:
            value = ctx.channel.get(name, MISSING)
        if value is not MISSING:
            out[name] = value
    return out


def details_html(details: dict[str, Any]) -> str:
    head = f"<b>{html.escape(details['task_id'])}</b> ({html.escape(details['kind'])})"
    if not details["runs"]:
        return head + "<p>not run</p>"
    blocks = []
    for entry in details["runs"]:
        inputs = "".join(
            f"<li>{html.escape(k)} = {value_html(v)}</li>" for k, v in entry["inputs"].items()
        )
        attempts = "".join(
            f"<tr><td>{a['attempt']}</td><td>{html.escape(a['status'])}</td><td>+{a['start']:.3f} s</td>"
            f"<td>{_took(a['duration'])}</td>"
            f"<td>{html.escape(a['thread'])}</td></tr>"
            for a in entry["attempts"]
        )
        error = entry["error"]
        blocks.append(
            f"<p>session <b>{html.escape(entry['session'])}</b>: {html.escape(entry['status'])}</p>"
            f"<p>inputs (from the session's channel):</p><ul>{inputs or '<li>-</li>'}</ul>"
            f"<p>result: {value_html(entry['result'])}</p>"
            + (f"<p style='color:#b00'>error: {html.escape(f'{type(error).__name__}: {error}')}</p>" if error else "")
            + f"<table><tr><th>attempt</th><th>status</th><th>start</th><th>took</th><th>thread</th></tr>{attempts}</table>"
        )
    return head + "".join(blocks)


def _took(duration: float | None) -> str:
    return "-" if duration is None else f"{duration * 1000:.1f} ms"


class TaskInspector(widgets.HBox):
    """The graph coloured by ``run`` and, beside it, a task picker with the details."""

    def __init__(self, workflow: Any, run: Any = None, pictures: bool = True):
        self.workflow = workflow
        self.run = run if run is not None else workflow.last_run
        self.picture = widgets.HTML(graph_html(workflow, self.run) if pictures else "")
        ids = list(workflow.graph.nodes)
        if self.run is not None:
            ids += [t for t, _s, _by in self.run.dynamic_tasks if t not in ids]
        self.picker = widgets.Dropdown(options=ids, value=None, description="task")
        self.details = widgets.HTML("<i>pick a task</i>")
        self.picker.observe(self._picked, names="value")
        super().__init__([self.picture, widgets.VBox([self.picker, self.details])])

    def select(self, task_id: str) -> dict[str, Any]:
        """Show ``task_id`` (as picking it does); returns its details."""
        self.picker.value = task_id
        return task_details(self.workflow, self.run, task_id)

    def close(self) -> None:
        """Close this widget and every part of it, so that nothing keeps the run it shows."""
        close_parts(self)
        super().close()

    def _picked(self, change: Any) -> None:
        if change["new"] is not None:
            self.details.value = details_html(task_details(self.workflow, self.run, change["new"]))
