"""graflow's ``graflow.utils.graph``: a workflow's graph as text, Mermaid, DOT or PNG.

Every function takes what graflow's take, ``wf.graph.nx_graph()`` (a networkx
``DiGraph`` whose nodes carry ``task``), and also a ``TaskGraph`` or a workflow, so
networkx is needed only by programs that build the DiGraph themselves.

A parallel group is a node with no edges to its members (as in graflow); the drawings
add them: the group forks into its members, whose chains end in a join node
``↣ ParallelGroup_N``, and the group's successors follow the join.  So
``fetch >> (a | b) >> store`` is drawn as fetch, the fork, a and b side by side, the
join, store.

The ASCII drawing is laid out by Graphviz's ``dot -Tplain`` (node centres and edge
routes), then drawn in graflow's style: ``+--+`` boxes, ``*`` edges.  No network is
used: graflow's ``draw_mermaid_png`` calls the mermaid.ink web service, and is not
offered here (``draw_png`` renders locally with ``dot``).  Nothing here needs
matplotlib, which graflow imports when this module loads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.model.graph import TaskGraph
from ..core.workflow import current_workflow

JOIN_MARK = "↣ "
_LABEL_LIMIT = 60
# dot lays boxes out in inches; one character cell is this many inches each way.
_CELL = 0.1
_BOX_LINES = 3


class GraphParts:
    """Nodes in declaration order, edges, and each group's members: what every drawing
    needs, read from a networkx DiGraph, a TaskGraph or a workflow."""

    def __init__(self, nodes: list[str], edges: list[tuple[str, str]], groups: dict[str, list[str]], source: Any):
        self.nodes = nodes
        self.edges = edges
        self.groups = groups
        self.source = source

    def cycles(self) -> list[list[str]]:
        """The cycles of plain edges as graflow prints them (``['a', 'b']``), each
        starting at its node declared first, in declaration order (networkx's own
        order varies from run to run)."""
        if hasattr(self.source, "detect_cycles"):
            found = [cycle[:-1] for cycle in self.source.detect_cycles()]
        else:
            import networkx  # the source is a networkx graph, so networkx is there

            found = [list(map(str, cycle)) for cycle in networkx.simple_cycles(self.source)]
        order = {node: i for i, node in enumerate(self.nodes)}
        rotated = []
        for cycle in found:
            start = min(range(len(cycle)), key=lambda i: order.get(cycle[i], len(order)))
            rotated.append(cycle[start:] + cycle[:start])
        return sorted(rotated, key=lambda c: [order.get(n, len(order)) for n in c])

    @classmethod
    def of(cls, graph: Any) -> GraphParts:
        inner = getattr(graph, "graph", None)
        if hasattr(inner, "get_parallel_group_members"):
            graph = inner  # a workflow: its TaskGraph (a DiGraph's .graph is its attribute dict)
        if hasattr(graph, "get_parallel_group_members") and isinstance(getattr(graph, "nodes", None), dict):
            tasks = dict(graph.nodes)
            edges = [(u, v) for u in tasks for v in graph.successors(u)]  # node order, as networkx lists them
        elif callable(getattr(graph, "nodes", None)) and callable(getattr(graph, "edges", None)):
            tasks = {str(n): data.get("task") for n, data in graph.nodes(data=True)}
            edges = [(str(u), str(v)) for u, v in graph.edges()]
        else:
            raise TypeError(
                f"expected a networkx DiGraph (wf.graph.nx_graph()), a TaskGraph or a workflow, "
                f"got {type(graph).__name__}"
            )
        groups = {
            node_id: [m.task_id for m in task.tasks]
            for node_id, task in tasks.items()
            if getattr(task, "is_group", False)
        }
        return cls(list(tasks), edges, groups, graph)

    def with_joins(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Nodes and edges with each group drawn as fork -> members -> join -> successors."""
        nodes = list(self.nodes)
        succ: dict[str, list[str]] = {n: [] for n in nodes}
        for u, v in self.edges:
            succ.setdefault(u, []).append(v)
        edges: list[tuple[str, str]] = []
        for group, members in self.groups.items():
            join = JOIN_MARK + group
            nodes.insert(nodes.index(group) + 1, join)
            for member in members:
                edges.append((group, member))
                edges.extend((tail, join) for tail in _chain_tails(member, succ))
        for u, v in self.edges:
            edges.append((JOIN_MARK + u if u in self.groups else u, v))
        return nodes, _unique(edges)


def _chain_tails(start: str, succ: dict[str, list[str]]) -> list[str]:
    """The nodes reachable from ``start`` that lead nowhere (a member chain's ends)."""
    seen, stack, tails = {start}, [start], []
    while stack:
        node = stack.pop()
        after = succ.get(node, [])
        if not after:
            tails.append(node)
        for nxt in after:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return tails or [start]


