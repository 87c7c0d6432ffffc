"""Which parts of a wide drawing fold into one node.

A fan-out of a thousand branches draws as a thousand boxes in one row: unreadable, and
slow to lay out once each branch also gets its session cluster.  A group with more
members than ``collapse_over`` is drawn as ``fork -> "N branches" -> join`` instead,
with everything inside its members (their chains, nested groups, the sessions they ran
in) left out; ``expand`` names groups to draw in full anyway, and
``collapse_over=None`` draws every group in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..core.model.task import ParallelGroup

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from .state import RunView

COLLAPSE_OVER = 50


def check_limit(collapse_over: int | None) -> int | None:
    if collapse_over is not None and (not isinstance(collapse_over, int) or collapse_over < 1):
        raise ValueError(f"collapse_over must be a positive int or None (never collapse), got {collapse_over!r}")
    return collapse_over


def folded_groups(
    graph: TaskGraph, order: list[str], collapse_over: int | None, expand: Iterable[str]
) -> tuple[list[str], set[str]]:
    """``(groups drawn as one node, in order; graph nodes hidden inside them)``.

    ``order`` is topological, so an outer group is decided before the groups nested in
    it (which are hidden with it and need no decision of their own).
    """
    if check_limit(collapse_over) is None:
        return [], set()
    keep = set(expand)
    folded: list[str] = []
    hidden: set[str] = set()
    for node_id in order:
        node = graph.nodes[node_id]
        if not isinstance(node, ParallelGroup) or node_id in hidden or node_id in keep:
            continue
        if len(node.tasks) > collapse_over:
            folded.append(node_id)
            hidden |= inside(graph, node_id)
    return folded, hidden


def inside(graph: TaskGraph, group_id: str) -> set[str]:
    """Every graph node a group's members lead to before its join: their chains, and
    the members of groups nested in them."""
    out: set[str] = set()
    stack = [m.task_id for m in graph.nodes[group_id].tasks]
    while stack:
        node_id = stack.pop()
        if node_id in out:
            continue
        out.add(node_id)
        stack.extend(graph.successors(node_id))
        node = graph.nodes.get(node_id)
        if isinstance(node, ParallelGroup):
            stack.extend(m.task_id for m in node.tasks)
    return out


def hidden_sessions(view: RunView, folded: Iterable[str]) -> set[str]:
    """The branch sessions of folded groups and every session below them."""
    groups = set(folded)
    out: set[str] = set()
    for rec in view.tree:  # depth-first: a parent is decided before its children
        if rec.group_id in groups or rec.parent_id in out:
            out.add(rec.session_id)
    return out
