"""Turning edge-format graphs into nested sequences and parallel blocks.

The engine runs a fan-out concurrently only through a parallel group, so an edge list
is decomposed into what the operators would have written: ``f >> (a | v) >> c`` for
``f->a, f->v, a->c, v->c``.  The decomposition is the classic one for vertex
series-parallel graphs, on the transitive reduction (an edge implied by a longer path
adds no ordering and is dropped):

    several weakly connected parts    -> a parallel block of the parts
    a split into P then Q where the edges between them are exactly
    every sink of P to every source of Q  -> P, then Q (a sequence)

A part with neither (say ``a->c, a->d, b->d``) is not nested fan-out/fan-in; it stays
a ``region`` of plain edges, which the engine runs in one session in dependency order
(each node once, a join after all its predecessors), just not concurrently.  A region
with several entry nodes cannot be one branch of a group (a branch starts from one
task), so such a block is merged into one region; at the very start of the graph that
leaves several start nodes, which the validator reports.

>>> succ = reduce(["f", "a", "v", "c"], [("f", "a"), ("f", "v"), ("a", "c"), ("v", "c"), ("f", "c")])
>>> succ["f"]
['a', 'v']
>>> decompose(["f", "a", "v", "c"], succ)
('seq', ['f', ('par', ['a', 'v']), 'c'])
"""

from __future__ import annotations

from typing import Any

from ..core.errors import PicklableError

Expr = Any  # a node id | ("seq", [Expr]) | ("par", [Expr]) | ("region", [ids])


def find_cycles(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Each cycle found by a depth-first search, as ``[a, b, ..., a]``.  The search
    keeps its own stack, so a chain of any length is fine."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}
    path: list[str] = []
    cycles: list[list[str]] = []
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        path.append(root)
        pending = [iter(succ[root])]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                pending.pop()
                state[path.pop()] = 2
            elif state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(succ[nxt]))
    return cycles


def topological(nodes: list[str], succ: dict[str, list[str]]) -> list[str]:
    """Kahn's order, ties broken by declaration order (the order of ``nodes``)."""
    rank = {n: i for i, n in enumerate(nodes)}
    inside = set(nodes)
    indegree = {n: 0 for n in nodes}
    for n in nodes:
        for s in succ[n]:
            if s in inside:
                indegree[s] += 1
    ready = sorted((n for n in nodes if indegree[n] == 0), key=rank.__getitem__)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for s in succ[node]:
            if s in inside:
                indegree[s] -= 1
                if indegree[s] == 0:
                    ready.append(s)
                    ready.sort(key=rank.__getitem__)
    return order