def _unique(edges: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(edges))


def _label(node: str) -> str:
    """A node id fit for one line of a box: control characters escaped, long ids cut."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in node)
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"


# -- text ----------------------------------------------------------------------------
def visualize_dependencies(graph: Any) -> None:
    """Print each node's successors, graflow's way: ``a >> b >> c`` or ``a (no dependencies)``."""
    parts = GraphParts.of(graph)
    succ: dict[str, list[str]] = {n: [] for n in parts.nodes}
    for u, v in parts.edges:
        succ[u].append(v)
    print("=== Dependencies ===")
    for node in parts.nodes:
        after = succ[node]
        print(f"{node} >> {' >> '.join(after)}" if after else f"{node} (no dependencies)")


def show_graph_info(graph: Any) -> None:
    """Print the nodes, the edges and any cycles, in graflow's words."""
    parts = GraphParts.of(graph)
    print("=== Graph Information ===")
    print(f"Nodes: {parts.nodes}")
    print(f"Edges: {parts.edges}")
    cycles = parts.cycles()
    print(f"Cycles detected: {cycles}" if cycles else "No cycles detected")


# -- ASCII ---------------------------------------------------------------------------
def draw_ascii(graph: Any) -> str:
    """The graph as boxes and ``*`` edges, laid out by Graphviz's ``dot``."""
    parts = GraphParts.of(graph)
    if not parts.nodes:
        return "Empty graph"
    nodes, edges = parts.with_joins()
    labels = [_label(n) for n in nodes]
    if not edges:
        width = max(len(label) for label in labels) + 2
        separator = "+" + "-" * width + "+\n"
        boxes = []
        for label in labels:
            left = (width - len(label)) // 2
            boxes.append(f"|{' ' * left}{label}{' ' * (width - len(label) - left)}|")
        return separator + f"\n{separator}".join(boxes) + f"\n{separator}"
    return _Canvas.drawn(labels, [(nodes.index(u), nodes.index(v)) for u, v in edges])


def _plain_layout(labels: list[str], edges: list[tuple[int, int]]) -> str:
    lines = ["digraph { rankdir=TB; nodesep=0.3; ranksep=0.25; node [shape=box, fixedsize=true];"]
    for i, label in enumerate(labels):
        lines.append(f"n{i} [width={(len(label) + 4) * _CELL:.2f}, height={_BOX_LINES * _CELL:.2f}];")
    lines.extend(f"n{u} -> n{v};" for u, v in edges)
    lines.append("}")
    return run_dot("plain", "\n".join(lines).encode()).decode()


