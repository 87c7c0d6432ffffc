"""Wide groups fold into one ``N branches`` node (and one summary session box) unless
expanded, and a thousand-node graph is drawn whole."""

from __future__ import annotations

import pytest
from drawings import Layout, fanout, svg_titles_and_text

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.observe import COLLAPSE_OVER, draw_graph, draw_sessions
from graflow_nb.observe import _dotkit as kit

pytestmark = pytest.mark.usefixtures("dot")

FORK, BRANCHES, JOIN = "ParallelGroup_1/fork", "ParallelGroup_1/branches", "ParallelGroup_1/join"
FOLDED = {"source", FORK, BRANCHES, JOIN, "sink"}


def test_default_threshold_is_fifty_members():
    assert COLLAPSE_OVER == 50
    assert len(Layout(draw_graph(fanout(50))).nodes) == 50 + 4
    assert set(Layout(draw_graph(fanout(51))).nodes) == FOLDED


def test_a_wide_group_is_one_node_until_expanded():
    wf = fanout(60)
    plain = Layout(draw_graph(wf))
    assert set(plain.nodes) == FOLDED
    assert plain.label(BRANCHES) == ["60 branches"]
    assert "expand=['ParallelGroup_1']" in plain.nodes[BRANCHES]["tooltip"]
    assert sorted(plain.edge_pairs()) == sorted([("source", FORK), (FORK, BRANCHES), (BRANCHES, JOIN), (JOIN, "sink")])
    members = {f"t{i}" for i in range(60)}
    assert set(Layout(draw_graph(wf, expand=["ParallelGroup_1"])).nodes) == FOLDED - {BRANCHES} | members
    assert set(Layout(draw_graph(wf, collapse_over=None)).nodes) == FOLDED - {BRANCHES} | members
    assert set(Layout(draw_graph(wf, collapse_over=100)).nodes) == FOLDED - {BRANCHES} | members
    with pytest.raises(ValueError, match="collapse_over"):
        draw_graph(wf, collapse_over=0)


def test_folded_node_counts_member_states_and_hides_their_clusters():
    wf = fanout(60)
    wf.execute("source", session_id="W")
    layout = Layout(draw_graph(wf, wf.last_run))
    assert set(layout.nodes) == FOLDED
    assert layout.label(BRANCHES) == ["60 branches", "60 succeeded"]
    assert layout.nodes[BRANCHES]["fillcolor"] == kit.GREEN
    assert layout.clusters == {}
    expanded = Layout(draw_graph(wf, wf.last_run, collapse_over=None))
    assert len(expanded.clusters) == 60
    assert expanded.members("cluster_W_t7") == {"t7"}


def test_a_failed_member_turns_the_folded_node_red():
    with workflow("wide-fail") as wf:
        source, sink = task("source")(lambda: None), task("sink")(lambda: None)
        group = task("t0")(lambda: None)
        for i in range(1, 60):
            group = group | task(f"t{i}")((lambda: 1 / 0) if i == 5 else (lambda: None))
        _ = source >> group.with_execution(fail_fast=True) >> sink
    with pytest.raises(ParallelGroupError):
        wf.execute("source", session_id="F", max_workers=1)
    layout = Layout(draw_graph(wf, wf.last_run))
    assert layout.label(BRANCHES) == ["60 branches", "5 succeeded, 1 failed, 54 cancelled"]
    assert layout.nodes[BRANCHES]["fillcolor"] == kit.RED
    sessions = Layout(draw_sessions(wf.last_run))
    assert set(sessions.nodes) == {"F", "F/ParallelGroup_1/sessions"}
    assert sessions.label("F/ParallelGroup_1/sessions") == [
        "60 branch sessions", "of ParallelGroup_1", "5 discarded, 1 failed, 54 cancelled", "enqueued 60 / dequeued 6",
    ]
    assert sessions.nodes["F/ParallelGroup_1/sessions"]["fillcolor"] == kit.RED


