"""graflow's ``graflow.utils.graph`` drawings, on real ``dot`` and networkx graphs."""

from __future__ import annotations

import re

import networkx as nx
import pytest

from graflow_nb import task, workflow
from graflow_nb.core.graph import TaskGraph
from graflow_nb.utils.graph import (
    draw_ascii,
    draw_mermaid,
    draw_mermaid_png,
    draw_png,
    show_graph_info,
    visualize_dependencies,
)


def nested():
    """graflow's own awkward case: a >> ((b >> (b1 | b2) >> bm) | c) >> d."""
    with workflow("nested") as wf:
        tasks = {}
        for name in ("a", "b", "b1", "b2", "bm", "c", "d"):
            tasks[name] = task(name)(lambda: None)
        t = tasks
        _ = t["a"] >> ((t["b"] >> (t["b1"] | t["b2"]) >> t["bm"]) | t["c"]) >> t["d"]
    return wf


def rows_of(drawing: str) -> dict[str, int]:
    """Each boxed label and the line it is drawn on."""
    found = {}
    for number, line in enumerate(drawing.splitlines()):
        for label in re.findall(r"\| (.+?) \|", line):
            found[label.strip()] = number
    return found


def test_ascii_draws_every_task_in_a_box_with_forks_and_joins_in_rank_order():
    wf = nested()
    drawing = draw_ascii(wf.graph.nx_graph())
    rows = rows_of(drawing)
    assert set(rows) == {"a", "b", "b1", "b2", "bm", "c", "d", "ParallelGroup_1", "ParallelGroup_2",
                         "↣ ParallelGroup_1", "↣ ParallelGroup_2"}
    assert rows["a"] < rows["ParallelGroup_2"] < rows["b"] < rows["ParallelGroup_1"] < rows["b1"] == rows["b2"]
    assert rows["b1"] < rows["↣ ParallelGroup_1"] < rows["bm"] < rows["↣ ParallelGroup_2"] < rows["d"]
    assert "*" in drawing and not drawing.startswith("\n")
    assert str(wf.graph) == drawing == draw_ascii(wf.graph) == draw_ascii(wf)  # print(wf.graph), as graflow


def test_ascii_edge_cases_match_graflows_wording():
    assert draw_ascii(nx.DiGraph()) == "Empty graph" == str(TaskGraph())
    lonely = nx.DiGraph()
    lonely.add_nodes_from(["a", "bbb"])
    assert draw_ascii(lonely) == "+-----+\n|  a  |\n+-----+\n| bbb |\n+-----+\n"


def test_hostile_ids_are_drawn_as_one_safe_line():
    graph = nx.DiGraph()
    graph.add_edge('quote"s', "line\nbreak")
    graph.add_edge("line\nbreak", "x" * 2000)
    drawing = draw_ascii(graph)
    assert '| quote"s |' in drawing and "| line\\nbreak |" in drawing
    assert "| " + "x" * 59 + "… |" in drawing
    mermaid = draw_mermaid(graph, with_styles=False)
    assert 'quote_s(["quote#quot;s"]):::first;' in mermaid
    assert 'line_break["line\\nbreak"];' in mermaid


def test_mermaid_of_a_chain_is_graflows_text_with_plain_ids():
    with workflow("etl") as wf:
        for name in ("extract", "transform", "load"):
            task(name)(lambda: None)
        _ = wf.graph.nodes["extract"] >> wf.graph.nodes["transform"] >> wf.graph.nodes["load"]
    assert draw_mermaid(wf.graph.nx_graph(), title="ETL") == (
        "---\nconfig:\n  flowchart:\n    curve: linear\n---\ngraph TD;\n    %% ETL\n"
        "    extract([extract]):::first;\n    transform[transform];\n    load([load]):::last;\n"
        "    extract --> transform;\n    transform --> load;\n"
        "    classDef first fill:#e1f5fe,stroke:#01579b,stroke-width:2px;\n"
        "    classDef last fill:#fff3e0,stroke:#e65100,stroke-width:2px;\n"
        "    classDef parallelGroup fill:#f3e5f5,stroke:#4a148c,stroke-width:3px;\n"
        "    classDef default fill:#f9f9f9,stroke:#333,stroke-width:1px;\n"
    )
    assert draw_mermaid(nx.DiGraph()) == "graph TD;\n    EmptyGraph[Empty Graph];\n"