def ancestors(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Every node's set of upstream nodes (for an acyclic graph)."""
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        pred[b].append(a)
        succ[a].append(b)
    out: dict[str, set[str]] = {}
    for node in topological(nodes, succ):
        out[node] = set().union(*({p} | out[p] for p in pred[node])) if pred[node] else set()
    return out


def reduce(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Successor lists of the transitive reduction, in edge declaration order."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if b not in succ[a]:
            succ[a].append(b)
    below: dict[str, set[str]] = {}
    for node in reversed(topological(nodes, succ)):
        below[node] = set().union(*({s} | below[s] for s in succ[node])) if succ[node] else set()
    return {n: [s for s in succ[n] if not any(s in below[o] for o in succ[n] if o != s)] for n in nodes}


def entries(expr: Expr, succ: dict[str, list[str]]) -> int:
    """How many nodes ``expr`` starts from (a group member must start from one)."""
    if isinstance(expr, str):
        return 1
    kind, parts = expr
    if kind == "seq":
        return entries(parts[0], succ)
    if kind == "par":
        return 1
    return len(region_sources(parts, succ))


def region_sources(ids: list[str], succ: dict[str, list[str]]) -> list[str]:
    inside = set(ids)
    targets = {s for n in ids for s in succ[n] if s in inside}
    return [n for n in ids if n not in targets]


def _components(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    inside = set(nodes)
    links: dict[str, set[str]] = {n: set() for n in nodes}
    for n in nodes:
        for s in succ[n]:
            if s in inside:
                links[n].add(s)
                links[s].add(n)
    seen: set[str] = set()
    parts: list[list[str]] = []
    for start in nodes:
        if start in seen:
            continue
        todo, found = [start], {start}
        while todo:
            for nxt in links[todo.pop()]:
                if nxt not in found:
                    found.add(nxt)
                    todo.append(nxt)
        seen |= found
        parts.append([n for n in nodes if n in found])
    return parts


def _series_split(nodes: list[str], succ: dict[str, list[str]]) -> int | None:
    """The smallest k such that the first k nodes (topologically) precede all the rest
    with exactly sinks x sources between them, or None.

    One sweep over k with running counts, in O(nodes + edges): with ``pos`` the
    topological position, an edge (a, b) crosses split k when pos[a] < k <= pos[b]; a
    is a sink of the head while k <= min_succ[a] (its nearest successor); b is a
    source of the tail while k > max_pred[b].  The split holds when every crossing
    edge is sink -> source and there are sinks x sources of them."""
    order = topological(nodes, succ)
    size = len(order)
    pos = {n: i for i, n in enumerate(order)}
    inner = {a: [pos[b] for b in succ[a] if b in pos] for a in order}
    min_succ = {a: min(targets, default=size) for a, targets in inner.items()}
    max_pred = dict.fromkeys(order, -1)
    for a in order:
        for b in succ[a]:
            if b in pos:
                max_pred[b] = max(max_pred[b], pos[a])
    # Differences at k, accumulated as k grows: crossing, good (sink -> source) crossing
    # edges, sinks of the head, sources of the tail.
    crossing, good, sinks, sources = ([0] * (size + 2) for _ in range(4))
    for a in order:
        sinks[pos[a] + 1] += 1
        sinks[min_succ[a] + 1] -= 1
        for b in succ[a]:
            if b in pos:
                crossing[pos[a] + 1] += 1
                crossing[pos[b] + 1] -= 1
                low, high = max_pred[b], min_succ[a]
                if low < high:
                    good[low + 1] += 1
                    good[high + 1] -= 1
    for b in order:
        sources[max_pred[b] + 1] += 1
        sources[pos[b] + 1] -= 1
    c = g = h = t = 0
    for k in range(size):
        c, g, h, t = c + crossing[k], g + good[k], h + sinks[k], t + sources[k]
        if k and c == g == h * t:
            return k
    return None


class TooDeep(PicklableError, Exception):
    """``decompose`` met more nested fan-outs than its ``limit``: stop early (the rest
    of the work would be spent on a graph that will be refused anyway)."""

    def __init__(self, depth: int):
        super().__init__(f"fan-outs nest {depth} deep")
        self.depth = depth


def decompose(nodes: list[str], succ: dict[str, list[str]], limit: int | None = None, _depth: int = 0) -> Expr:
    """``nodes`` (declaration order) as nested sequences, parallel blocks and regions;
    ``TooDeep`` as soon as parallel blocks nest deeper than ``limit``.

    A sequence is peeled one series split at a time in a loop, so a long chain costs
    no recursion; only parallel nesting recurses (and ``limit`` bounds it)."""
    items: list[Expr] = []
    rest = list(nodes)
    while True:
        expr = _unsplit(rest, succ, limit, _depth)
        if expr is not None:
            items.append(expr)
            break
        k = _series_split(rest, succ)
        if k is None:
            items.append(("region", list(rest)))
            break
        head = set(topological(rest, succ)[:k])
        first = decompose([n for n in rest if n in head], succ, limit, _depth)
        items.extend(first[1] if isinstance(first, tuple) and first[0] == "seq" else [first])
        rest = [n for n in rest if n not in head]
    return items[0] if len(items) == 1 else ("seq", items)


def _unsplit(nodes: list[str], succ: dict[str, list[str]], limit: int | None, depth: int) -> Expr | None:
    """One node, or independent parts side by side; None if ``nodes`` is connected."""
    if len(nodes) == 1:
        return nodes[0]
    parts = _components(nodes, succ)
    if len(parts) == 1:
        return None
    if limit is not None and depth + 1 > limit:
        raise TooDeep(depth + 1)
    branches = [decompose(part, succ, limit, depth + 1) for part in parts]
    if any(entries(b, succ) > 1 for b in branches):
        return ("region", list(nodes))
    return ("par", branches)
