"""GraphView's kernel side: what it sends the browser, what a click shows, when it lays
out again, and the static picture it leaves for places without widgets.  (The browser
side is tried in tests/browser/test_graph_view_lab.py.)"""

from __future__ import annotations

import os
import threading

import pytest

from graflow_nb import task, workflow
from graflow_nb.notebook.graph_view import WIDGET_TEXT, GraphView, bundle_bytes, loader
from graflow_nb.observe.output import OutputCapture
from graflow_nb.observe.scene import build_scene, layout_key


def diamond(name="gv"):
    with workflow(name) as wf:
        @task
        def fetch():
            print("fetching rows")
            return {"rows": 3}

        @task
        def left(fetch):
            print("left sees", fetch)
            return fetch["rows"] * 2

        @task
        def right():
            raise ValueError("right broke on row 7")

        @task
        def store():
            return 4

        _ = fetch >> (left | right) >> store
    return wf


def ran(wf, capture=None):
    if capture is not None:
        wf.observers.append(capture)
    with pytest.raises(Exception, match="right broke on row 7"):
        wf.execute()
    return wf.last_run


def test_hover_tips_say_state_session_duration_attempts_and_a_preview():
    wf = diamond()
    run = ran(wf)
    view = GraphView(wf, run, sessions=True)
    left = view.nodes["left"]
    assert left["state"] == "succeeded" and left["session"] == f"{run.root_session_id}_left"
    assert left["tip"][:3] == ["left", "state: succeeded", f"session: {run.root_session_id}_left"]
    assert left["tip"][3].startswith("duration: ") and left["tip"][4] == "attempts: 1"
    assert left["tip"][-1] == "result: 6"
    assert view.nodes["right"]["tip"][-1] == "error: ValueError: right broke on row 7"
    root = view.nodes["sessions/" + run.root_session_id]
    assert root["kind"] == "session" and "ran fetch, ParallelGroup_1" in root["tip"]
    assert any(t.startswith("enqueued ") and "queued 0" in t for t in root["tip"])


def test_a_click_shows_inputs_result_printed_output_and_traceback_per_attempt():
    wf = diamond()
    capture = OutputCapture()
    run = ran(wf, capture)
    view = GraphView(wf, run, capture=capture)
    panel = view.click("left")
    assert "fetching rows" not in panel  # another task's output stays with that task
    assert f"output [session {run.root_session_id}_left]" in panel and "left sees {&#x27;rows&#x27;: 3}" in panel
    assert "<code>fetch</code>" in panel and "<b>result</b>: <code>6</code>" in panel
    failed = view.click("right")
    assert "ValueError: right broke on row 7" in failed and "<summary>traceback</summary>" in failed
    assert "raise ValueError(&quot;right broke on row 7&quot;)" in failed or "right broke on row 7" in failed


def test_a_click_on_a_join_shows_each_branch_changes_and_on_a_session_its_channel():
    wf = diamond()
    run = ran(wf)
    view = GraphView(wf, run, sessions=True)
    join = view.click("ParallelGroup_1/join")
    assert "join ParallelGroup_1" in join and "set left.__result__ = 6" in join
    assert "<b>right</b>" in join and "no changes" in join
    channel = view.click("sessions/" + run.root_session_id)
    assert "fetch.__result__" in channel and "{&#x27;rows&#x27;: 3}" in channel


def test_printed_output_of_many_branches_is_kept_apart():
    with workflow("many") as wf:
        members = []
        for i in range(16):
            def body(i=i):
                for line in range(20):
                    print(f"branch {i} line {line}")
                return i
            members.append(task(f"b{i}")(body))
        group = members[0]
        for member in members[1:]:
            group = group | member
        _ = group
    capture = OutputCapture()
    wf.observers.append(capture)
    wf.execute()
    run = wf.last_run
    for i in range(16):
        (out,) = capture.of(run, f"b{i}")
        assert out.text == "".join(f"branch {i} line {line}\n" for line in range(20))
        assert out.session_id == f"{run.root_session_id}_b{i}"


def test_the_streams_are_unwrapped_when_the_run_ends_even_if_it_fails():
    import sys

    before = (sys.stdout, sys.stderr)
    wf = diamond()
    ran(wf, OutputCapture())
    assert (sys.stdout, sys.stderr) == before


def test_only_state_changes_repaint_in_place_and_new_nodes_lay_out_again():
    release = threading.Event()
    with workflow("slow") as wf:
        @task
        def first():
            return 1

        @task
        def second():
            release.wait(10)
            return 2

        _ = first >> second
    done = threading.Thread(target=wf.execute)
    view = GraphView(wf, None)
    done.start()
    while wf.last_run is None:
        pass
    assert view.refresh(wf.last_run) is True  # the run's title: a new drawing
    sent = view.layouts_sent
    while view.nodes.get("second", {}).get("state") != "running":
        view.refresh()
    assert view.layouts_sent == sent  # states changed, the layout did not
    assert view.nodes["second"]["fill"] == "#ffeb9c" and view.nodes["second"]["lines"] == ["second", "running"]
    release.set()
    done.join(10)
    view.refresh()
    assert view.nodes["second"]["state"] == "succeeded"


