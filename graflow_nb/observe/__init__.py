"""What a person sees of a workflow: renders, a live view, and the run as pandas frames.

``draw_graph(wf)`` shows the wiring; ``draw_graph(wf, wf.last_run)`` shows where each
task ran and how it ended; ``draw_sessions(run)`` shows the session tree with the queue
counters; ``draw_run(wf)`` puts both side by side; ``draw_timeline(run)`` shows when each
task ran.  Each returns a render that Jupyter displays as SVG (PNG where SVG is not
trusted, a line of text where no image shows), with ``.source`` (DOT)
and ``.save(path)``.  ``sessions_frame`` / ``tasks_frame`` / ``events_frame`` turn a run
into pandas frames (``RunFrames(run)`` bundles the three); ``record(wf)`` keeps the
events of later runs for ``events_frame``.

``execute(..., live=True)`` uses ``live.LiveView`` (in a Jupyter kernel, the
notebook layer's ``GraphLiveView``, the same view drawn by a ``GraphView`` widget).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..core.model.graph import TaskGraph
from .captions import graph_text, sessions_text
from .collapse import COLLAPSE_OVER
from .dot import graph_dot, session_tree_dot
from .live import LiveView
from .output import OutputCapture, capture_output
from .panel import RunPicture, draw_run, run_dot
from .record import Recorder, events_of, record
from .render import MISSING_DOT, GraphRender, Render
from .timeline import Timeline, draw_timeline

__all__ = [
    "COLLAPSE_OVER", "GraphRender", "MISSING_DOT", "LiveView", "OutputCapture", "Recorder", "Render", "RunFrames", "RunPicture", "Timeline",
    "capture_output", "draw_graph", "draw_run", "draw_sessions", "draw_timeline", "events_frame", "events_of",
    "graph_dot", "record", "run_dot", "session_tree_dot", "sessions_frame", "tasks_frame",
]
# These need pandas, which takes longer to import than everything else here together.
_FRAMES = ("RunFrames", "events_frame", "sessions_frame", "tasks_frame")



def draw_graph(
    workflow_or_graph: Any,
    run: Any = None,
    *,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
) -> GraphRender:
    """The workflow's graph (a ``workflow(...)`` or a ``TaskGraph``), coloured by ``run``;
    groups wider than ``collapse_over`` fold into one node unless listed in ``expand``.
    In a Jupyter kernel it shows as a ``GraphView`` (the static picture, then the widget)."""
    graph = getattr(workflow_or_graph, "graph", workflow_or_graph)
    if not isinstance(graph, TaskGraph):
        raise TypeError(
            f"draw_graph() takes a workflow or a TaskGraph, got {type(workflow_or_graph).__name__}; "
            f"for a run's sessions use draw_sessions(run)"
        )
    name = getattr(workflow_or_graph, "name", None)
    digraph = graph_dot(graph, run, name=name, collapse_over=collapse_over, expand=expand, states=states)
    options = {"collapse_over": collapse_over, "expand": tuple(expand), "states": states}
    return GraphRender(digraph, graph_text(graph, run, name), workflow_or_graph, run, options)


def draw_sessions(run: Any, *, collapse_over: int | None = COLLAPSE_OVER, expand: Iterable[str] = ()) -> Render:
    """The session tree of ``run`` (e.g. ``wf.last_run``)."""
    if run is None or not hasattr(run, "sessions"):
        raise TypeError(
            f"draw_sessions() takes a run record such as wf.last_run, got {type(run).__name__}; "
            f"has the workflow been executed yet?"
        )
    return Render(session_tree_dot(run, collapse_over=collapse_over, expand=expand), sessions_text(run))


def __getattr__(name: str) -> Any:
    """The frame builders load pandas when first asked for, not when drawing."""
    if name in _FRAMES:
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'graflow_nb.observe' has no attribute {name!r}")
