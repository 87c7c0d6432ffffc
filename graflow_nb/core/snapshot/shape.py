"""A graph's shape without its code, and the refusal of a graph that changed shape."""

from __future__ import annotations

from typing import Any

from ..checks import shown
from ..model.graph import TaskGraph
from ..model.task import Executable
from .values import GraphChangedError, GraphShape


# -- graph shape ------------------------------------------------------------------------
def graph_shape(graph: TaskGraph) -> GraphShape:
    """The graph's tasks, edges and groups, which a checkpoint keeps to refuse a resume
    on a workflow wired differently."""
    nodes = tuple(sorted(f"{_kind(node)}:{task_id}" for task_id, node in graph.nodes.items()))
    edges = tuple(sorted(graph.edges))
    groups = tuple(sorted((g.task_id, tuple(g.member_ids)) for g in graph.groups()))
    return GraphShape(nodes, edges, groups)


def _kind(node: Executable) -> str:
    return "map" if node.is_map else "group" if node.is_group else "task"


def check_shape(saved: GraphShape, graph: TaskGraph, workflow_name: str) -> None:
    """Refuse ``graph`` if it is not wired as ``saved`` was, naming every difference."""
    now = graph_shape(graph)
    if now == saved:
        return
    added: dict[str, list[Any]] = {
        "tasks": sorted(set(now.nodes) - set(saved.nodes)),
        "edges": sorted(set(now.edges) - set(saved.edges)),
        "groups": sorted(set(now.groups) - set(saved.groups)),
    }
    removed: dict[str, list[Any]] = {
        "tasks": sorted(set(saved.nodes) - set(now.nodes)),
        "edges": sorted(set(saved.edges) - set(now.edges)),
        "groups": sorted(set(saved.groups) - set(now.groups)),
    }
    parts = []
    for verb, table in (("added", added), ("removed", removed)):
        for what, items in table.items():
            if items:
                listed = ", ".join(_show_item(i) for i in items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "")
                parts.append(f"{verb} {what}: {listed}")
    raise GraphChangedError(
        f"workflow {shown(workflow_name)} is wired differently from the run in the checkpoint "
        f"({'; '.join(parts)}); a checkpoint continues only the graph it was taken from: undo "
        f"the change, or run the new graph from the start",
        added,
        removed,
    )


def _show_item(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], tuple):
        return f"{shown(item[0], 40)}[{', '.join(shown(m, 30) for m in item[1])}]"
    if isinstance(item, tuple):
        return " >> ".join(shown(x, 40) for x in item)
    return shown(item, 60)