def test_groups_inside_a_folded_group_fold_with_it():
    with workflow("nested-wide") as wf:
        source, sink = task("source")(lambda: None), task("sink")(lambda: None)
        x, y, head, tail = (task(n)(lambda: None) for n in ("x", "y", "head", "tail"))
        group = head >> (x | y) >> tail
        for i in range(60):
            group = group | task(f"t{i}")(lambda: None)
        _ = source >> group >> sink
    wf.execute("source", session_id="N")
    outer = "ParallelGroup_2"
    layout = Layout(draw_graph(wf, wf.last_run))
    assert set(layout.nodes) == {"source", "sink", f"{outer}/fork", f"{outer}/branches", f"{outer}/join"}
    assert layout.label(f"{outer}/branches") == ["61 branches", "61 succeeded"]
    full = Layout(draw_graph(wf, wf.last_run, expand=[outer]))
    assert set(full.nodes) == {
        "source", "sink", f"{outer}/fork", f"{outer}/join", "head", "x", "y", "tail",
        "ParallelGroup_1/fork", "ParallelGroup_1/join", *(f"t{i}" for i in range(60)),
    }
    assert full.members("cluster_N_head_x") == {"x"}


def test_session_tree_folds_wide_forks_into_one_box():
    wf = fanout(60)
    wf.execute("source", session_id="W")
    folded = Layout(draw_sessions(wf.last_run))
    assert set(folded.nodes) == {"W", "W/ParallelGroup_1/sessions"}
    assert folded.label("W/ParallelGroup_1/sessions") == [
        "60 branch sessions", "of ParallelGroup_1", "60 merged", "enqueued 60 / dequeued 60",
    ]
    assert folded.edge_pairs() == [("W", "W/ParallelGroup_1/sessions")]
    full = Layout(draw_sessions(wf.last_run, expand=["ParallelGroup_1"]))
    assert len(full.nodes) == 61
    assert full.label("W_t59")[:3] == ["W_t59", "merged", "enqueued 1 / dequeued 1"]


def test_thousand_node_graph_renders_every_node_edge_and_session():
    """Each of the five drawings of a 1000-member fan-out, read back from its SVG: every
    member, every edge and every session is there, and the folded ones are exactly the
    summary.  How long they take is benchmarks' job (``render-1000``)."""
    wf = fanout(1000)
    wf.execute("source", session_id="K")
    run = wf.last_run
    members = [f"t{i}" for i in range(1000)]
    graph_nodes = {"source", FORK, JOIN, "sink", *members}
    graph_edges = {f"source->{FORK}", f"{JOIN}->sink"} | {f"{FORK}->{t}" for t in members} | {
        f"{t}->{JOIN}" for t in members
    }

    titles, text = svg_titles_and_text(draw_graph(wf, collapse_over=None).svg)
    assert titles == {"fanout"} | graph_nodes | graph_edges
    assert text.split()[:5] == ["fanout", "source", "fork", "ParallelGroup_1", "t0"]

    titles, text = svg_titles_and_text(draw_graph(wf, run, collapse_over=None).svg)
    assert titles == {"fanout"} | graph_nodes | graph_edges | {f"cluster_K_{t}" for t in members}
    assert text.count("(merged)") == 1000 and "K_t999 (merged)" in text
    assert text.startswith("fanout: run K succeeded")

    titles, text = svg_titles_and_text(draw_graph(wf, run).svg)
    assert titles == {"fanout", "source", FORK, BRANCHES, JOIN, "sink"} | {
        f"source->{FORK}", f"{FORK}->{BRANCHES}", f"{BRANCHES}->{JOIN}", f"{JOIN}->sink"
    }
    assert text == (
        "fanout: run K succeeded source succeeded fork ParallelGroup_1 1000 branches 1000 succeeded "
        "join ParallelGroup_1 sink succeeded"
    )

    sessions = [f"K_{t}" for t in members]
    titles, text = svg_titles_and_text(draw_sessions(run, collapse_over=None).svg)
    assert titles == {"fanout sessions", "K", *sessions} | {f"K->{s}" for s in sessions}
    assert text.count("merged enqueued 1 / dequeued 1") == 1000
    assert "K_t999 merged enqueued 1 / dequeued 1 ran t999" in text

    titles, text = svg_titles_and_text(draw_sessions(run).svg)
    assert titles == {"fanout sessions", "K", "K/ParallelGroup_1/sessions", "K->K/ParallelGroup_1/sessions"}
    assert text == (
        "fanout sessions: run K succeeded K closed enqueued 2 / dequeued 2 ran source, ParallelGroup_1, sink "
        "1000 branch sessions of ParallelGroup_1 1000 merged enqueued 1000 / dequeued 1000"
    )
