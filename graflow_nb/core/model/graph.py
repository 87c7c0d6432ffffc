"""The task graph: nodes by id, ordered edges, and a read-only mode while runs use it.

Every branch of a run reads the same graph object, so it must not change under them:
while any run holds it (``reading()``), ``add_node`` / ``add_edge`` / ``remove_node``
raise ``GraphMutationError``.  Tasks a run creates on the fly (``next_task``, groups
built inside a branch) live in that run's sessions instead (see ``context``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from .. import hooks
from ..checks import shown
from ..errors import DuplicateTaskError, GraphCompilationError, GraphMutationError

if TYPE_CHECKING:
    from .task import Executable, ParallelGroup


_NO_IDS: list[str] = []  # shared and never mutated: what a node with no edges has




class TaskGraph:
    """A workflow's tasks and edges (``wf.graph``); read-only while a run uses it."""

    def __init__(self) -> None:
        self.nodes: dict[str, Executable] = {}
        self._succ: dict[str, list[str]] = {}
        self._pred: dict[str, list[str]] = {}
        self._readers = 0
        # Guards _readers and every mutation, so a mutation can't slip in as a run starts.
        self._lock = threading.Lock()
        self._topo_cache: dict[str, int] | None = None
        # What saves a run of this graph (``Run.checkpointer``), handed in by the workflow
        # that owns the graph, so a run started by hand (``ExecutionContext.create(graph)``
        # then ``WorkflowEngine().execute(ctx)``) can checkpoint as graflow's can; None
        # for a bare graph.  Never pickled: it is this process's, not the graph's.
        self.checkpointer: Any = None
        # The group nodes among ``nodes`` (same ids), kept so membership checks and
        # ``groups()`` don't scan every task of a wide graph.
        self._groups: dict[str, Any] = {}
        # Member id -> the group among them that holds it: ``|`` asks for every member
        # it adds, and a scan of every group made that O(groups) in a many-group graph.
        # A group tells the one graph it calls home (``ParallelGroup.home``) of each
        # member it takes; a graph holding a group whose home is another graph can't
        # trust its index and scans (``_foreign``).
        self._holders: dict[str, ParallelGroup] = {}
        self._foreign = False

    # -- read-only while running -------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[TaskGraph]:
        with self._lock:
            self._readers += 1
        try:
            yield self
        finally:
            with self._lock:
                self._readers -= 1

    @property
    def is_read_only(self) -> bool:
        return self._readers > 0

    def _refuse(self, what: str) -> None:
        """Called (under the lock) when a run holds the graph: ``what`` was attempted."""
        raise GraphMutationError(
            f"cannot {what}: the graph is read-only while a run is using it; "
            f"add tasks at run time with ctx.next_task(...)"
        )

    # -- mutation ----------------------------------------------------------------------
    def add_node(self, task: Executable, task_id: str | None = None) -> None:
        task_id = task_id or task.task_id
        lock = self._lock
        lock.acquire()  # not ``with``: on the build path its __exit__ costs as much again
        try:
            if self._readers:
                self._refuse(f"add node {task_id!r}")
            existing = self.nodes.get(task_id)
            if existing is not None and existing is not task:
                raise DuplicateTaskError(task_id)
            if existing is None:
                self.nodes[task_id] = task
                if task.is_group:
                    self._add_group(task_id, cast("ParallelGroup", task))
                self._topo_cache = None
        finally:
            lock.release()

    def _add_group(self, group_id: str, group: ParallelGroup) -> None:
        """``group``, just added under ``group_id``, among the groups (under the lock)."""
        self._groups[group_id] = group
        self._index(group)

    def _index(self, group: ParallelGroup) -> None:
        """Make this graph ``group``'s home if it has none, and index its members."""
        home = group.home() if group.home is not None else None
        if home is None:
            group.home = weakref.ref(self)
        elif home is not self:
            self._foreign = True
        for member_id in group.member_id_set:
            self._holders.setdefault(member_id, group)

    def add_edge(self, from_id: str, to_id: str) -> None:
        with self._lock:
            if self._readers:
                self._refuse(f"add edge {from_id!r} -> {to_id!r}")
            for node_id in (from_id, to_id):
                if node_id not in self.nodes:
                    raise KeyError(f"no node {node_id!r} in the graph; add it first")
            self._add_edge(from_id, to_id)

    def link(self, left: Executable, right: Executable) -> None:
        """``left >> right``: each node joins if it is new, then the edge; one lock
        taken for all three, since a chain does this once per task."""
        left_id, right_id = left.task_id, right.task_id
        nodes = self.nodes
        lock = self._lock
        lock.acquire()  # as in add_node
        try:
            if nodes.get(left_id) is not left or nodes.get(right_id) is not right:
                self._join(left)
                self._join(right)
            if self._readers:
                self._refuse(f"add edge {left_id!r} -> {right_id!r}")
            self._add_edge(left_id, right_id)
        finally:
            lock.release()

    def _join(self, node: Executable) -> None:
        """``node`` among the nodes unless it is there already (called under the lock)."""
        node_id = node.task_id
        existing = self.nodes.get(node_id)
        if existing is node:
            return
        if self._readers:
            self._refuse(f"add node {node_id!r}")
        if existing is not None:
            raise DuplicateTaskError(node_id)
        self.nodes[node_id] = node
        if node.is_group:
            self._add_group(node_id, cast("ParallelGroup", node))
        self._topo_cache = None

    def _add_edge(self, from_id: str, to_id: str) -> None:
        """The edge, once (called under the lock, both nodes present).  Whether it is
        there already is read from the shorter of the two lists: a source wired to
        10,000 tasks one edge at a time would otherwise scan its list every time."""
        succ = self._succ.get(from_id)
        pred = self._pred.get(to_id)
        if succ is None:
            self._succ[from_id] = [to_id]
        elif pred is not None and (to_id in succ if len(succ) <= len(pred) else from_id in pred):
            return
        else:
            succ.append(to_id)
        if pred is None:
            self._pred[to_id] = [from_id]
        else:
            pred.append(from_id)
        self._topo_cache = None

    def remove_node(self, task_id: str) -> None:
        with self._lock:
            if self._readers:
                self._refuse(f"remove node {task_id!r}")
            node = self.nodes.pop(task_id, None)
            if self._groups.pop(task_id, None) is not None:
                group = cast("ParallelGroup", node)
                if group.home is not None and group.home() is self:
                    group.home = None
                for member_id in group.member_id_set:
                    if self._holders.get(member_id) is group:
                        del self._holders[member_id]
            for other in self._succ.pop(task_id, []):
                self._pred[other].remove(task_id)
            for other in self._pred.pop(task_id, []):
                self._succ[other].remove(task_id)
            self._topo_cache = None

    def rename_node(self, old_id: str, new_id: str) -> None:
        with self._lock:
            if self._readers:
                self._refuse(f"rename node {old_id!r}")
            if new_id in self.nodes:
                raise DuplicateTaskError(new_id)
            # Only the node's neighbours' lists name it: a group renamed as it is built
            # (``(a | b).set_group_name(...)``) costs its degree, not the graph's size.
            successors, predecessors = list(self._succ.get(old_id, ())), list(self._pred.get(old_id, ()))
            for other in successors:
                self._pred[other] = [new_id if x == old_id else x for x in self._pred[other]]
            for other in predecessors:
                self._succ[other] = [new_id if x == old_id else x for x in self._succ[other]]
            self.nodes = _rekeyed(self.nodes, old_id, new_id)
            self._groups = _rekeyed(self._groups, old_id, new_id)
            self._succ = _rekeyed(self._succ, old_id, new_id)
            self._pred = _rekeyed(self._pred, old_id, new_id)
            self._topo_cache = None

    def clear(self) -> None:
        with self._lock:
            if self._readers:
                self._refuse("clear the graph")
            self.nodes.clear()
            for group in self._groups.values():
                if group.home is not None and group.home() is self:
                    group.home = None
            self._groups.clear()
            self._holders.clear()
            self._foreign = False
            self._succ.clear()
            self._pred.clear()
            self._topo_cache = None

    # -- queries -----------------------------------------------------------------------
    def get_node(self, task_id: str) -> Executable:
        node = self.nodes.get(task_id)
        if node is None:
            raise KeyError(f"no task {shown(task_id)} in the graph (known: {known_ids(self.nodes)})")
        return node

    def has_node(self, task_id: str) -> bool:
        return task_id in self.nodes

    def successors(self, task_id: str) -> list[str]:
        return self._succ.get(task_id, _NO_IDS)

    def predecessors(self, task_id: str) -> list[str]:
        return self._pred.get(task_id, _NO_IDS)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a, b) for a, succ in self._succ.items() for b in succ]

    def groups(self) -> list[Any]:
        """Every parallel group node, in the order they were added."""
        return list(self._groups.values())

    def group_holding(self, task_id: str, besides: Any = None) -> str | None:
        """The id of a group (other than ``besides``) that has ``task_id`` as a member."""
        group = self._holders.get(task_id)
        if group is None and not self._foreign:
            return None
        if group is not None and group is not besides and task_id in group.member_id_set:
            group_id = group.task_id
            if self._groups.get(group_id) is group:
                return group_id
        # Held by ``besides``, by a group renamed under it, or this graph holds a group
        # another graph indexes: ask every group.
        for group_id, other in self._groups.items():
            if other is not besides and task_id in other.member_id_set:
                return group_id
        return None

    def note_member(self, group: ParallelGroup, member_id: str) -> None:
        """``group``, whose home this graph is, has just taken ``member_id``."""
        self._holders.setdefault(member_id, group)

    def member_ids(self) -> set[str]:
        """Every task that is a member of some parallel group."""
        return {m.task_id for g in self.groups() for m in g.tasks}

    def get_parallel_group_members(self, group_id: str) -> list[str]:
        """The member task ids of group ``group_id`` in declaration order ([] for any
        other id), as graflow's ``TaskGraph`` gives them."""
        node = self.nodes.get(group_id)
        return list(cast("ParallelGroup", node).member_ids) if node is not None and node.is_group else []

    def get_start_nodes(self) -> list[str]:
        """Nodes nothing leads to: no predecessor and not a member of any group."""
        members = self.member_ids()
        return [n for n in self.nodes if not self._pred.get(n) and n not in members]

    def detect_cycles(self) -> list[list[str]]:
        """Each cycle of plain edges once, as a list of node ids (group membership excluded)."""
        cycles: list[list[str]] = []
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in self._succ.get(node, []):
                if state.get(nxt) == 1:
                    cycles.append(stack[stack.index(nxt):] + [nxt])
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[node] = 2

        for node in self.nodes:
            if node not in state:
                visit(node)
        return cycles

    def topological_index(self) -> dict[str, int]:
        """A stable order (topological, ties by declaration); members follow their group."""
        cache = self._topo_cache
        if cache is not None:
            return cache
        order: dict[str, int] = {}
        indegree = {n: len(self._pred.get(n, ())) for n in self.nodes}
        ready = [n for n in self.nodes if indegree[n] == 0]
        members = self.member_ids()
        ready = [n for n in ready if n not in members] + [n for n in ready if n in members]
        pending = ready[::-1]  # a stack, next node last: a wide group pushes its members once
        while pending:
            node = pending.pop()
            if node in order:
                continue
            order[node] = len(order)
            expansion: list[str] = []
            item = self.nodes.get(node)
            if item is not None and item.is_group:
                expansion = [m.task_id for m in cast("ParallelGroup", item).tasks if m.task_id not in order]
            for nxt in self._succ.get(node, ()):
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    expansion.append(nxt)
            pending += [n for n in reversed(expansion) if n not in order]
        for node in self.nodes:
            order.setdefault(node, len(order))
        self._topo_cache = order
        return order

    def nx_graph(self) -> Any:
        """The graph as a ``networkx.DiGraph`` (needs networkx, which is optional:
        ``pip install "graflow_nb[graflow]"``)."""
        try:
            import networkx as nx
        except ModuleNotFoundError as missing:
            raise ModuleNotFoundError(
                'TaskGraph.nx_graph() needs networkx: pip install "graflow_nb[graflow]" (or networkx); '
                "graflow_nb.utils.graph draws a TaskGraph without it",
                name="networkx",
            ) from missing

        g = nx.DiGraph()
        for node_id, node in self.nodes.items():
            g.add_node(node_id, task=node)
        g.add_edges_from(self.edges)
        return g

    def describe(self) -> str:
        """A plain-text summary (graflow's needs matplotlib; this needs nothing)."""
        lines = [f"TaskGraph: {len(self.nodes)} nodes, {len(self.edges)} edges"]
        for node_id, node in self.nodes.items():
            succ = ", ".join(self._succ.get(node_id, ())) or "-"
            if node.is_group:
                lines.append(f"  {node_id} = ({' | '.join(cast('ParallelGroup', node).member_ids)}) -> {succ}")
            else:
                lines.append(f"  {node_id} -> {succ}")
        return "\n".join(lines)

    def __str__(self) -> str:
        """graflow's ``print(wf.graph)``: an ASCII drawing (``utils.graph.draw_ascii``,
        plugged in by the package above the engine), else the plain summary."""
        return hooks.ASCII_DRAWING(self) if hooks.ASCII_DRAWING is not None else self.describe()

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self.nodes

    def __getstate__(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "succ": self._succ, "pred": self._pred}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self)
        self.nodes, self._succ, self._pred = state["nodes"], state["succ"], state["pred"]
        self._groups = {k: v for k, v in self.nodes.items() if v.is_group}
        for group in self._groups.values():
            self._index(group)


