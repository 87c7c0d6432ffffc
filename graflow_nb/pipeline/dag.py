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

Expr = Any  # a node id | ("seq", [Expr]) | ("par", [Expr]) | ("region", [ids])


def find_cycles(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Each cycle found by a depth-first search, as ``[a, b, ..., a]``."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in succ[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in nodes:
        if node not in state:
            visit(node)
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
    with exactly sinks x sources between them, or None."""
    inside = set(nodes)
    order = topological(nodes, succ)
    for k in range(1, len(order)):
        head = set(order[:k])
        crossing = {(a, b) for a in order[:k] for b in succ[a] if b in inside and b not in head}
        sinks = [a for a in order[:k] if not any(b in head for b in succ[a])]
        tail = set(order[k:])
        has_pred_in_tail = {b for a in order[k:] for b in succ[a] if b in tail}
        sources = [b for b in order[k:] if b not in has_pred_in_tail]
        if crossing == {(a, b) for a in sinks for b in sources}:
            return k
    return None


def decompose(nodes: list[str], succ: dict[str, list[str]]) -> Expr:
    """``nodes`` (declaration order) as nested sequences, parallel blocks and regions."""
    if len(nodes) == 1:
        return nodes[0]
    parts = _components(nodes, succ)
    if len(parts) > 1:
        branches = [decompose(part, succ) for part in parts]
        if any(entries(b, succ) > 1 for b in branches):
            return ("region", list(nodes))
        return ("par", branches)
    k = _series_split(nodes, succ)
    if k is None:
        return ("region", list(nodes))
    order = topological(nodes, succ)
    head, tail = set(order[:k]), set(order[k:])
    items: list[Expr] = []
    for side in ([n for n in nodes if n in head], [n for n in nodes if n in tail]):
        expr = decompose(side, succ)
        items.extend(expr[1] if isinstance(expr, tuple) and expr[0] == "seq" else [expr])
    return ("seq", items)
