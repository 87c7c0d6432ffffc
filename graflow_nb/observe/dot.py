"""DOT builders: a workflow's graph (coloured by a run, if given) and a run's session tree.

Both are pure functions from engine records to a ``graphviz.Digraph``: nothing here runs
``dot`` or writes files (``render.Render`` does that, when asked).  Their source is
meant to be diffed and checked by nbval, so it is deterministic: nodes follow
``graph.topological_index()``, sessions follow their fork order, and nothing that
changes between two identical runs (times, durations, versions) reaches it.

A parallel group has no graph edges to its members (graflow's shape), so drawing
``graph.edges`` alone would leave members floating.  Each group is drawn as two small
nodes instead: a *fork* with an edge to every member, and a *join* that the end of every
member's chain leads to and that leads on to the group's successors.  A group wider
than ``collapse_over`` draws its branches as one node (see ``collapse``), and task
states come from ``state.RunView``.

A branch's tasks are drawn inside its session's cluster, and a session exists only
once its group forks.  ``reserve=True`` (the live view) draws the cluster of every
branch that has not forked yet too, as ``pending``, so the layout does not jump when
the branches start.

>>> from graflow_nb import task, workflow
>>> with workflow("doc") as wf:
...     @task
...     def fetch(): return 1
...     @task
...     def a(): return 2
...     @task
...     def b(): return 3
...     @task
...     def store(): return 4
...     _ = fetch >> (a | b) >> store
>>> for line in graph_dot(wf.graph).source.splitlines():
...     if "->" in line:
...         print(line.strip())
fetch -> "ParallelGroup_1/fork"
"ParallelGroup_1/fork" -> a
"ParallelGroup_1/fork" -> b
a -> "ParallelGroup_1/join"
b -> "ParallelGroup_1/join"
"ParallelGroup_1/join" -> store
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import graphviz

from ..core.model.task import ParallelGroup
from . import _dotkit as kit
from .collapse import COLLAPSE_OVER, check_limit, folded_groups, hidden_sessions
from .state import SESSION_STATES, TASK_STATES, RunView, worst, worst_session

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from ..core.runtime.run import Run, SessionRecord
    from ..core.snapshot import ResumeMark

_GRAPH_ATTR = {"rankdir": "TB", "nodesep": "0.3", "ranksep": "0.4", "labelloc": "t", **kit.FONT}
_NODE_ATTR = {"shape": "box", "style": "rounded,filled", "margin": "0.15,0.06", "height": "0.4", **kit.FONT}
_EDGE_ATTR = {"color": "#555555", "arrowsize": "0.7"}
_GROUP_NODE = {"fontsize": "9", "height": "0.25", "margin": "0.08,0.02", "style": "filled", "color": "#555555"}
_GROUP_FILL = "#dce3ee"  # a group in a plain graph: no state to show
_FOLDED_NODE = {"shape": "box3d", "style": "filled", "fontsize": "10"}
_DYNAMIC = {"color": "#7a5fb0", "penwidth": "1.6"}  # added at run time: a purple outline
_CLUSTER_ATTR = {"style": "rounded,filled", "fillcolor": "#f6f6f6", "labeljust": "l", "fontsize": "10"}
_CLUSTER_PEN = {
    "merged": "#4f8f5f",
    "failed": "#c0392b",
    "cancelled": "#8c8c8c",
    "discarded": "#8c8c8c",
    "paused": "#d08030",
}
_PENDING_CLUSTER = {"style": "rounded,dashed", "fillcolor": "#ffffff"}  # reserved: the branch has not forked yet


def fork_name(group_id: str) -> str:
    return kit.internal(group_id, "fork")


def join_name(group_id: str) -> str:
    return kit.internal(group_id, "join")


def folded_name(group_id: str) -> str:
    return kit.internal(group_id, "branches")


@dataclass
class _Node:
    """One drawn node and the branch session whose cluster holds it (None: top level)."""

    name: str
    attrs: dict[str, str]
    session: str | None


def graph_dot(
    graph: TaskGraph,
    run: Run | None = None,
    *,
    name: str | None = None,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
    reserve: bool = False,
) -> graphviz.Digraph:
    """The graph as a ``graphviz.Digraph``; with ``run``, each task coloured and shaped
    by its state there, grouped into the branch session it ran in, plus the tasks the
    run created.  Groups wider than ``collapse_over`` members draw as one
    ``N branches`` node unless named in ``expand``; ``states`` overrides task states
    (e.g. ``{"transform_a": "paused"}``); ``reserve`` draws branches not forked yet in
    pending clusters (see above)."""
    title = name or (run.workflow_name if run is not None else "") or "workflow"
    view = RunView(run, graph, states) if run is not None or states else None
    topo = graph.topological_index()
    order = sorted(graph.nodes, key=topo.__getitem__)
    groups = {n for n in order if isinstance(graph.nodes[n], ParallelGroup)}
    folded, hidden = folded_groups(graph, order, collapse_over, expand)
    # A map's items exist only in the run: one node "items done 640/1000" unless expanded.
    opened = {n for n in groups if graph.nodes[n].is_map and n in set(expand)}
    folded += [n for n in order if n in groups and graph.nodes[n].is_map and n not in opened and n not in hidden]
    items = {n: _map_items(n, view) for n in opened}
    away = hidden_sessions(view, folded) if view is not None else set()

    def head(node_id: str) -> str:
        return fork_name(node_id) if node_id in groups else kit.user(node_id)

    def tail(node_id: str) -> str:
        return join_name(node_id) if node_id in groups else kit.user(node_id)

    graph_attr = {**_GRAPH_ATTR, "label": kit.label(_title(title, run))}
    dot = kit.Digraph(name=kit.name(title), graph_attr=graph_attr, node_attr=_NODE_ATTR, edge_attr=_EDGE_ATTR)
    nodes: list[_Node] = []
    for node_id in order:
        if node_id in hidden:
            continue
        if node_id in groups:
            nodes.extend(_group_nodes(graph, node_id, view, node_id in folded))
            nodes.extend(_task_node(item, view) for item in items.get(node_id, ()))
        else:
            nodes.append(_task_node(node_id, view))
    spawns: list[tuple[str, str]] = []
    if view is not None:
        for task_id, (session_id, spawned_by) in view.dynamic.items():
            if task_id in graph.nodes or session_id in away:
                continue
            nodes.append(_task_node(task_id, view, dynamic=True))
            if spawned_by is not None:
                spawns.append((tail(spawned_by), task_id))
    pending = _reserved_sessions(graph, order, view, nodes, {*folded, *hidden}) if reserve and view is not None else {}
    _emit_nodes(dot, nodes, view, away, pending)

    for node_id in order:
        if node_id in hidden:
            continue
        if node_id in folded:
            dot.edge(kit.name(fork_name(node_id)), kit.name(folded_name(node_id)))
            dot.edge(kit.name(folded_name(node_id)), kit.name(join_name(node_id)))
        elif node_id in opened:
            for item in items[node_id]:
                dot.edge(kit.name(fork_name(node_id)), kit.name(kit.user(item)))
                dot.edge(kit.name(kit.user(item)), kit.name(join_name(node_id)))
        elif node_id in groups:
            members = [m.task_id for m in graph.nodes[node_id].tasks]
            for member in members:
                dot.edge(kit.name(fork_name(node_id)), kit.name(head(member)))
            for member in members:
                for end in _chain_ends(graph, member):
                    dot.edge(kit.name(tail(end)), kit.name(join_name(node_id)))
        for succ in graph.successors(node_id):
            dot.edge(kit.name(tail(node_id)), kit.name(head(succ)))
    known = {n.name for n in nodes}
    for spawner, task_id in spawns:
        if spawner in known:
            dot.edge(kit.name(spawner), kit.name(kit.user(task_id)), style="dashed")
    return dot


def session_tree_dot(
    run: Run,
    *,
    name: str | None = None,
    collapse_over: int | None = COLLAPSE_OVER,
    expand: Iterable[str] = (),
    prefix: str = "",
) -> graphviz.Digraph:
    """One box per session, parent above children: state, queue counters, tasks run and
    what its queue holds now.  A parent with more than ``collapse_over`` branches of one
    group shows them as one summary box (unless the group is in ``expand``).
    ``prefix`` goes before every node name (to share one drawing with a graph)."""
    title = name or (f"{run.workflow_name} sessions" if run.workflow_name else "sessions")
    limit = check_limit(collapse_over)
    keep = set(expand)
    view = RunView(run)
    graph_attr = {**_GRAPH_ATTR, "label": kit.label(_title(title, run))}
    dot = kit.Digraph(name=kit.name(title), graph_attr=graph_attr, node_attr=_NODE_ATTR, edge_attr=_EDGE_ATTR)
    hidden: set[str] = set()
    edges: list[tuple[str, str]] = []
    for rec in view.tree:
        if rec.session_id in hidden or rec.parent_id in hidden:
            hidden.add(rec.session_id)
            continue
        fill = kit.SESSION_FILL.get(rec.state, kit.WHITE)
        lines = _session_lines(rec, run.resumed_at())
        dot.node(kit.name(prefix + kit.user(rec.session_id)), label=kit.label(*lines), fillcolor=fill)
        by_group: dict[str | None, list[SessionRecord]] = {}
        for kid in view.kids.get(rec.session_id, []):
            by_group.setdefault(kid.group_id, []).append(kid)
        for group_id, kids in by_group.items():
            if limit is not None and len(kids) > limit and group_id not in keep:
                summary = prefix + kit.internal(rec.session_id, group_id or "", "sessions")
                dot.node(kit.name(summary), **_folded_sessions(group_id, kids))
                edges.append((prefix + kit.user(rec.session_id), summary))
                hidden.update(kid.session_id for kid in kids)
            else:
                edges.extend((prefix + kit.user(rec.session_id), prefix + kit.user(kid.session_id)) for kid in kids)
    for parent, child in edges:
        dot.edge(kit.name(parent), kit.name(child))
    return dot


# -- nodes ----------------------------------------------------------------------------------
def _task_node(task_id: str, view: RunView | None, dynamic: bool = False) -> _Node:
    if view is None:
        return _Node(kit.user(task_id), {"label": kit.label(task_id), "fillcolor": kit.WHITE}, None)
    state, _ = view.state(task_id)
    attrs = {"label": kit.label(task_id, view.caption(task_id)), **kit.task_style(state)}
    if dynamic:
        attrs.update(_DYNAMIC)
    return _Node(kit.user(task_id), attrs, view.home(task_id))


def _group_nodes(graph: TaskGraph, group_id: str, view: RunView | None, folded: bool) -> list[_Node]:
    fill, session = _GROUP_FILL, None
    if view is not None:
        state, _ = view.state(group_id)
        fill = kit.task_style(state)["fillcolor"]
        session = view.home(group_id)
    common = {**_GROUP_NODE, "fillcolor": fill}
    fork = {**common, "label": kit.label(f"fork {group_id}"), "shape": "trapezium"}
    join = {**common, "label": kit.label(f"join {group_id}"), "shape": "invtrapezium"}
    out = [_Node(fork_name(group_id), fork, session)]
    if folded and graph.nodes[group_id].is_map:
        out.append(_Node(folded_name(group_id), _folded_items(graph.nodes[group_id], view), session))
    elif folded:
        members = [m.task_id for m in graph.nodes[group_id].tasks]
        out.append(_Node(folded_name(group_id), _folded_branches(group_id, members, view), session))
    out.append(_Node(join_name(group_id), join, session))
    return out


def _folded_branches(group_id: str, members: list[str], view: RunView | None) -> dict[str, str]:
    lines = [f"{len(members)} branches"]
    fill = kit.WHITE
    if view is not None:
        states = [view.state(m)[0] for m in members]
        lines.append(_tally(states, TASK_STATES))
        fill = kit.task_style(worst(states))["fillcolor"]
    hint = f"collapsed: pass expand=[{group_id!r}] (or collapse_over=None) to draw every branch"
    return {**_FOLDED_NODE, "label": kit.label(*lines), "fillcolor": fill, "tooltip": kit.label(hint)}


def _map_items(map_id: str, view: RunView | None) -> list[str]:
    """The item tasks a map forked in the run, in item order (none before it forks)."""
    if view is None:
        return []
    return [rec.member_id for rec in view.tree if rec.group_id == map_id and rec.member_id is not None]


def _folded_items(node: Any, view: RunView | None) -> dict[str, str]:
    """A map as one node: what it maps over, then (once it forked) how many items are
    done and each state's count."""
    over = node.over if node.over is None or isinstance(node.over, str) else getattr(node.over, "__name__", "a function")
    over = "its predecessor" if over is None else repr(over)
    lines = [f"map over {over}"]
    fill = kit.WHITE
    items = _map_items(node.task_id, view)
    if view is not None and items:
        states = [view.state(item)[0] for item in items]
        lines.append(f"items done {states.count('succeeded')}/{len(items)}")
        lines.append(_tally(states, TASK_STATES))
        fill = kit.task_style(worst(states))["fillcolor"]
    hint = f"folded: pass expand=[{node.task_id!r}] to draw every item"
    return {**_FOLDED_NODE, "label": kit.label(*lines), "fillcolor": fill, "tooltip": kit.label(hint)}