class _Canvas:
    """A grid of characters the layout is drawn onto, edges first, boxes on top."""

    def __init__(self, cols: int, rows: int):
        self.grid = [[" "] * cols for _ in range(rows)]

    @classmethod
    def drawn(cls, labels: list[str], edges: list[tuple[int, int]]) -> str:
        centres: dict[int, tuple[float, float]] = {}
        routes: list[tuple[int, int, list[tuple[float, float]]]] = []
        height = 0.0
        for line in _plain_layout(labels, edges).splitlines():
            fields = line.split()
            if fields[0] == "graph":
                height = float(fields[3])
            elif fields[0] == "node":
                centres[int(fields[1][1:])] = (float(fields[2]), float(fields[3]))
            elif fields[0] == "edge":
                count = int(fields[3])
                points = [(float(fields[4 + 2 * k]), float(fields[5 + 2 * k])) for k in range(count)]
                routes.append((int(fields[1][1:]), int(fields[2][1:]), points))

        def cell(x: float, y: float) -> tuple[int, int]:
            return round(x / _CELL), round((height - y) / _CELL)

        boxes = []
        for index, label in enumerate(labels):
            cx, cy = cell(*centres[index])
            width = len(label) + 4
            boxes.append((cx - width // 2, cy - _BOX_LINES // 2, width, label))
        cols = max(x + w for x, _, w, _ in boxes) + 1
        rows = max(y for _, y, _, _ in boxes) + _BOX_LINES
        canvas = cls(cols, rows)
        for tail, head, points in routes:
            # From under the tail's box to above the head's, through dot's route (every
            # third point of its Bézier control points lies on the curve).
            tx, ty, tw, _ = boxes[tail]
            hx, hy, hw, _ = boxes[head]
            cells = [(tx + tw // 2, ty + _BOX_LINES)]
            cells += [cell(x, y) for x, y in points[3:-1:3]]
            cells.append((hx + hw // 2, hy - 1))
            for (x0, y0), (x1, y1) in zip(cells, cells[1:], strict=False):
                canvas.line(x0, y0, x1, y1)
        for x, y, width, label in boxes:
            canvas.box(x, y, width, label)
        return "\n".join("".join(row).rstrip() for row in canvas.grid).strip("\n")

    def point(self, x: int, y: int, char: str) -> None:
        if 0 <= y < len(self.grid) and 0 <= x < len(self.grid[y]):
            self.grid[y][x] = char

    def line(self, x0: int, y0: int, x1: int, y1: int) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            self.point(x0 + round((x1 - x0) * step / steps), y0 + round((y1 - y0) * step / steps), "*")

    def box(self, x: int, y: int, width: int, label: str) -> None:
        border = "+" + "-" * (width - 2) + "+"
        inner = " " + label.center(width - 4) + " "
        for offset, text in enumerate((border, "|" + inner + "|", border)):
            for k, char in enumerate(text):
                self.point(x + k, y + offset, char)


# -- Mermaid -------------------------------------------------------------------------
_MERMAID_RESERVED = frozenset({
    "graph", "subgraph", "direction", "click", "class", "classDef", "style", "linkStyle",
    "fill", "stroke", "color", "end", "start", "TD", "TB", "BT", "RL", "LR", "flowchart",
})


def draw_mermaid(
    graph: Any,
    title: str = "Graph",
    *,
    with_styles: bool = True,
    node_colors: dict[Any, str] | None = None,
    wrap_label_n_words: int = 9,
) -> str:
    """Mermaid flowchart text (for Markdown and GitHub) in graflow's layout: a
    ``subgraph`` per group (styled ``parallelGroup``), then the other nodes, then edges.

    Unlike graflow's: node ids are the task ids made Mermaid-safe (graflow appends
    ``_1`` to every id), no id is used twice, every edge is kept (graflow drops a
    member's own chain, and a group's edge to its successor inside a nested group),
    and a label that would break Mermaid's syntax is quoted.  ``wrap_label_n_words``
    is accepted for graflow's signature; these graphs have no edge labels to wrap."""
    parts = GraphParts.of(graph)
    if not parts.nodes:
        return "graph TD;\n    EmptyGraph[Empty Graph];\n"
    ids = _MermaidIds()
    out = "---\nconfig:\n  flowchart:\n    curve: linear\n---\n" if with_styles else ""
    out += "graph TD;\n"
    if title != "Graph":
        out += f"    %% {_mermaid_label(title)}\n"
    members = {m for ms in parts.groups.values() for m in ms}
    preds = {v for _, v in parts.edges}
    succs = {u for u, _ in parts.edges}
    plain = [n for n in parts.nodes if n not in members and n not in parts.groups]
    first = next((n for n in plain if n not in preds), None)
    last = next((n for n in reversed(plain) if n not in succs), None)
    for group, group_members in parts.groups.items():
        out += f'    subgraph {ids[group]}[" {_mermaid_label(group, quote=False)} "]\n'
        out += "        direction TB\n"
        for member in group_members:
            if member not in parts.groups:
                out += f"        {ids[member]}[{_mermaid_label(member)}];\n"
        out += "    end\n"
        out += f"    class {ids[group]} parallelGroup;\n"
    for node in plain:
        if node == first:
            out += f"    {ids[node]}([{_mermaid_label(node)}]):::first;\n"
        elif node == last:
            out += f"    {ids[node]}([{_mermaid_label(node)}]):::last;\n"
        else:
            out += f"    {ids[node]}[{_mermaid_label(node)}];\n"
    for u, v in parts.edges:
        out += f"    {ids[u]} --> {ids[v]};\n"
    if with_styles:
        out += "    classDef first fill:#e1f5fe,stroke:#01579b,stroke-width:2px;\n"
        out += "    classDef last fill:#fff3e0,stroke:#e65100,stroke-width:2px;\n"
        out += "    classDef parallelGroup fill:#f3e5f5,stroke:#4a148c,stroke-width:3px;\n"
        out += "    classDef default fill:#f9f9f9,stroke:#333,stroke-width:1px;\n"
        for node, colour in (node_colors or {}).items():
            node_id = ids[str(node)]
            out += f"    classDef {node_id}_style fill:{_mermaid_colour(colour)};\n"
            out += f"    class {node_id} {node_id}_style;\n"
    return out


class _MermaidIds(dict[str, str]):
    """One Mermaid-safe id per node, never a reserved word, never reused."""

    def __missing__(self, node: str) -> str:
        base = re.sub(r"[^a-zA-Z0-9_-]", "_", node) or "node"
        candidate, counter = base, 0
        taken = set(self.values())
        while candidate in _MERMAID_RESERVED or candidate in taken:
            counter += 1
            candidate = f"{base}_{counter}"
        self[node] = candidate
        return candidate


def _mermaid_label(text: str, quote: bool = True) -> str:
    """A label as graflow writes it when it is plain; quoted, with markup as entities,
    when Mermaid would read its characters as syntax."""
    label = _label(text)
    if re.fullmatch(r"[\w .-]*", label):
        return label
    escaped = label.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return f'"{escaped}"' if quote else escaped


def _mermaid_colour(colour: str) -> str:
    if not re.fullmatch(r"#?[0-9A-Za-z]{1,32}", str(colour)):
        raise ValueError(f"node colour {colour!r} is not a colour name or #hex value")
    return str(colour)


def draw_mermaid_png(graph: Any, output_path: str | None = None, **_options: Any) -> bytes:
    """Not offered: graflow's calls the mermaid.ink web service, and graflow_nb makes no
    network calls.  Raises ``NotImplementedError`` pointing at the local renderers."""
    raise NotImplementedError(
        "draw_mermaid_png is not offered: graflow's sends the graph to the mermaid.ink web "
        "service, and graflow_nb makes no network calls. Use draw_png(graph, path) (rendered "
        "locally by Graphviz's dot), or draw_mermaid(graph) and render the text with your own "
        "Mermaid tools"
    )


def draw_task_graph(graph: Any, title: str = "Task Graph") -> None:
    """Not offered: graflow's draws with matplotlib (a dependency graflow_nb does without)."""
    raise NotImplementedError(
        f"draw_task_graph ({title!r}) is not offered: graflow's draws with matplotlib. Use "
        f"draw_png(graph, path) (Graphviz's dot), or graflow_nb.draw_graph(wf) in a notebook"
    )


def create_agraph(graph: Any, *_args: Any, **_kwargs: Any) -> Any:
    """Not offered: graflow's builds a pygraphviz ``AGraph``."""
    raise NotImplementedError(
        "create_agraph is not offered: graflow's needs pygraphviz. draw_dot(graph) gives the same "
        "picture as DOT text, draw_png(graph, path) renders it"
    )


def build_graph(start_node: Any, context: Any = None) -> Any:
    """graflow's: the part of the workflow's graph connected to ``start_node`` (a task),
    as a new ``TaskGraph`` (graflow replaces the workflow's own graph; this leaves it)."""
    source = (context if context is not None else current_workflow()).graph
    start = getattr(start_node, "task_id", start_node)
    if start not in source.nodes:
        raise KeyError(f"build_graph: no task {start!r} in the workflow's graph")
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        for near in (*source.successors(node), *source.predecessors(node)):
            if near not in seen:
                seen.add(near)
                stack.append(near)
    built = TaskGraph()
    for node_id, task in source.nodes.items():
        if node_id in seen:
            built.add_node(task, node_id)
    for u in built.nodes:
        for v in source.successors(u):
            built.add_edge(u, v)
    return built


# -- DOT and PNG ---------------------------------------------------------------------
def draw_dot(graph: Any, node_labels: dict[Any, str] | None = None, node_colors: dict[Any, str] | None = None) -> str:
    """DOT source: groups as fork and join nodes, as in ``draw_ascii``."""
    nodes, edges = GraphParts.of(graph).with_joins()
    labels = {str(k): str(v) for k, v in (node_labels or {}).items()}
    colours = {str(k): str(v) for k, v in (node_colors or {}).items()}
    lines = ["digraph G {", "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f9f9f9\"];"]
    for node in nodes:
        attrs = [f"label={_dot_quote(labels.get(node, node))}"]
        if node in colours:
            attrs.append(f"fillcolor={_dot_quote(colours[node])}")
        lines.append(f"  {_dot_quote(node)} [{', '.join(attrs)}];")
    lines.extend(f"  {_dot_quote(u)} -> {_dot_quote(v)};" for u, v in edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw_png(
    graph: Any,
    output_path: str | None = None,
    node_labels: dict[Any, str] | None = None,
    node_colors: dict[Any, str] | None = None,
) -> bytes:
    """PNG bytes rendered locally by ``dot`` (graflow needs pygraphviz); also written
    to ``output_path`` when given."""
    png = run_dot("png", draw_dot(graph, node_labels, node_colors).encode())
    if output_path is not None:
        Path(output_path).write_bytes(png)
    return png


def run_dot(fmt: str, source: bytes) -> bytes:
    """``dot -T<fmt>`` on ``source``; a clear error when Graphviz is missing or fails."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "drawing this graph needs Graphviz's dot program: install the 'graphviz' system "
            "package (apt install graphviz / brew install graphviz)"
        )
    done = subprocess.run([dot, f"-T{fmt}"], input=source, capture_output=True, check=False, timeout=120)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"dot -T{fmt} failed: {message[:500]}")
    return done.stdout


__all__ = [
    "build_graph", "create_agraph", "draw_ascii", "draw_dot", "draw_mermaid", "draw_mermaid_png", "draw_png",
    "draw_task_graph", "show_graph_info", "visualize_dependencies",
]
