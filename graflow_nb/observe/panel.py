"""A run at a glance: its graph and its session tree side by side, in one drawing.

Both halves go into one DOT graph (two top-level clusters), so the picture is one
``Render``: one ``dot`` call to lay it out, one SVG to show, and ``.save()`` to SVG or
PNG like any other render.  Session nodes are named ``sessions/<id>`` there so a task
and a session with the same name stay two nodes.  This is what the live view redraws
while a run goes, and what it leaves in the cell when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import graphviz

from . import _dotkit as kit
from .collapse import COLLAPSE_OVER
from .dot import graph_dot, session_tree_dot
from .render import MISSING_DOT, Render
from .state import RunView

if TYPE_CHECKING:
    from ..core.graph import TaskGraph
    from ..core.run import Run

SESSION_PREFIX = "sessions/"
TEXT_LINES = 40  # the text/plain session tree stops here: a thousand branches are a picture, not a listing
_HALF = {"style": "rounded", "color": "#d0d0d0", "margin": "12"}


def run_dot(
    graph: TaskGraph,
    run: Run,
    *,
    name: str | None = None,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
) -> graphviz.Digraph:
    """``cluster_graph`` (the graph coloured by ``run``) beside ``cluster_sessions``."""
    left = graph_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states)
    right = session_tree_dot(run, collapse_over=collapse_over, expand=expand, prefix=SESSION_PREFIX)
    title = name or run.workflow_name or "workflow"
    outer = kit.Digraph(name=kit.name(title), graph_attr={"rankdir": "TB", **kit.FONT})
    for half, drawing in (("cluster_graph", left), ("cluster_sessions", right)):
        attrs = {**drawing.graph_attr, **_HALF}
        outer.subgraph(
            kit.Digraph(
                name=half,
                graph_attr=attrs,
                node_attr=drawing.node_attr,
                edge_attr=drawing.edge_attr,
                body=list(drawing.body),
            )
        )
    return outer


class RunPicture(Render):
    """A run's graph and session tree; Jupyter shows the SVG, nbval also reads the text
    (a one-line summary and the session tree), and neither holds a time or a version."""

    def __init__(self, digraph: graphviz.Digraph, text: str):
        super().__init__(digraph)
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        svg = self.svg
        if svg is None:
            return {"text/plain": f"{self.text}\n{MISSING_DOT}; DOT source follows\n{self.source}"}
        return {"image/svg+xml": svg, "text/plain": self.text}


def draw_run(
    workflow_or_graph: Any,
    run: Run | None = None,
    *,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
) -> RunPicture:
    """Graph and session tree of ``run`` (default: the workflow's last run) side by side."""
    graph = getattr(workflow_or_graph, "graph", workflow_or_graph)
    run = run if run is not None else getattr(workflow_or_graph, "last_run", None)
    if run is None:
        raise TypeError("draw_run() needs a run: execute the workflow first, or pass run=wf.last_run")
    name = getattr(workflow_or_graph, "name", None)
    digraph = run_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states)
    return RunPicture(digraph, run_text(graph, run))


def run_text(graph: TaskGraph | None, run: Run) -> str:
    """The summary line, then the session tree (cut at ``TEXT_LINES`` lines)."""
    lines = run.session_tree().splitlines()
    if len(lines) > TEXT_LINES:
        lines = [*lines[:TEXT_LINES], f"... {len(lines) - TEXT_LINES} more sessions"]
    return "\n".join([RunView(run, graph).summary(graph), *lines])