def _folded_sessions(group_id: str | None, kids: list[SessionRecord]) -> dict[str, str]:
    states = [kid.state for kid in kids]
    queued = sum(len(kid.queued) for kid in kids)
    lines = [
        f"{len(kids)} branch sessions",
        f"of {group_id}",
        _tally(states, SESSION_STATES),
        f"enqueued {sum(k.enqueued for k in kids)} / dequeued {sum(k.dequeued for k in kids)}",
    ]
    if queued:
        lines.append(f"queued {queued}")
    fill = kit.SESSION_FILL.get(worst_session(states), kit.WHITE)
    return {**_FOLDED_NODE, "label": kit.label(*lines), "fillcolor": fill}


def _tally(states: list[str], vocabulary: tuple[str, ...]) -> str:
    """``"60 succeeded, 4 failed"``, states in vocabulary order (then any others, sorted)."""
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    ordered = [s for s in vocabulary if s in counts] + sorted(s for s in counts if s not in vocabulary)
    return ", ".join(f"{counts[s]} {s}" for s in ordered)


def _chain_ends(graph: TaskGraph, member: str) -> list[str]:
    """Where a member's chain stops: nodes reachable from it with no successors.  A
    nested group is one step of the chain (the caller draws its join), because the
    graph has no edges into a group's members."""
    ends: list[str] = []
    seen: set[str] = set()
    stack = [member]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        succ = graph.successors(node_id)
        if not succ:
            ends.append(node_id)
        stack.extend(reversed(succ))
    return ends


