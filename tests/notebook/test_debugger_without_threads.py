"""The step debugger without threads in a real IPython shell: ``wf.debug(threads=False)``
steps a run across cells on the shell's own thread, and the debugger widget's buttons
drive it the same way.  Every ``Thread.start`` is counted: none may happen."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.timeout(60)

DIAMOND = """
from graflow_nb import task, workflow
ran = []
with workflow("diamond") as wf:
    @task(inject_context=True)
    def fetch(ctx):
        ran.append(("fetch", ctx.session_id))
        ctx.get_channel().set("rows", 3)
        return 3
    @task(inject_context=True)
    def double(ctx, fetch):
        ran.append(("double", ctx.session_id))
        return fetch * 2
    @task(inject_context=True)
    def inc(ctx, fetch):
        ran.append(("inc", ctx.session_id))
        return fetch + 1
    @task
    def store(double, inc):
        ran.append(("store", None))
        return double + inc
    fetch >> (double | inc) >> store
"""


@pytest.fixture
def started(monkeypatch):
    """The names of the threads started while the test runs."""
    names: list[str] = []
    start = threading.Thread.start

    def counted(self):
        names.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    return names


def test_stepping_across_cells_on_the_shells_thread(cell, ip, started):
    assert cell(DIAMOND).error is None
    assert cell('dbg = wf.debug("fetch", session_id="S", threads=False)').error is None
    ran = cell("print(dbg.step()); print(dbg.step())")
    assert ran.error is None
    assert ran.text.splitlines() == ["S: ran fetch; now held before ParallelGroup_1", "S: forked S_double, S_inc; now waiting for S_double, S_inc"]
    ran = cell("print(dbg.step('S_inc')); print(dbg.state())")
    assert ran.text.splitlines() == [
        "S_inc: ran inc; now finished, not merged yet",
        "S           waiting  in ParallelGroup_1        queue: -",
        "  S_double  held     before double             queue: -",
        "  S_inc     done     finished, not merged yet  queue: -",
    ]
    assert ip.user_ns["ran"] == [("fetch", "S"), ("inc", "S_inc")]
    assert cell("result = dbg.run_to_end()").error is None
    assert ip.user_ns["result"] == 10
    assert ip.user_ns["ran"] == [("fetch", "S"), ("inc", "S_inc"), ("double", "S_double"), ("store", None)]
    assert started == []


def test_the_widgets_buttons_drive_the_debugger_without_threads(cell, ip, started):
    assert cell(DIAMOND).error is None
    ran = cell(
        "from graflow_nb.notebook import DebuggerWidget\n"
        "widget = DebuggerWidget(wf.debug('fetch', session_id='S', threads=False), pictures=False)\n"
        "widget.step_button.click(); widget.step_button.click()\n"
        "widget.rows['S_double'].step_button.click()\n"
    )
    assert ran.error is None
    widget = ip.user_ns["widget"]
    assert {s["session_id"]: s["status"] for s in widget.debugger.state()} == {"S": "waiting", "S_double": "done", "S_inc": "held"}
    assert "S_double: ran double" in widget.status.value
    widget.rows["S_inc"].continue_button.click()
    assert widget.debugger.state()[0]["stop"] == "merge" and "merge ParallelGroup_1 into S" in widget.merge.value
    widget.run_button.click()
    assert widget.debugger.finished and "the run ended (succeeded), result 10" in widget.status.value
    widget.restart_button.click()
    assert [s["status"] for s in widget.debugger.state()] == ["held"]
    widget.debugger.close()
    assert started == []



def test_the_magics_open_the_debugger_without_threads_with_no_threads(cell, ip, started):
    assert cell(DIAMOND).error is None
    ran = cell("%graflow step wf --start fetch --session-id S --no-threads")
    assert ran.error is None, ran.text
    magics = ip.magics_manager.registry["GraflowMagics"]
    dbg = magics.debuggers["diamond"]
    assert dbg.threads is False and dbg.held() == ["S"]
    widget = magics.debugger_widgets["diamond"]
    widget.run_button.click()
    assert dbg.result == 10 and dbg.run.execution_sequence() == ["fetch", "double", "inc", "store"]
    ran = cell("%%graflow tiny --step --session-id T --no-threads --no-render\n@task\ndef only():\n    return 1\n")
    assert ran.error is None, ran.text
    assert magics.debuggers["tiny"].threads is False and magics.debuggers["tiny"].held() == ["T"]
    assert started == []


def test_no_threads_goes_with_stepping_only(cell, ip):
    assert cell(DIAMOND).error is None
    ran = cell("%graflow run wf --no-threads")
    assert type(ran.error).__name__ == "UsageError" and str(ran.error) == "--no-threads goes with step, not run"
    ran = cell("%%graflow other --run --no-threads\n@task\ndef only():\n    return 1\n")
    assert str(ran.error) == "--no-threads goes with --step (it steps the run on this thread)"
    assert "other" not in ip.user_ns  # refused before the cell built anything
