"""Pictures where ``dot`` can't run: Pyodide (JupyterLite), which can start no program,
and a machine without Graphviz.  There a kernel shows every picture through the
GraphView widget, laid out in the browser, instead of the "Graphviz is not installed"
note; where ``dot`` runs, a drawing shows as before (the notebooks' stored outputs,
checked by nbval, hold that).  (In the browser itself: tests/lite/test_in_the_browser.py.)"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from graflow_nb import task, workflow
from graflow_nb.notebook.drawing_view import DrawingView
from graflow_nb.notebook.graph_view import WIDGET_TEXT
from graflow_nb.observe import MISSING_DOT, draw_sessions
from graflow_nb.utils.programs import dot_runs_here


def diamond():
    with workflow("pictures") as wf:
        @task
        def fetch():
            return 1

        @task
        def left(fetch):
            return fetch + 1

        @task
        def right(fetch):
            return fetch + 2

        @task
        def store(left, right):
            return left + right

        _ = fetch >> (left | right) >> store
    wf.execute("fetch", session_id="P")
    return wf


def test_dot_runs_only_where_a_program_can_start_and_dot_is_on_the_path(monkeypatch, tmp_path):
    assert shutil.which("dot") is not None and dot_runs_here()  # make test installs Graphviz
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert not dot_runs_here()
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not dot_runs_here()


def test_in_pyodide_a_render_never_tries_dot(monkeypatch):
    render = draw_sessions(diamond().last_run)
    tried = []
    monkeypatch.setattr(render.digraph, "pipe", lambda *a, **k: tried.append(k) or b"<svg/>")
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert render.svg is None and render.png is None and not render.dot_available
    assert tried == []
    assert set(render._repr_mimebundle_()) == {"text/plain"}


def test_a_drawing_view_lays_out_the_drawing_itself_and_keeps_the_browsers_svg(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    drawing = draw_sessions(diamond().last_run)
    view = DrawingView(drawing)
    assert view.dot == drawing.source and view.layouts_sent == 1
    assert view.nodes == {} and view.click("P_left") == ""
    assert view.refresh() is False and view.layouts_sent == 1  # the drawing does not change
    assert view.static_bundle() == {"text/plain": drawing.text}
    view.want_svg = True
    svg = '<svg width="90pt" height="40pt" viewBox="0 0 90 40"><g class="node"><title>P_left</title></g></svg>'
    view._message(view, {"type": "svg", "svg": svg, "dot": view.dot}, [])
    assert view.static_bundle() == {"text/plain": drawing.text, "image/svg+xml": svg}


CELL = """
from graflow_nb import draw_graph, draw_run, draw_sessions, task, workflow
with workflow("pictures") as wf:
    @task
    def fetch(): return 1
    @task
    def left(fetch): return fetch + 1
    @task
    def right(fetch): return fetch + 2
    @task
    def store(left, right): return left + right
    fetch >> (left | right) >> store
wf.execute("fetch", session_id="P")
"""


def shown(client, code: str) -> list[tuple[str, dict]]:
    """What a front end receives for ``code``: (message type, data) of each output."""
    msg_id = client.execute(code)
    outputs: list[tuple[str, dict]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in ("display_data", "execute_result"):
            outputs.append((kind, msg["content"]["data"]))
        elif kind == "error":
            pytest.fail("\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
    pytest.fail(f"{code!r} did not finish")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_kernel_without_dot_shows_every_picture_through_the_graph_view_widget(tmp_path):
    no_dot = tmp_path / "bin"
    no_dot.mkdir()
    env = {**os.environ, "PATH": f"{no_dot}{os.pathsep}{Path(sys.executable).parent}"}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        assert shown(client, CELL) == [("execute_result", {"text/plain": "5"})]
        for code in ("draw_sessions(wf.last_run)", "draw_run(wf)", "draw_graph(wf, wf.last_run)"):
            outputs = shown(client, code)
            assert [kind for kind, _ in outputs] == ["display_data", "display_data"], (code, outputs)
            (_, static), (_, widget) = outputs
            # Until the browser sends its layout back, the picture's output is its line of text.
            assert set(static) == {"text/plain"} and MISSING_DOT not in static["text/plain"], (code, static)
            assert widget["text/plain"] == WIDGET_TEXT and "application/vnd.jupyter.widget-view+json" in widget
        assert shown(client, "draw_sessions(wf.last_run)")[0][1]["text/plain"].startswith("sessions of run P")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