# -- placing nodes in session clusters ----------------------------------------------------
@dataclass
class _PendingSession:
    """A branch session that will exist once its group forks: a cluster to reserve."""

    session_id: str
    state: str = "pending"


def _reserved_sessions(
    graph: TaskGraph, order: list[str], view: RunView, nodes: list[_Node], skip: set[str]
) -> dict[str, list[_PendingSession]]:
    """``{parent session: [pending child sessions]}`` for every member of an unfolded
    group whose session does not exist yet, named as the engine will name it
    (``f"{parent}_{member}"``); the nodes of its chain are moved into it."""
    existing = {rec.session_id for rec in view.tree}
    by_name = {node.name: node for node in nodes}
    home: dict[str, str] = {}  # node id -> the session it will run in
    out: dict[str, list[_PendingSession]] = {}
    for group_id in order:
        group = graph.nodes[group_id]
        if not isinstance(group, ParallelGroup) or group_id in skip:
            continue
        parent = view.home(group_id) or home.get(group_id) or view.root
        for member in (m.task_id for m in group.tasks):
            rec = view.member_session.get(member)
            if rec is not None:
                continue
            session_id = f"{parent}_{member}"
            if session_id in existing:
                continue
            out.setdefault(parent, []).append(_PendingSession(session_id))
            for node_id in _chain(graph, member):
                home.setdefault(node_id, session_id)
    for node_id, session_id in home.items():
        for drawn in (node_id, fork_name(node_id), join_name(node_id)):
            node = by_name.get(drawn)
            if node is not None and node.session is None:
                node.session = session_id
    return out