def test_layout_key_ignores_colours_and_labels_but_not_edges():
    wf = diamond()
    plain = build_scene(wf.graph, None).dot
    run = ran(wf)
    coloured = build_scene(wf.graph, run).dot
    assert plain != coloured
    assert layout_key(plain.replace("gv", "x")) != layout_key(coloured)  # the title differs: laid out again
    assert layout_key(coloured) == layout_key(coloured.replace("#c6efce", "#ffffff"))
    assert layout_key(coloured) != layout_key(coloured.replace("left ->", "right ->"))


def test_a_folded_fanout_reports_members_done():
    with workflow("wide") as wf:
        members = [task(f"m{i}")(lambda i=i: i) for i in range(200)]
        group = members[0]
        for member in members[1:]:
            group = group | member
        _ = group
    wf.execute()
    view = GraphView(wf, wf.last_run, sessions=True)
    assert "ParallelGroup_1: members done 200/200" in view.progress
    folded = view.nodes["ParallelGroup_1/branches"]
    assert folded["lines"] == ["200 branches", "200 succeeded"] and "members done 200/200" in folded["tip"]
    assert len(view.dot) < 20_000  # folded: not 200 clusters
    assert len(view.nodes) < 12 and view.clusters == {}  # nor 200 tips sent each frame


def test_the_display_is_the_static_picture_then_the_widget(monkeypatch):
    shown = []
    monkeypatch.setattr("graflow_nb.notebook.graph_view.display",
                        lambda data, raw, display_id=False: shown.append(data))
    wf = diamond()
    view = GraphView(wf, ran(wf))
    view._ipython_display_()
    picture, widget = shown
    assert set(picture) == {"image/svg+xml", "image/png", "text/plain"}
    assert picture["image/svg+xml"].lstrip().startswith("<") and "left" in picture["image/svg+xml"]
    assert picture["text/plain"].startswith("graph of workflow 'gv'")
    assert widget["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    assert widget["text/plain"] == WIDGET_TEXT and view.static_above is True


def test_without_dot_the_browser_svg_becomes_the_static_picture(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    wf = diamond()
    view = GraphView(wf, ran(wf))
    assert set(view.static_bundle()) == {"text/plain"}
    view.want_svg = True
    svg = '<svg width="100pt" height="50pt" viewBox="0 0 100 50"><g class="node"><title>left</title></g></svg>'
    view._message(view, {"type": "svg", "svg": svg, "dot": "an older drawing"}, [])
    assert view.browser_svg is None  # a layout of another frame is not kept
    view._message(view, {"type": "svg", "svg": svg, "dot": view.dot}, [])
    assert view.static_bundle()["image/svg+xml"] == svg and view.want_svg is False


def test_the_loader_is_small_and_every_view_shares_one_bundle_widget():
    wf = diamond()
    one, two = GraphView(wf), GraphView(wf)
    assert len(loader()) < 2_000 and len(bundle_bytes()) > 500_000
    assert one.bundle is two.bundle and one.bundle.data == bundle_bytes()
    assert one.get_state()["bundle"] == f"IPY_MODEL_{one.bundle.model_id}"
    assert "data" not in one.get_state()  # the 800 kB go with the shared widget only
    one._message(one, ["not", "a", "dict"], [])
    one._message(one, {"type": "click", "node": 42}, [])
    assert one.panel == ""


def test_a_hostile_task_id_is_escaped_in_the_panel():
    with workflow("hostile") as wf:
        @task("<img src=x onerror=alert(1)>")
        def evil():
            return "<script>alert(2)</script>"
    wf.execute()
    view = GraphView(wf, wf.last_run)
    panel = view.click("<img src=x onerror=alert(1)>")
    assert "<img" not in panel and "<script>" not in panel and "&lt;script&gt;" in panel
    assert os.environ.get("PATH")


def test_a_task_that_paused_keeps_no_output_of_the_next_task_on_its_thread():
    with workflow("asks") as wf:
        @task(inject_context=True)
        def ask(ctx):
            print("asking")
            return ctx.request_approval("Ship it?")

        @task
        def after(ask):
            print("after the answer")
            return ask

        _ = ask >> after
    capture = OutputCapture()
    wf.observers.append(capture)
    paused = wf.execute("ask", session_id="Q")
    paused.resume({"Q": True})
    run = wf.last_run
    asked = "".join(o.text for o in capture.of(run, "ask"))
    assert "after the answer" not in asked and "asking" in asked
    assert "".join(o.text for o in capture.of(run, "after")) == "after the answer\n"