def test_mermaid_keeps_every_edge_of_a_nested_group_and_never_reuses_an_id():
    text = draw_mermaid(nested().graph, with_styles=False)
    assert "    ParallelGroup_1 --> bm;\n" in text  # graflow 0.2.0 drops this edge
    assert "    b --> ParallelGroup_1;\n" in text and "    ParallelGroup_2 --> d;\n" in text
    subgraphs = re.findall(r"subgraph (\S+)\[", text)
    assert subgraphs == ["ParallelGroup_1", "ParallelGroup_2"]
    nodes = re.findall(r"^    (\w+)\(?\[", text, flags=re.M)
    assert sorted(nodes) == ["a", "bm", "d"] and not set(nodes) & set(subgraphs)  # members sit in subgraphs
    assert "        b[b];\n" in text and "        c[c];\n" in text


def test_mermaid_colours_and_reserved_words():
    graph = nx.DiGraph()
    graph.add_edge("end", "graph")
    text = draw_mermaid(graph, node_colors={"end": "#ff0000"})
    assert "    end_1([end]):::first;\n" in text and "    graph_1([graph]):::last;\n" in text
    assert "    classDef end_1_style fill:#ff0000;\n    class end_1 end_1_style;\n" in text
    with pytest.raises(ValueError, match="is not a colour"):
        draw_mermaid(graph, node_colors={"end": "red;} click end call evil()"})


def test_show_graph_info_and_visualize_dependencies_print_graflows_lines(capsys):
    graph = nx.DiGraph()
    graph.add_edges_from([("a", "b"), ("b", "a"), ("b", "c")])
    show_graph_info(graph)
    visualize_dependencies(graph)
    assert capsys.readouterr().out == (
        "=== Graph Information ===\nNodes: ['a', 'b', 'c']\nEdges: [('a', 'b'), ('b', 'a'), ('b', 'c')]\n"
        "Cycles detected: [['a', 'b']]\n"  # from its first node: networkx's order varies
        "=== Dependencies ===\na >> b\nb >> a >> c\nc (no dependencies)\n"
    )


def test_workflow_show_info_and_visualize_dependencies(capsys):
    with workflow("loop") as wf:
        a, b = task("a")(lambda: None), task("b")(lambda: None)
        _ = a >> b
        wf.add_edge("b", "a")
    wf.show_info()
    wf.visualize_dependencies()
    out = capsys.readouterr().out
    head = "=== Workflow 'loop' Information ===\nNodes: ['a', 'b']\nEdges: [('a', 'b'), ('b', 'a')]\n"
    assert out.startswith(head + "Cycles detected: [['a', 'b']]\n")
    assert out.endswith("=== Workflow 'loop' Dependencies ===\na >> b\nb >> a\n")
    assert rows_of(out).keys() == {"a", "b"}


def test_png_is_rendered_locally_and_mermaid_png_says_it_is_not_offered(tmp_path):
    wf = nested()
    target = tmp_path / "g.png"
    png = draw_png(wf.graph.nx_graph(), str(target), node_colors={"a": "#c6efce"})
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and target.read_bytes() == png
    with pytest.raises(NotImplementedError, match="graflow_nb makes no network calls"):
        draw_mermaid_png(wf.graph.nx_graph())


def test_anything_else_is_refused_by_name():
    with pytest.raises(TypeError, match="expected a networkx DiGraph .* got list"):
        draw_ascii([("a", "b")])
