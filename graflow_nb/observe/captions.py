"""What each picture says in words: its ``text/plain`` output.

A front end that shows no image (a terminal, a notebook diff, a screen reader, a
notebook whose images were stripped) shows this text instead, and nbval compares it,
so it names what is drawn (the workflow, its tasks, the run and its state) and holds
nothing that changes between two identical runs (no times, no addresses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.model.task import ParallelGroup
from . import _dotkit as kit
from .state import RunView

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from ..core.runtime.run import Run

TEXT_LINES = 40  # the session tree stops here: a thousand branches are a picture, not a listing


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def graph_text(graph: TaskGraph, run: Run | None, name: str | None) -> str:
    """``graph of workflow 'diamond': 4 tasks (fetch, ...), 1 parallel group``, then the
    run's summary line when the graph is coloured by a run."""
    tasks = [n for n, node in graph.nodes.items() if not isinstance(node, ParallelGroup)]
    groups = len(graph.nodes) - len(tasks)
    title = name or (run.workflow_name if run is not None else None) or "workflow"
    line = f"graph of workflow {title!r}: {counted(len(tasks), 'task')}"
    if tasks:
        line += f" ({kit.shorten(tasks)})"
    if groups:
        line += f", {counted(groups, 'parallel group')}"
    return line if run is None else f"{line}\n{RunView(run, graph).summary(graph)}"


def sessions_text(run: Run) -> str:
    """``sessions of run 4821 (succeeded)``, then the session tree."""
    return "\n".join([f"sessions of run {run.root_session_id} ({run.status})", *tree_lines(run)])


def timeline_text(run: Run) -> str:
    attempts = len(list(run.task_runs))
    return (
        f"timeline of run {run.root_session_id} ({run.status}): "
        f"{counted(attempts, 'task attempt')} in {counted(len(run.sessions), 'session')}"
    )


def run_text(graph: TaskGraph | None, run: Run) -> str:
    """The summary line, then the session tree."""
    return "\n".join([RunView(run, graph).summary(graph), *tree_lines(run)])


def tree_lines(run: Run) -> list[str]:
    """The session tree as text, cut at ``TEXT_LINES`` lines."""
    lines = run.session_tree().splitlines()
    if len(lines) > TEXT_LINES:
        lines = [*lines[:TEXT_LINES], f"... {len(lines) - TEXT_LINES} more sessions"]
    return lines
