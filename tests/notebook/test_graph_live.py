"""``execute(live=True)`` in a kernel's shell: the live view is drawn by a GraphView.

The shell is a real ``InteractiveShell`` publishing into a recorder, with a ``kernel``
(what tells a Jupyter kernel from a terminal); the widget's comm is ipywidgets' own
stand-in with no front end.  What the browser does with the state is tried in
tests/browser/test_graph_view_lab.py."""

from __future__ import annotations

import contextvars
import sys
import threading

import pytest
from instruments import wait_until
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from graflow_nb import task, workflow
from graflow_nb.notebook.graph_live import GraphLiveView
from graflow_nb.observe.live import placeholder, redraw_final

WIDGET = "application/vnd.jupyter.widget-view+json"
CELL = contextvars.ContextVar("cell")


class Recorder(CapturingDisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
        self.outputs.append({"data": data, "transient": transient or {}, "update": update,
                             "thread": threading.current_thread().name})


@pytest.fixture
def kernel_shell(monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setattr(InteractiveShell, "_instance", None)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    sh.display_pub = Recorder()
    sh.kernel = object()  # what a Jupyter kernel's shell has
    return sh


def fanout(width: int, gate: threading.Event):
    with workflow("wide") as wf:
        source = task("source")(lambda: print("source ran"))
        sink = task("sink")(lambda: None)

        def member(i):
            def body():
                print(f"member {i} says hi")
                gate.wait(30)
                return i
            return task(f"m{i}")(body)

        group = member(0)
        for i in range(1, width):
            group = group | member(i)
        _ = source >> group >> sink
    return wf


def test_a_kernel_gets_the_widget_live_view_and_a_final_widget_with_its_picture(kernel_shell, monkeypatch):
    gate = threading.Event()
    wf = fanout(3, gate)
    views = []
    factory = sys.modules["graflow_nb.core.workflow"].LIVE_VIEW_FACTORY

    def remember(workflow_, options):
        views.append(factory(workflow_, options))
        return views[-1]

    monkeypatch.setattr(sys.modules["graflow_nb.core.workflow"], "LIVE_VIEW_FACTORY", remember)
    runner = threading.Thread(target=lambda: wf.execute("source", session_id="S", live={"interval": 0.1}))
    runner.start()
    wait_until(lambda: views and views[0].view is not None and views[0]._shown, "the widget in the live area")
    (view,) = views
    assert isinstance(view, GraphLiveView)
    widget = view.view
    wait_until(lambda: widget.nodes.get("m2", {}).get("state") == "running", "the members running")
    layouts = widget.layouts_sent
    assert "m0" in widget.nodes and widget.progress.startswith("1/5 tasks done, 3 running")
    gate.set()
    runner.join(30)
    outputs = kernel_shell.display_pub.outputs
    first, shown, *rest = outputs
    assert first["data"] == placeholder("wide") and not first["update"]
    assert shown["update"] and WIDGET in shown["data"] and shown["thread"] == "graflow-live-S"
    closing, final, interactive = rest[-3:]
    assert closing["update"] and WIDGET not in closing["data"]
    assert closing["data"]["text/plain"].startswith("live view of workflow 'wide': the run ended (succeeded)")
    assert set(final["data"]) == {"image/svg+xml", "image/png", "text/plain"} and not final["update"]
    assert final["data"]["text/plain"].startswith("wide: run S succeeded, 5/5 tasks done")
    assert interactive["data"][WIDGET]["model_id"] == widget.model_id and not interactive["update"]
    # the widget was put into the area once; the frames after it changed its state only
    assert [o for o in rest[:-3] if WIDGET in o["data"]] == []
    assert widget.layouts_sent <= layouts + 1  # one more: the closing layout
    assert widget.nodes["m1"]["state"] == "succeeded"
    assert "member 1 says hi" in widget.click("m1") and "member 2 says hi" not in widget.click("m1")
    assert redraw_final(wf.last_run) is True


def test_widgets_can_be_turned_off(kernel_shell, monkeypatch):
    monkeypatch.setenv("GRAFLOW_NB_WIDGETS", "0")
    gate = threading.Event()
    gate.set()
    wf = fanout(2, gate)
    wf.execute("source", session_id="S", live=True)
    final = kernel_shell.display_pub.outputs[-1]
    assert set(final["data"]) == {"image/svg+xml", "image/png", "text/plain"}
