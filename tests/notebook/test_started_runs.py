"""Started runs in the notebook layer: the ``RunPanel`` over a real started run (its
form clicked, the run continuing in the background, the cancel button) and
``%%graflow ... --background`` / ``%graflow run --background`` in a real IPython shell.

Tasks that must still be running when the test looks wait for a file or an event the
test provides, so no timing decides which path ran."""

from __future__ import annotations

import threading
import time
from html import unescape

import pytest
from IPython.core.error import UsageError

from graflow_nb import task, workflow
from graflow_nb.core.errors import GraflowWorkflowCanceledError
from graflow_nb.core.runtime.handle import RunHandle
from graflow_nb.notebook.background import RunPanel

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def asking():
    with workflow("asks") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("Ship it?")

        @task
        def after(ask):
            return "shipped" if ask else "held back"

        ask >> after
    return wf


def test_the_panel_shows_the_form_and_a_click_finishes_the_run_in_the_background():
    wf = asking()
    run = wf.start(session_id="Q")
    panel = RunPanel(run)
    wait_for(lambda: panel.form is not None)
    assert "run Q of 'asks': paused, waiting for input in Q" in unescape(panel.status.value)
    form = panel.form.forms["Q"]
    assert "Ship it?" in unescape(form.children[0].value)
    form.approve_button.click()
    assert run.result(timeout=20) == "shipped"
    wait_for(lambda: "succeeded" in panel.status.value)
    assert "run Q of 'asks': succeeded, result 'shipped'" in unescape(panel.status.value)
    assert panel.cancel_button.disabled
    assert "the run goes on in the background" in unescape(panel.inputs.children[0].value)
    assert run.run.execution_sequence() == ["ask", "after"]


def test_the_panels_cancel_button_cancels_the_run():
    gate = threading.Event()
    with workflow("long") as wf:
        @task
        def first():
            assert gate.wait(30)

        @task
        def second():
            return "never"

        first >> second
    run = wf.start(session_id="K")
    panel = RunPanel(run)
    panel.cancel_button.click()
    gate.set()
    with pytest.raises(GraflowWorkflowCanceledError):
        run.result(timeout=20)
    wait_for(lambda: "cancelled" in panel.status.value)
    assert "run K of 'long': cancelled (GraflowWorkflowCanceledError: cancelled by run.cancel())" in unescape(
        panel.status.value
    )
    assert run.run.execution_sequence() == ["first"]


def test_background_cell_ends_while_the_run_goes_on_and_binds_the_handle(ip, cell, tmp_path):
    release = tmp_path / "release"
    cell(
        "import os, time\n"
        f"RELEASE = {str(release)!r}\n"
        "def fetch():\n"
        "    while not os.path.exists(RELEASE):\n"
        "        time.sleep(0.01)\n"
        "    return 20\n"
        "def store(fetch):\n"
        "    return fetch + 1\n"
    )
    ran = cell("%%graflow etl --run --background --session-id B --no-render\nfetch >> store\n")
    assert ran.error is None
    handle = ip.user_ns["etl_run"]
    assert isinstance(handle, RunHandle)
    assert ran.text.strip() == (
        "etl: run B started in the background as etl_run (`await etl_run` for its result, etl_run.cancel() to stop it)"
    )
    assert handle.status == "running"  # the cell ended, the run waits for the file
    later = cell("etl_run.status")
    assert later.result.result == "running"
    release.touch()
    assert handle.result(timeout=20) == 21
    assert ip.user_ns["etl"].last_run is handle.run
    again = cell("%graflow run etl --background --session-id B2")
    assert again.error is None
    assert ip.user_ns["etl_run"].result(timeout=20) == 21
    assert ip.user_ns["etl_run"].run.root_session_id == "B2"


def test_background_needs_a_run_and_reports_a_bad_start_for_the_cell(ip, cell):
    cell("def fetch(): return 1\n")
    ran = cell("%%graflow alone --background --no-render\nfetch\n")
    assert isinstance(ran.error, UsageError) and "--background starts a run: add --run [START]" in str(ran.error)
    ran = cell("%graflow sessions alone --background")
    assert isinstance(ran.error, UsageError) and "--background goes with run, not sessions" in str(ran.error)
    ran = cell("%%graflow alone --run nowhere --background --no-render\nfetch\n")
    assert isinstance(ran.error, KeyError) and "nowhere" in str(ran.error)
    assert "alone_run" not in ip.user_ns
