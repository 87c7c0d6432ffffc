"""Shared by the render tests: the example workflows, and reading a layout back.

A layout is read from ``dot -Tjson`` (structure: nodes, edges, clusters and what they
hold) or from the SVG a notebook would show, so a test passes only if Graphviz drew
what we meant, not merely if our DOT text looks plausible.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from graflow_nb import task, workflow
from graflow_nb.observe import Render

FORK, JOIN = "ParallelGroup_1/fork", "ParallelGroup_1/join"
SVG = "{http://www.w3.org/2000/svg}"
DIAMOND_EDGES = [
    ("fetch", FORK),
    (FORK, "transform_a"),
    (FORK, "transform_b"),
    ("transform_a", JOIN),
    ("transform_b", JOIN),
    (JOIN, "store"),
]


def diamond(fail: bool = False):
    with workflow("diamond") as wf:

        @task
        def fetch():
            return 1

        @task
        def transform_a():
            if fail:
                raise ValueError("transform_a broke")
            return 2

        @task
        def transform_b():
            return 3

        @task
        def store():
            return 4

        _ = fetch >> (transform_a | transform_b) >> store
    return wf


def nested():
    with workflow("nested") as wf:
        a, b, b1, b2, bm, c, d = (task(n)(lambda: None) for n in ("a", "b", "b1", "b2", "bm", "c", "d"))
        _ = a >> ((b >> (b1 | b2) >> bm) | c) >> d
    return wf


def fanout(width: int, name: str = "fanout"):
    """source >> (t0 | ... | t{width-1}) >> sink, all trivial."""
    with workflow(name) as wf:
        source = task("source")(lambda: None)
        sink = task("sink")(lambda: None)
        group = task("t0")(lambda: None)
        for i in range(1, width):
            group = group | task(f"t{i}")(lambda: None)
        _ = source >> group >> sink
    return wf


class Layout:
    """``dot -Tjson`` of a render: nodes by name, edges as name pairs, cluster contents."""

    def __init__(self, render: Render):
        data = json.loads(render.digraph.pipe(format="json"))
        objects = data.get("objects", [])
        count = data.get("_subgraph_cnt", 0)
        by_id = {o["_gvid"]: o for o in objects[count:]}
        self.nodes = {o["name"]: o for o in by_id.values()}
        self.edges = [
            (by_id[e["tail"]]["name"], by_id[e["head"]]["name"], e.get("style")) for e in data.get("edges", [])
        ]
        self.clusters = {o["name"]: o for o in objects[:count]}

    def members(self, cluster: str) -> set[str]:
        """Every node drawn inside ``cluster``, nested clusters included."""
        by_gvid = {n["_gvid"]: n for n in self.nodes.values()}
        return {n["name"] for gvid, n in by_gvid.items() if gvid in self.clusters[cluster].get("nodes", [])}

    def label(self, node: str) -> list[str]:
        return self.nodes[node]["label"].split("\\n")

    def edge_pairs(self) -> list[tuple[str, str]]:
        return [(t, h) for t, h, _ in self.edges]


def svg_titles_and_text(svg: str) -> tuple[set[str], str]:
    """Element titles (node, edge and cluster names) and all visible text of an SVG."""
    root = ET.fromstring(svg)
    titles = {el.text for el in root.iter(f"{SVG}title")}
    return titles, " ".join(el.text or "" for el in root.iter(f"{SVG}text"))
