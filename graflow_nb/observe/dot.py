"""DOT builders: a workflow's graph (coloured by a run, if given) and a run's session tree.

Both are pure functions from engine records to a ``graphviz.Digraph``: nothing here runs
``dot`` or writes files (``render.Render`` does that, when asked).  Their source is
meant to be diffed and checked by nbval, so it is deterministic: nodes follow
``graph.topological_index()``, sessions follow ``run.children()``, and nothing that
changes between two identical runs (times, durations, versions) reaches it.

A parallel group has no graph edges to its members (graflow's shape), so drawing
``graph.edges`` alone would leave members floating.  Each group is drawn as two small
nodes instead: a *fork* with an edge to every member, and a *join* that the end of every
member's chain leads to and that leads on to the group's successors.

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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import graphviz

from ..core.task import ParallelGroup
from . import _dotkit as kit

if TYPE_CHECKING:
    from ..core.graph import TaskGraph
    from ..core.run import Run, SessionRecord, TaskRun

_GRAPH_ATTR = {"rankdir": "TB", "nodesep": "0.3", "ranksep": "0.4", "labelloc": "t", **kit.FONT}
_NODE_ATTR = {"shape": "box", "style": "rounded,filled", "margin": "0.15,0.06", "height": "0.4", **kit.FONT}
_EDGE_ATTR = {"color": "#555555", "arrowsize": "0.7"}
_GROUP_NODE = {"fontsize": "9", "height": "0.25", "margin": "0.08,0.02", "style": "filled", "color": "#555555"}
_GROUP_FILL = "#dce3ee"  # a group in a plain graph: no state to show
_CLUSTER_ATTR = {"style": "rounded,filled", "fillcolor": "#f6f6f6", "labeljust": "l", "fontsize": "10"}
_CLUSTER_PEN = {"merged": "#4f8f5f", "failed": "#c0392b", "cancelled": "#8c8c8c", "discarded": "#8c8c8c"}


def fork_name(group_id: str) -> str:
    return f"{group_id}/fork"


def join_name(group_id: str) -> str:
    return f"{group_id}/join"


@dataclass
class _Node:
    """One drawn node and the branch session whose cluster holds it (None: top level)."""

    name: str
    attrs: dict[str, str]
    session: str | None


def graph_dot(graph: TaskGraph, run: Run | None = None, *, name: str | None = None) -> graphviz.Digraph:
    """The graph as a ``graphviz.Digraph``; with ``run``, each task coloured by its state
    there, grouped into the branch session it ran in, plus the tasks the run created."""
    title = name or (run.workflow_name if run is not None else "") or "workflow"
    view = _RunView(run) if run is not None else None
    topo = graph.topological_index()
    order = sorted(graph.nodes, key=topo.__getitem__)
    groups = {n for n in order if isinstance(graph.nodes[n], ParallelGroup)}

    def head(node_id: str) -> str:
        return fork_name(node_id) if node_id in groups else node_id

    def tail(node_id: str) -> str:
        return join_name(node_id) if node_id in groups else node_id

    graph_attr = {**_GRAPH_ATTR, "label": kit.label(_title(title, run))}
    dot = kit.Digraph(name=kit.name(title), graph_attr=graph_attr, node_attr=_NODE_ATTR, edge_attr=_EDGE_ATTR)
    nodes: list[_Node] = []
    for node_id in order:
        if node_id in groups:
            nodes.extend(_group_nodes(node_id, view))
        else:
            nodes.append(_task_node(node_id, view))
    spawns: list[tuple[str, str]] = []
    if view is not None:
        for task_id, spawned_by in view.dynamic_tasks(exclude=graph.nodes):
            nodes.append(_task_node(task_id, view, dynamic=True))
            if spawned_by is not None:
                spawns.append((tail(spawned_by), task_id))
    _emit_nodes(dot, nodes, run)

    for node_id in order:
        if node_id in groups:
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
            dot.edge(kit.name(spawner), kit.name(task_id), style="dashed")
    return dot


def session_tree_dot(run: Run, *, name: str | None = None) -> graphviz.Digraph:
    """One box per session, parent above children: state, queue counters, tasks run."""
    title = name or (f"{run.workflow_name} sessions" if run.workflow_name else "sessions")
    graph_attr = {**_GRAPH_ATTR, "label": kit.label(_title(title, run))}
    dot = kit.Digraph(name=kit.name(title), graph_attr=graph_attr, node_attr=_NODE_ATTR, edge_attr=_EDGE_ATTR)
    kids = _children(run)
    tree = _walk(run, kids)
    for rec in tree:
        fill = kit.SESSION_FILL.get(rec.state, kit.WHITE)
        dot.node(kit.name(rec.session_id), label=kit.label(*_session_lines(rec)), fillcolor=fill)
    for rec in tree:
        for kid in kids.get(rec.session_id, []):
            dot.edge(kit.name(rec.session_id), kit.name(kid.session_id))
    return dot


# -- what a run says about each task ------------------------------------------------------
class _RunView:
    """The run record read once, in canonical order, so two drawings of one run agree
    however its threads interleaved."""

    def __init__(self, run: Run):
        self.run = run
        runs = sorted(list(run.task_runs), key=lambda tr: (tr.order_key, tr.attempt))
        self.last: dict[str, TaskRun] = {tr.task_id: tr for tr in runs}
        self.counts = run.task_counts()
        sessions = sorted(list(run.sessions.values()), key=lambda rec: rec.order_key)
        # A member's session is seeded with that member alone, so even a member that
        # never started (its session cancelled first) has a known home and fate.
        self.member_session = {rec.member_id: rec for rec in sessions if rec.member_id is not None}
        self.order = {rec.session_id: rec.order_key for rec in sessions}

    def state(self, task_id: str) -> tuple[str, str | None]:
        """``(state, session_id)`` from the task's last attempt, else from its member session."""
        tr = self.last.get(task_id)
        if tr is not None:
            return tr.status, tr.session_id
        rec = self.member_session.get(task_id)
        if rec is not None:
            return ("cancelled" if rec.state == "cancelled" else "pending"), rec.session_id
        return "pending", None

    def caption(self, task_id: str) -> str:
        state, _ = self.state(task_id)
        tr = self.last.get(task_id)
        extra = []
        if self.counts.get(task_id, 0) > 1:
            extra.append(f"ran {self.counts[task_id]}x")
        if tr is not None and tr.attempt > 1:
            extra.append(f"attempt {tr.attempt}")
        return f"{state} ({', '.join(extra)})" if extra else state

    def dynamic_tasks(self, exclude: Any) -> list[tuple[str, str | None]]:
        """``(task_id, spawned_by)`` once per task, sessions in fork order; within one
        session the order tasks were added (one thread adds them)."""
        entries = list(self.run.dynamic_tasks)
        entries.sort(key=lambda e: self.order.get(e[1], ()))
        seen: set[str] = set()
        out = []
        for task_id, _session, spawned_by in entries:
            if task_id in seen or task_id in exclude:
                continue
            seen.add(task_id)
            out.append((task_id, spawned_by))
        return out

    def home(self, task_id: str) -> str | None:
        _, session = self.state(task_id)
        if session is None:
            for dyn_id, dyn_session, _by in self.run.dynamic_tasks:
                if dyn_id == task_id:
                    session = dyn_session
                    break
        return None if session == self.run.root_session_id else session


