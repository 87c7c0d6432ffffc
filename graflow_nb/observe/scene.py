"""What the in-browser graph (``notebook.graph_view.GraphView``) is sent for one moment
of a run: the DOT to lay out, and per drawn node what to show over that layout.

The browser lays out ``dot`` (Graphviz compiled to WebAssembly) only when it changes.
While a run goes, most frames change only states: colours, the caption line under a
task's name, a folded group's tally.  So a frame is split in two:

- ``layout_key``: the DOT source with every attribute a state changes taken out
  (labels, colours, styles, shapes, tooltips).  Two frames with the same key have the
  same nodes, edges and clusters, so the browser keeps its layout and only repaints;
- ``nodes`` / ``clusters``: per DOT node (cluster) name, its fill, its label lines and
  the lines of its hover tip (state, session, duration, attempts, a result or error
  preview; for a session its queue counts and what it ran).

A repaint cannot change a node's shape (a task that fails is an octagon once laid out
again): the view lays out again when the run ends, so the last picture is exact.

Names are the DOT names ``graph_dot`` / ``session_tree_dot`` / ``run_dot`` give nodes,
which is what Graphviz writes as each SVG group's ``<title>``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.model.task import ParallelGroup
from ..debug.values import brief
from . import _dotkit as kit
from .collapse import COLLAPSE_OVER, folded_groups
from .dot import fork_name, graph_dot, join_name, tally
from .panel import SESSION_PREFIX, run_dot
from .state import TASK_STATES, RunView, worst

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from ..core.runtime.run import Run, SessionRecord

PREVIEW = 80  # characters of a result or error in a hover tip
# Attributes a state change rewrites; what is left of the DOT is the layout's shape.
_STATE_ATTRS = re.compile(
    r'\b(?:label|fillcolor|style|shape|color|margin|tooltip|penwidth)=(?:"(?:[^"\\]|\\.)*"|<[^>]*>|[^\s\]]+)'
)


def layout_key(source: str) -> str:
    """``source`` without the attributes a state change rewrites (see the module docstring)."""
    return _STATE_ATTRS.sub("", source)


@dataclass
class Scene:
    """One frame for the browser: ``dot`` to lay out, and what to paint over it."""

    dot: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: str = ""
    digraph: Any = None  # the graphviz.Digraph, for a static picture of the same frame

    @property
    def layout_key(self) -> str:
        return layout_key(self.dot)


def build_scene(
    graph: TaskGraph,
    run: Run | None,
    *,
    name: str | None = None,
    sessions: bool = False,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
    reserve: bool = False,
) -> Scene:
    """The frame for ``graph`` coloured by ``run``; ``sessions`` draws the session tree
    beside it (as ``run_dot``; needs a run)."""
    if sessions and run is not None:
        digraph = run_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states,
                          reserve=reserve)
    else:
        digraph = graph_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states,
                            reserve=reserve)
    scene = Scene(dot=digraph.source, digraph=digraph)
    view = RunView(run, graph, states) if run is not None or states else None
    _task_nodes(scene, graph, view, collapse_over, expand)
    if view is not None and run is not None:
        _clusters(scene, view)
        if sessions:
            _session_nodes(scene, view)
        scene.progress = progress_text(view, graph, collapse_over, expand)
    return scene


def progress_text(view: RunView, graph: TaskGraph, collapse_over: int | None = COLLAPSE_OVER,
                  expand: Iterable[str] = ()) -> str:
    """``"12/1003 tasks done, 4 running, ...; ParallelGroup_1: members done 8/1000"``:
    the run's counts, and each folded group's members done."""
    p = view.progress(graph)
    run = view.run
    assert run is not None
    elapsed = (run.ended or time.time()) - run.started
    paused = f"{p['paused']} paused, " if p["paused"] else ""
    line = (f"{p['done']}/{p['known']} tasks done, {p['running']} running, {paused}{p['queued']} queued, "
            f"{len(view.tree)} sessions, {elapsed:.1f} s")
    order = sorted(graph.nodes, key=graph.topological_index().__getitem__)
    folded, _hidden = folded_groups(graph, order, collapse_over, expand)
    for group_id in folded:
        members = [m.task_id for m in graph.nodes[group_id].tasks]
        done = sum(1 for m in members if view.state(m)[0] in ("succeeded", "failed", "cancelled", "skipped"))
        line += f"; {group_id}: members done {done}/{len(members)}"
    return line


def _task_nodes(scene: Scene, graph: TaskGraph, view: RunView | None, collapse_over: int | None,
                expand: Iterable[str]) -> None:
    order = sorted(graph.nodes, key=graph.topological_index().__getitem__)
    folded, hidden = folded_groups(graph, order, collapse_over, expand)
    ids = [n for n in order if n not in hidden]
    if view is not None:
        ids += [t for t in view.dynamic if t not in graph.nodes]
    for task_id in ids:
        node = graph.nodes.get(task_id)
        if isinstance(node, ParallelGroup):
            info = _task_info(task_id, view, kind="group")
            members = [m.task_id for m in node.tasks]
            info["tip"].insert(1, f"{len(members)} members: {kit.shorten(members)}")
            scene.nodes[fork_name(task_id)] = {**info, "lines": [f"fork {task_id}"]}
            scene.nodes[join_name(task_id)] = {**info, "kind": "join", "lines": [f"join {task_id}"]}
            if task_id in folded:
                scene.nodes[kit.internal(task_id, "branches")] = _folded_info(task_id, members, view)
            continue
        info = _task_info(task_id, view, kind="task")
        scene.nodes[kit.user(task_id)] = info


def _task_info(task_id: str, view: RunView | None, kind: str) -> dict[str, Any]:
    if view is None:
        return {"kind": kind, "id": task_id, "state": "", "fill": kit.WHITE, "lines": [task_id], "tip": [task_id]}
    state, session = view.state(task_id)
    tip = [task_id, f"state: {state}", f"session: {session or '-'}"]
    tr = view.last.get(task_id)
    if tr is not None:
        took = tr.duration
        tip.append(f"duration: {took * 1000:.1f} ms" if took is not None else "duration: running")
        tries = [a for a in view.attempts if a.task_id == task_id and a.order_key == tr.order_key]
        tip.append(f"attempts: {len(tries)}")
        if view.counts.get(task_id, 0) > 1:
            tip.append(f"ran {view.counts[task_id]} times")
        if tr.error is not None:
            tip.append(f"error: {_cut(f'{type(tr.error).__name__}: {tr.error}')}")
        elif tr.end is not None and tr.status == "succeeded":
            tip.append(f"result: {brief(tr.result, PREVIEW)}")
    look = kit.task_style(state)
    lines = [task_id, view.caption(task_id)] if kind == "task" else [task_id]
    return {"kind": kind, "id": task_id, "state": state, "session": session, "fill": look["fillcolor"],
            "lines": lines, "tip": tip, **_pen(look["style"] if kind == "task" else "filled")}


def _pen(style: str) -> dict[str, Any]:
    """The outline a state's style draws (as Graphviz writes it in SVG), for a repaint."""
    dash = "5,2" if "dashed" in style else "1,5" if "dotted" in style else ""
    return {"dash": dash, "bold": "bold" in style}