def _rekeyed(table: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``table`` with key ``old`` named ``new`` in the same place (order is declaration
    order): in place when it is the last key, the common case; else a copy."""
    if old not in table:
        return table
    if next(reversed(table)) == old:
        table[new] = table.pop(old)
        return table
    return {(new if k == old else k): v for k, v in table.items()}


def known_ids(ids: Any, keep: int = 10) -> str:
    """``'a', 'b', ... (+N more)``: enough of a long id list to spot a typo."""
    names = sorted(ids)
    text = ", ".join(shown(n, 40) for n in names[:keep])
    return text + (f", ... (+{len(names) - keep} more)" if len(names) > keep else "") if names else "none"


def require_single_start(graph: TaskGraph) -> str:
    starts = graph.get_start_nodes()
    if len(starts) == 1:
        return starts[0]
    if not starts:
        if not graph.nodes:
            raise GraphCompilationError("No start node found: the workflow has no tasks.")
        raise GraphCompilationError(
            "No start node found: every task has a predecessor (the graph is a cycle); "
            "pass one, e.g. execute('" + next(iter(graph.nodes)) + "')"
        )
    raise GraphCompilationError(
        f"Multiple start nodes found, please specify one: {', '.join(repr(s) for s in starts)} "
        f"have no predecessor; call execute({starts[0]!r}) or wire them together"
    )