def _chain(graph: TaskGraph, member: str) -> list[str]:
    """A member and everything after it in its chain (what its branch session runs)."""
    seen: list[str] = []
    stack = [member]
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.append(node_id)
            stack.extend(graph.successors(node_id))
    return seen


def _emit_nodes(
    dot: graphviz.Digraph,
    nodes: list[_Node],
    view: RunView | None,
    away: set[str],
    pending: Mapping[str, list[_PendingSession]] | None = None,
) -> None:
    """Top-level nodes first, then one ``cluster_<session>`` per branch session that
    holds a node, nested as the sessions are; ``pending`` adds sessions to come."""
    kids: dict[str, list] = {sid: list(recs) for sid, recs in view.kids.items()} if view is not None else {}
    for parent, sessions in (pending or {}).items():
        kids.setdefault(parent, []).extend(sessions)
    in_tree = {rec.session_id for rec in view.tree} - away if view is not None else set()
    in_tree.update(s.session_id for sessions in (pending or {}).values() for s in sessions)
    placed: dict[str | None, list[_Node]] = {}
    for node in nodes:
        placed.setdefault(node.session if node.session in in_tree else None, []).append(node)
    for node in placed.get(None, []):
        dot.node(kit.name(node.name), **node.attrs)
    if view is not None and view.root is not None:
        _emit_clusters(dot, view.root, kids, placed)


