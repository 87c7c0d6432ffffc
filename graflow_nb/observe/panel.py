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
from .captions import run_text
from .collapse import COLLAPSE_OVER
from .dot import graph_dot, session_tree_dot
from .render import Render

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from ..core.runtime.run import Run

SESSION_PREFIX = "sessions/"
_HALF = {"style": "rounded", "color": "#d0d0d0", "margin": "12"}


def run_dot(
    graph: TaskGraph,
    run: Run,
    *,
    name: str | None = None,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
    reserve: bool = False,
) -> graphviz.Digraph:
    """``cluster_graph`` (the graph coloured by ``run``) beside ``cluster_sessions``;
    ``reserve`` as in ``graph_dot``."""
    left = graph_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states, reserve=reserve)
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
    """A run's graph and session tree; its text (which nbval reads too) is the one-line
    summary and the session tree, and neither holds a time or a version."""

    def __init__(self, digraph: graphviz.Digraph, text: str):
        super().__init__(digraph, text)


def draw_run(
    workflow_or_graph: Any,
    run: Run | None = None,
    *,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
    reserve: bool = False,
) -> RunPicture:
    """Graph and session tree of ``run`` (default: the workflow's last run) side by side."""
    graph = getattr(workflow_or_graph, "graph", workflow_or_graph)
    run = run if run is not None else getattr(workflow_or_graph, "last_run", None)
    if run is None:
        raise TypeError("draw_run() needs a run: execute the workflow first, or pass run=wf.last_run")
    name = getattr(workflow_or_graph, "name", None)
    digraph = run_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states, reserve=reserve)
    return RunPicture(digraph, run_text(graph, run))