def _task_node(task_id: str, view: _RunView | None, dynamic: bool = False) -> _Node:
    if view is None:
        return _Node(task_id, {"label": kit.label(task_id), "fillcolor": kit.WHITE}, None)
    state, _ = view.state(task_id)
    attrs = {"label": kit.label(task_id, view.caption(task_id)), "fillcolor": kit.TASK_FILL.get(state, kit.WHITE)}
    if dynamic:
        attrs["style"] = "rounded,filled,dashed"
    return _Node(task_id, attrs, view.home(task_id))


def _group_nodes(group_id: str, view: _RunView | None) -> list[_Node]:
    fill, session = _GROUP_FILL, None
    if view is not None:
        state, _ = view.state(group_id)
        fill = kit.TASK_FILL.get(state, kit.WHITE)
        session = view.home(group_id)
    common = {**_GROUP_NODE, "fillcolor": fill}
    fork = {**common, "label": kit.label(f"fork {group_id}"), "shape": "trapezium"}
    join = {**common, "label": kit.label(f"join {group_id}"), "shape": "invtrapezium"}
    return [_Node(fork_name(group_id), fork, session), _Node(join_name(group_id), join, session)]


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
def _emit_nodes(dot: Any, nodes: list[_Node], run: Run | None) -> None:
    """Top-level nodes first, then one ``cluster_<session>`` per branch session that
    holds a node, nested as the sessions are."""
    kids = _children(run) if run is not None else {}
    in_tree = {rec.session_id for rec in _walk(run, kids)} if run is not None else set()
    placed: dict[str | None, list[_Node]] = {}
    for node in nodes:
        placed.setdefault(node.session if node.session in in_tree else None, []).append(node)
    for node in placed.get(None, []):
        dot.node(kit.name(node.name), **node.attrs)
    if run is not None:
        _emit_clusters(dot, run.root_session_id, kids, placed)


def _emit_clusters(dot: Any, session_id: str, kids: dict, placed: dict[str | None, list[_Node]]) -> bool:
    """Clusters for ``session_id``'s children, depth first; True if any node went in."""
    drew = False
    for kid in kids.get(session_id, []):
        pen = _CLUSTER_PEN.get(kid.state, "#b0a060" if kid.state == "open" else "#888888")
        attrs = {**_CLUSTER_ATTR, "color": pen, "label": kit.label(f"{kid.session_id} ({kid.state})")}
        sub = kit.Digraph(name=kit.name(f"cluster_{kid.session_id}"), graph_attr=attrs)
        for node in placed.get(kid.session_id, []):
            sub.node(kit.name(node.name), **node.attrs)
        nested = _emit_clusters(sub, kid.session_id, kids, placed)
        if nested or kid.session_id in placed:
            dot.subgraph(sub)
            drew = True
    return drew


def _children(run: Run) -> dict[str, list[SessionRecord]]:
    """``{session_id: run.children(session_id)}`` in one pass: the same order (fork
    order, ``order_key``) without rescanning every session for every parent."""
    kids: dict[str, list[SessionRecord]] = {}
    for rec in sorted(list(run.sessions.values()), key=lambda r: r.order_key):
        if rec.parent_id is not None:
            kids.setdefault(rec.parent_id, []).append(rec)
    return kids


def _walk(run: Run, kids: dict[str, list[SessionRecord]]) -> list[SessionRecord]:
    """Sessions depth-first from the root, children in fork order."""
    out: list[SessionRecord] = []
    root = run.sessions.get(run.root_session_id)
    stack = [root] if root is not None else []
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(kids.get(current.session_id, [])))
    return out


def _session_lines(rec: SessionRecord) -> list[str]:
    lines = [rec.session_id, rec.state, f"enqueued {rec.enqueued} / dequeued {rec.dequeued}"]
    lines.append(f"ran {kit.shorten(rec.tasks_run)}" if rec.tasks_run else "ran -")
    queued = rec.queued
    if queued:
        lines.append(f"queued {kit.shorten(queued)}")
    return lines


def _title(title: str, run: Run | None) -> str:
    return title if run is None else f"{title}: run {run.root_session_id} {run.status}"