def _emit_clusters(dot: graphviz.Digraph, session_id: str, kids: dict, placed: dict[str | None, list[_Node]]) -> bool:
    """Clusters for ``session_id``'s children, depth first; True if any node went in."""
    drew = False
    for kid in kids.get(session_id, []):
        pen = _CLUSTER_PEN.get(kid.state, "#b0a060" if kid.state == "open" else "#888888")
        attrs = {**_CLUSTER_ATTR, "color": pen, "label": kit.label(f"{kid.session_id} ({kid.state})")}
        if kid.state == "pending":
            attrs.update(_PENDING_CLUSTER)
        sub = kit.Digraph(name=kit.name("cluster_" + kit.user(kid.session_id)), graph_attr=attrs)
        for node in placed.get(kid.session_id, []):
            sub.node(kit.name(node.name), **node.attrs)
        nested = _emit_clusters(sub, kid.session_id, kids, placed)
        if nested or kid.session_id in placed:
            dot.subgraph(sub)
            drew = True
    return drew


def _session_lines(rec: SessionRecord, resumed: ResumeMark | None = None) -> list[str]:
    """State, counters, tasks run (split at the last resume from a checkpoint: what ran
    before it and after it) and what is queued."""
    lines = [rec.session_id, rec.state, f"enqueued {rec.enqueued} / dequeued {rec.dequeued}"]
    before = len(rec.tasks_run) if resumed is None else resumed.tasks_run.get(rec.session_id, 0)
    lines.append(f"ran {kit.shorten(rec.tasks_run[:before])}" if before else "ran -")
    if before < len(rec.tasks_run):
        lines.append(f"after resume {kit.shorten(rec.tasks_run[before:])}")
    queued = rec.queued
    if queued:
        lines.append(f"queued {kit.shorten(queued)}")
    if rec.worker:
        lines.append(f"on {rec.worker}")
    return lines


def _title(title: str, run: Run | None) -> str:
    return title if run is None else f"{title}: run {run.root_session_id} {run.status}"
