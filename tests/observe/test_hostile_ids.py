"""Task ids are user text: whatever they hold, every render parses with the real ``dot``,
draws each id as its own node (never merged with a fork, join or folded summary we
add), and shows the id itself; and the deepest workflow the engine accepts renders,
debugs and tabulates like any other."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from drawings import SVG, Layout

from graflow_nb import ParallelGroup, task, workflow
from graflow_nb.core.checks import MAX_GROUP_DEPTH
from graflow_nb.observe import _dotkit as kit
from graflow_nb.observe import draw_graph, draw_run, draw_sessions, draw_timeline

LOOKALIKES = ["ParallelGroup_1/fork", "ParallelGroup_1/join", "ParallelGroup_1/branches", "sessions/S"]
HOSTILE = [
    'say "hi"',
    "back\\slash",
    "ends with a backslash\\",
    "backslash\\\nthen newline",
    "two\nlines",
    "<b>bold</b>",
    "{record|field}",
    "&amp; an entity",
    "\\N \\G \\l escapes",
    "üñíçødé ☃ 数据",
    "tab\there",
    "L" * 2000,
    "a//b",
]


def svg_nodes(svg: str) -> dict[str, list[str]]:
    """Each SVG node's title (its DOT name, ``kit.user(id)`` for a task) -> its text lines."""
    out = {}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") == "node":
            out[group.find(f"{SVG}title").text] = [t.text for t in group.iter(f"{SVG}text")]
    return out


def svg_title(task_id: str) -> str:
    """What an SVG shows as a task's title: its DOT name with the entities read back,
    so the id itself except that each ``/`` is doubled."""
    return task_id.replace("/", "//")


def fan_out(ids: list[str], session_id: str = "S"):
    with workflow("hostile") as wf:
        members = [task(i)(lambda: 1) for i in ids]
        group = members[0]
        for member in members[1:]:
            group = group | member
        _ = task("start")(lambda: 0) >> group >> task("end")(lambda: 2)
        wf.execute("start", session_id=session_id)
    return wf


def test_ids_that_look_like_our_node_names_stay_their_own_nodes():
    wf = fan_out(LOOKALIKES)
    layout = Layout(draw_graph(wf, wf.last_run))
    internal = ["ParallelGroup_1/fork", "ParallelGroup_1/join"]
    users = [kit.user(i) for i in LOOKALIKES]
    assert sorted(layout.nodes) == sorted(["start", "end", *internal, *users])
    assert sorted(layout.edge_pairs()) == sorted(
        [("start", internal[0]), (internal[1], "end")]
        + [(internal[0], u) for u in users]
        + [(u, internal[1]) for u in users]
    )
    shown = svg_nodes(draw_graph(wf, wf.last_run).svg)
    for task_id in LOOKALIKES:
        assert shown[svg_title(task_id)] == [task_id, "succeeded"]
    assert shown["ParallelGroup_1/fork"] == ["fork ParallelGroup_1"]
    panel = Layout(draw_run(wf))  # graph and session tree in one drawing
    assert panel.label("sessions//S") == ["sessions/S", "succeeded"]
    assert panel.label("sessions/S")[:2] == ["S", "closed"]


def test_a_folded_group_never_merges_with_a_task_named_like_its_summary():
    ids = ["ParallelGroup_1/branches", *(f"t{i}" for i in range(60))]
    wf = fan_out(ids)
    layout = Layout(draw_graph(wf, wf.last_run))
    assert sorted(layout.nodes) == sorted(
        ["start", "end", "ParallelGroup_1/fork", "ParallelGroup_1/branches", "ParallelGroup_1/join"]
    )
    assert layout.label("ParallelGroup_1/branches")[0] == "61 branches"


def test_hostile_ids_parse_and_show_as_themselves_in_every_render():
    wf = fan_out(HOSTILE, session_id='r"1\\')
    graph = draw_graph(wf, wf.last_run)
    layout = Layout(graph)
    assert sorted(layout.nodes) == sorted(
        ["start", "end", "ParallelGroup_1/fork", "ParallelGroup_1/join", *(kit.user(i) for i in HOSTILE)]
    )
    shown = svg_nodes(graph.svg)
    for task_id in HOSTILE:
        # A newline in an id breaks the label into lines; everything else is verbatim.
        assert shown[svg_title(task_id)] == [*task_id.split("\n"), "succeeded"], task_id
    sessions = svg_nodes(draw_sessions(wf.last_run).svg)
    root = 'r"1\\'
    assert set(sessions) == {root, *(svg_title(f"{root}_{i}") for i in HOSTILE)}
    assert sessions[svg_title(f"{root}_<b>bold</b>")][0] == f"{root}_<b>bold</b>"
    assert {f"cluster_{kit.user(f'{root}_{i}')}" for i in HOSTILE} == set(layout.clusters)
    panel = svg_nodes(draw_run(wf).svg)
    assert f"sessions/{root}" in panel and panel[f"sessions/{root}"][0] == root
    assert draw_timeline(wf.last_run).svg.count("<title>") >= len(HOSTILE)


@pytest.fixture(scope="module")
def deepest():
    """The deepest nesting accepted: start >> G32(G31(... G1(leaf, x1) ..., x31), x32)."""
    with workflow("deepest") as wf:
        node = task("leaf")(lambda: "bottom")
        for level in range(1, MAX_GROUP_DEPTH + 1):
            node = ParallelGroup([node, task(f"x{level}")(lambda level=level: level)], name=f"G{level}")
        _ = task("start")(lambda: 0) >> node
    return wf


def test_the_deepest_accepted_workflow_runs_renders_and_tabulates(deepest):
    deepest.execute("start", session_id="D", max_workers=2)
    run = deepest.last_run
    assert run.task_counts() == {"start": 1, "leaf": 1, **{f"x{n}": 1 for n in range(1, MAX_GROUP_DEPTH + 1)},
                                 **{f"G{n}": 1 for n in range(1, MAX_GROUP_DEPTH + 1)}}
    leaf_session = "D" + "".join(f"_G{n}" for n in range(MAX_GROUP_DEPTH - 1, 0, -1)) + "_leaf"
    assert run.sessions[leaf_session].depth == MAX_GROUP_DEPTH
    assert run.sessions[leaf_session].tasks_run == ["leaf"]
    graph = Layout(draw_graph(deepest, run))
    assert len(graph.clusters) == 2 * MAX_GROUP_DEPTH
    assert leaf_session.join(["cluster_", ""]) in graph.clusters
    assert graph.members(f"cluster_{leaf_session}") == {"leaf"}
    assert len(Layout(draw_sessions(run)).nodes) == 1 + 2 * MAX_GROUP_DEPTH
    frames = run.frames
    assert len(frames.sessions()) == 1 + 2 * MAX_GROUP_DEPTH
    assert frames.sessions().set_index("session_id").loc[leaf_session, "depth"] == MAX_GROUP_DEPTH


def test_the_deepest_accepted_workflow_steps_in_the_debugger(deepest):
    with deepest.debug("start", session_id="D", max_workers=4 * MAX_GROUP_DEPTH) as dbg:
        first = dbg.step()
        assert first.ran == ("start",)
        dbg.step()
        assert dbg.state()[0]["session_id"] == "D"
        dbg.run_to_end()
    run = deepest.last_run
    assert run.status == "succeeded"
    assert sum(rec.state == "merged" for rec in run.sessions.values()) == 2 * MAX_GROUP_DEPTH
