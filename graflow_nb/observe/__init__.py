"""What a person sees of a workflow: graphviz renders of its graph and of a run's sessions.

``draw_graph(wf)`` shows the wiring; ``draw_graph(wf, wf.last_run)`` shows where each
task ran and how it ended; ``draw_sessions(wf.last_run)`` shows the session tree with
the queue counters.  Each returns a ``Render`` that Jupyter displays as SVG.
"""

from __future__ import annotations

from typing import Any

from ..core.graph import TaskGraph
from .dot import graph_dot, session_tree_dot
from .render import MISSING_DOT, Render

__all__ = ["draw_graph", "draw_sessions", "graph_dot", "session_tree_dot", "Render", "MISSING_DOT"]


def draw_graph(workflow_or_graph: Any, run: Any = None) -> Render:
    """The workflow's graph (a ``workflow(...)`` or a ``TaskGraph``), coloured by ``run``."""
    graph = getattr(workflow_or_graph, "graph", workflow_or_graph)
    if not isinstance(graph, TaskGraph):
        raise TypeError(
            f"draw_graph() takes a workflow or a TaskGraph, got {type(workflow_or_graph).__name__}; "
            f"for a run's sessions use draw_sessions(run)"
        )
    name = getattr(workflow_or_graph, "name", None)
    return Render(graph_dot(graph, run, name=name))


def draw_sessions(run: Any) -> Render:
    """The session tree of ``run`` (e.g. ``wf.last_run``)."""
    if run is None or not hasattr(run, "sessions"):
        raise TypeError(
            f"draw_sessions() takes a run record such as wf.last_run, got {type(run).__name__}; "
            f"has the workflow been executed yet?"
        )
    return Render(session_tree_dot(run))
