"""The graph and session-tree renders, checked through the real ``dot``.

Each render is laid out by Graphviz and read back (``-Tjson`` for structure, SVG for
what a notebook shows), so a test passes only if Graphviz draws what we meant, not
merely if our DOT text looks plausible.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest
from drawings import DIAMOND_EDGES, FORK, JOIN, Layout, diamond, nested, svg_titles_and_text

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.observe import MISSING_DOT, draw_graph, draw_sessions
from graflow_nb.observe import _dotkit as kit

pytestmark = pytest.mark.usefixtures("dot")


# -- the graph ------------------------------------------------------------------------------
def test_diamond_graph_one_node_per_task_plus_fork_and_join():
    layout = Layout(draw_graph(diamond()))
    assert sorted(layout.nodes) == sorted(["fetch", "transform_a", "transform_b", "store", FORK, JOIN])
    assert sorted(layout.edge_pairs()) == sorted(DIAMOND_EDGES)
    assert "ParallelGroup_1" in layout.nodes[FORK]["label"]
    assert "ParallelGroup_1" in layout.nodes[JOIN]["label"]
    assert layout.clusters == {}


def test_run_puts_each_branch_task_in_its_session_cluster():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    layout = Layout(draw_graph(wf, wf.last_run))
    assert set(layout.clusters) == {"cluster_4821_transform_a", "cluster_4821_transform_b"}
    assert layout.members("cluster_4821_transform_a") == {"transform_a"}
    assert layout.members("cluster_4821_transform_b") == {"transform_b"}
    assert layout.clusters["cluster_4821_transform_a"]["label"].startswith("4821_transform_a")
    assert sorted(layout.edge_pairs()) == sorted(DIAMOND_EDGES)
    for name in ("fetch", "transform_a", "transform_b", "store"):
        assert layout.label(name) == [name, "succeeded"]
        assert layout.nodes[name]["fillcolor"] == kit.GREEN


def test_session_tree_shows_queue_counters():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    layout = Layout(draw_sessions(wf.last_run))
    assert sorted(layout.nodes) == ["4821", "4821_transform_a", "4821_transform_b"]
    assert "enqueued 2 / dequeued 2" in layout.label("4821")
    assert layout.label("4821")[:2] == ["4821", "closed"]
    for branch in ("4821_transform_a", "4821_transform_b"):
        assert layout.label(branch)[:3] == [branch, "merged", "enqueued 1 / dequeued 1"]
        assert layout.nodes[branch]["fillcolor"] == kit.GREEN
    assert layout.edge_pairs() == [("4821", "4821_transform_a"), ("4821", "4821_transform_b")]


def test_failed_branch_is_red_and_its_session_failed():
    wf = diamond(fail=True)
    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="9")
    graph = Layout(draw_graph(wf, wf.last_run))
    assert graph.nodes["transform_a"]["fillcolor"] == kit.RED
    assert graph.label("transform_a") == ["transform_a", "failed"]
    assert graph.label("fetch") == ["fetch", "succeeded"]
    assert graph.label("store") == ["store", "pending"]
    assert graph.members("cluster_9_transform_a") == {"transform_a"}
    assert "failed" in graph.clusters["cluster_9_transform_a"]["label"]
    sessions = Layout(draw_sessions(wf.last_run))
    assert sessions.label("9_transform_a")[1] == "failed"
    assert sessions.nodes["9_transform_a"]["fillcolor"] == kit.RED
    assert sessions.label("9")[1] == "failed"


def test_nested_sessions_nest_their_clusters():
    wf = nested()
    wf.execute("a", session_id="7")
    sessions = Layout(draw_sessions(wf.last_run))
    assert sorted(sessions.nodes) == ["7", "7_b", "7_b_b1", "7_b_b2", "7_c"]
    assert ("7_b", "7_b_b1") in sessions.edge_pairs()
    assert sessions.label("7_b")[2] == "enqueued 2 / dequeued 2"
    graph = Layout(draw_graph(wf, wf.last_run))
    assert graph.members("cluster_7_b_b1") == {"b1"}
    assert graph.members("cluster_7_b") == {"b", "bm", "b1", "b2", "ParallelGroup_1/fork", "ParallelGroup_1/join"}
    assert graph.members("cluster_7_c") == {"c"}
    assert ("bm", "ParallelGroup_2/join") in graph.edge_pairs()
    assert ("ParallelGroup_1/join", "bm") in graph.edge_pairs()


def test_dynamic_task_sits_in_its_session_with_a_dashed_edge():
    with workflow("dyn") as wf:

        @task(inject_context=True)
        def left(ctx):
            ctx.next_task(task("spawned")(lambda: 5))

        @task
        def right():
            return 1

        @task
        def start():
            return 0

        _ = start >> (left | right)
    wf.execute("start", session_id="D")
    layout = Layout(draw_graph(wf, wf.last_run))
    assert layout.members("cluster_D_left") == {"left", "spawned"}
    assert ("left", "spawned", "dashed") in layout.edges


def test_same_run_twice_gives_identical_source_and_reruns_agree():
    wf = nested()
    wf.execute("a", session_id="7")
    first = draw_graph(wf, wf.last_run).source
    assert first == draw_graph(wf, wf.last_run).source
    assert draw_sessions(wf.last_run).source == draw_sessions(wf.last_run).source
    wf.execute("a", session_id="7")
    assert draw_graph(wf, wf.last_run).source == first


def test_svg_is_xml_naming_every_task():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    graph = draw_graph(wf, wf.last_run)
    titles, text = svg_titles_and_text(graph._repr_svg_())
    assert {"fetch", "transform_a", "transform_b", "store", "cluster_4821_transform_a"} <= titles
    assert all(name in text for name in ("fetch", "transform_a", "transform_b", "store"))
    assert graph._repr_svg_() is graph._repr_svg_()
    titles, text = svg_titles_and_text(draw_sessions(wf.last_run)._repr_svg_())
    assert {"4821", "4821_transform_a", "4821_transform_b"} <= titles
    assert "enqueued 2 / dequeued 2" in text


def test_awkward_ids_survive_quoting():
    with workflow("odd ids") as wf:
        first = task("load:csv")(lambda: 1)
        second = task('say "hi"')(lambda: 2)
        third = task("back\\slash")(lambda: 3)
        _ = first >> (second | third)
    wf.execute("load:csv", session_id="r#1")
    layout = Layout(draw_graph(wf, wf.last_run))
    # DOT can't quote every backslash, so the node name spells it as an entity; the
    # SVG (titles and text) shows the id itself.
    assert {"load:csv", 'say "hi"', "back&#92;slash", FORK, "ParallelGroup_1/join"} == set(layout.nodes)
    assert ("load:csv", FORK) in layout.edge_pairs()
    assert layout.members('cluster_r#1_say "hi"') == {'say "hi"'}
    _, text = svg_titles_and_text(draw_graph(wf, wf.last_run).svg)
    assert "back\\slash" in text and 'say "hi"' in text
    sessions = Layout(draw_sessions(wf.last_run))
    assert set(sessions.nodes) == {"r#1", 'r#1_say "hi"', "r#1_back&#92;slash"}


def test_missing_dot_falls_back_to_source_once(monkeypatch, tmp_path):
    render = draw_graph(diamond())
    calls = []
    pipe = render.digraph.pipe

    def counting_pipe(*args, **kwargs):
        calls.append(kwargs.get("format"))
        return pipe(*args, **kwargs)

    monkeypatch.setattr(render.digraph, "pipe", counting_pipe)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.chdir(tmp_path)

    assert render._repr_svg_() is None
    bundle = render._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    what, hint, rest = bundle["text/plain"].split("\n", 2)
    assert what == "graph of workflow 'diamond': 4 tasks (fetch, transform_a, transform_b, store), 1 parallel group"
    assert hint == MISSING_DOT + "; DOT source follows"
    assert rest == render.source
    with pytest.raises(RuntimeError, match="apt install graphviz"):
        render.save(tmp_path / "g.png")
    with pytest.raises(RuntimeError, match="apt install graphviz"):
        render.save(tmp_path / "g.svg")
    assert calls == ["svg"]
    assert not render.dot_available
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-bin"]
    assert render.save(tmp_path / "g.dot").read_text() == render.source


def png_size(bundle) -> tuple[int, int]:
    data = base64.b64decode(bundle["image/png"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def svg_size_px(bundle) -> tuple[float, float]:
    """The SVG's natural size (its viewBox, in points, at 96 dpi): a wide picture says
    width="100%" to fill the output (observe.render.fit_width), a narrow one its size."""
    svg = bundle["image/svg+xml"]
    found = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if found is None:
        assert re.search(r'<svg width="100%" class="graflow-fit"', svg)
        found = re.search(r'viewBox="[\d.-]+ [\d.-]+ ([\d.]+) ([\d.]+)"', svg)
    return float(found.group(1)) * 96 / 72, float(found.group(2)) * 96 / 72


def test_every_picture_carries_a_png_of_itself_and_says_what_it_is():
    """An untrusted front end shows the PNG: the same picture at 96 dpi; a front end
    that shows no image shows the text, which names what is drawn and the run's state."""
    from graflow_nb.observe import draw_run, draw_sessions, draw_timeline

    wf = diamond()
    wf.execute("fetch", session_id="4821")
    run = wf.last_run
    texts = {
        "plain graph": (draw_graph(wf), "graph of workflow 'diamond': 4 tasks (fetch, transform_a, transform_b, store), "
                        "1 parallel group"),
        "graph of a run": (draw_graph(wf, run), "graph of workflow 'diamond': 4 tasks (fetch, transform_a, transform_b, "
                           "store), 1 parallel group\ndiamond: run 4821 succeeded, 4/4 tasks done, 3 sessions"),
        "sessions": (draw_sessions(run), "sessions of run 4821 (succeeded)\n" + run.session_tree().rstrip("\n")),
        "side by side": (draw_run(wf), "diamond: run 4821 succeeded, 4/4 tasks done, 3 sessions\n"
                         + run.session_tree().rstrip("\n")),
    }
    for what, (render, text) in texts.items():
        bundle = render._repr_mimebundle_()
        assert set(bundle) == {"image/svg+xml", "image/png", "text/plain"}, what
        assert bundle["text/plain"] == text, what
        width, height = png_size(bundle)
        svg_width, svg_height = svg_size_px(bundle)
        assert abs(width - svg_width) <= 2 and abs(height - svg_height) <= 2, what
        assert repr(render) == f"<{type(render).__name__}: {text.splitlines()[0]}>"
        assert "<Render" not in bundle["text/plain"]
    timeline = draw_timeline(run)._repr_mimebundle_()
    assert set(timeline) == {"image/svg+xml", "image/png", "text/plain"}
    assert png_size(timeline)[0] > 100


def test_a_picture_with_hostile_names_still_says_what_it_is():
    with workflow('say "hi" <b>') as wf:
        task("a\\b")(lambda: 1)
    bundle = draw_graph(wf)._repr_mimebundle_()
    assert bundle["text/plain"] == "graph of workflow 'say \"hi\" <b>': 1 task (a\\b)"
    png_size(bundle)