def _folded_info(group_id: str, members: list[str], view: RunView | None) -> dict[str, Any]:
    lines = [f"{len(members)} branches"]
    tip = [f"{group_id}: {len(members)} branches (folded)"]
    fill = kit.WHITE
    state = ""
    if view is not None:
        states = [view.state(m)[0] for m in members]
        counts: dict[str, int] = {}
        for s in states:
            counts[s] = counts.get(s, 0) + 1
        by_count = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "cancelled", "skipped"))
        lines.append(_ordered_tally(states))
        tip += [f"members done {done}/{len(members)}", by_count]
        state = worst(states)
        fill = kit.task_style(state)["fillcolor"]
    return {"kind": "folded", "id": group_id, "state": state, "fill": fill, "lines": lines, "tip": tip}


def _ordered_tally(states: list[str]) -> str:
    """The same tally line ``graph_dot`` draws in a folded node (so a repaint matches it)."""
    return tally(states, TASK_STATES)


def _clusters(scene: Scene, view: RunView) -> None:
    """Tips for the session clusters drawn (a folded group's thousand sessions are not)."""
    for rec in view.tree:
        name = "cluster_" + kit.user(rec.session_id)
        if rec.session_id == view.root or name not in scene.dot:
            continue
        scene.clusters[name] = {
            "kind": "session",
            "id": rec.session_id,
            "label": f"{rec.session_id} ({rec.state})",
            "tip": _session_tip(rec),
        }


def _session_nodes(scene: Scene, view: RunView) -> None:
    """Tips for the session tree's boxes drawn (folded sessions are one summary box)."""
    for rec in view.tree:
        name = SESSION_PREFIX + kit.user(rec.session_id)
        if name not in scene.dot:
            continue
        scene.nodes[name] = {
            "kind": "session",
            "id": rec.session_id,
            "state": rec.state,
            "fill": kit.SESSION_FILL.get(rec.state, kit.WHITE),
            "tip": _session_tip(rec),
        }


def _session_tip(rec: SessionRecord) -> list[str]:
    queued = rec.queued
    return [
        f"session {rec.session_id} ({rec.state})",
        f"enqueued {rec.enqueued} / dequeued {rec.dequeued} / queued {len(queued)}",
        f"ran {kit.shorten(list(rec.tasks_run)) or '-'}",
        *([f"queue: {kit.shorten(queued)}"] if queued else []),
    ]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."
