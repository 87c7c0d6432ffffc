"""``run = wf.start(...)`` in a real Jupyter kernel (the venv's ``python3``), read off
the wire: the starting cell ends while the run goes on, a later cell executes meanwhile,
and what the run prints, including from a branch while that later cell runs, is
addressed to the cell that started it; its live view and status line change through
widget state (comm messages), never as outputs of whatever cell runs now.

A branch task waits for a file that the *later* cell creates once the panel's live area
holds a drawn frame, so the run is certainly still going while that cell runs, and the
branch prints while it does."""

from __future__ import annotations

import queue
import time

import pytest
from kernels import kernel_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SETUP = """
import os, time
from graflow_nb import task, workflow
RELEASE = {release!r}
with workflow("diamond") as wf:
    @task
    def fetch():
        print("fetch ran", flush=True)
        return 3
    @task
    def transform_a(fetch):
        deadline = time.monotonic() + 120   # a test that never releases fails, never hangs
        while not os.path.exists(RELEASE):
            if time.monotonic() > deadline:
                raise TimeoutError("the test never released the task")
            time.sleep(0.01)
        print("transform_a was released", flush=True)
        return fetch * 2
    @task
    def transform_b(fetch): return fetch + 1
    @task
    def store(transform_a, transform_b): return transform_a + transform_b
    fetch >> (transform_a | transform_b) >> store
"""


def execute(client, code: str) -> tuple[str, list[dict], dict]:
    """Run ``code``; (its msg_id, every iopub message until it is idle, whatever its
    parent, and its execute reply)."""
    msg_id = client.execute(code)
    messages: list[dict] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        messages.append(msg)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    else:
        pytest.fail(f"the cell did not finish: {[m['msg_type'] for m in messages]}")
    reply = client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "ok", [m["content"] for m in messages if m["msg_type"] == "error"]
    return msg_id, messages, reply["content"]


def drain(client, seconds: float) -> list[dict]:
    messages, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            messages.append(client.get_iopub_msg(timeout=0.1))
        except queue.Empty:
            pass
    return messages


def printed(messages: list[dict], parent: str) -> str:
    return "".join(
        m["content"]["text"] for m in messages
        if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == parent
    )


def widget_values(messages: list[dict]) -> list[str]:
    """Every string trait value the kernel sent in widget state updates."""
    values = []
    for m in messages:
        if m["msg_type"] in ("comm_msg", "comm_open"):
            state = m["content"]["data"].get("state", {})
            values.extend(v for v in state.values() if isinstance(v, str))
    return values


def test_a_started_run_frees_the_cell_and_writes_to_the_cell_that_started_it(tmp_path):
    release = tmp_path / "release"
    with kernel_in(tmp_path) as (_manager, client):
        execute(client, SETUP.format(release=str(release)))
        started, start_messages, _ = execute(client, 'run = wf.start("fetch", session_id="K", live=True)')
        assert not release.exists()  # the cell ended while transform_a waits
        panels = [
            m for m in start_messages
            if m["msg_type"] == "display_data" and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]
        ]
        assert len(panels) == 1  # the run's panel, shown while the starting cell ran

        later, later_messages, _ = execute(
            client,
            "print(run.status)\n"
            "from ipywidgets.widgets.widget import _instances\n"
            "def framed():  # the panel holds the live view's GraphView, drawn (its progress line)\n"
            "    return any('tasks done' in str(getattr(child, 'progress', ''))\n"
            "               for w in list(_instances.values()) for child in getattr(w, 'children', ()))\n"
            "deadline = time.monotonic() + 60\n"
            "while not framed() and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "print('framed' if framed() else 'no frame within 60 s')\n"
            "open(RELEASE, 'w').close()\n"
            "deadline = time.monotonic() + 60\n"
            "while 'transform_a' not in run.run.results() and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "print('the later cell ran')\n",
        )
        assert printed(later_messages, later) == "running\nframed\nthe later cell ran\n"
        after = drain(client, 2.0)
        everything = start_messages + later_messages + after
        # what the run printed went to the starting cell, also while the later cell ran
        assert printed(everything, started) == "fetch ran\ntransform_a was released\n"
        # nothing is displayed once the starting cell ended, not even into that cell: the
        # live view's GraphView sits in the panel and the final picture is its last state
        assert not [m for m in later_messages + after if m["msg_type"] in ("display_data", "update_display_data")]
        assert [
            m for m in everything
            if m["msg_type"] == "comm_open" and m["content"]["data"].get("state", {}).get("_model_name") == "AnyModel"
        ], "the panel never held the live view's GraphView"
        values = widget_values(everything)
        assert any("tasks done" in v for v in values), "no live frame reached the panel"
        assert any("run K of &#x27;diamond&#x27;: succeeded, result 10" in v for v in values), values[-5:]

        waited, waited_messages, _ = execute(client, "print(await run, run.status, wf.last_run is run.run)")
        assert printed(waited_messages, waited) == "10 succeeded True\n"


def test_result_in_a_cell_is_refused_and_points_to_await(tmp_path):
    release = tmp_path / "release"
    with kernel_in(tmp_path) as (_manager, client):
        execute(client, SETUP.format(release=str(release)))
        execute(client, 'run = wf.start("fetch", session_id="R")')
        msg_id = client.execute("run.result(timeout=1)", stop_on_error=False)
        error = None
        while error is None:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "error":
                error = msg["content"]
        reply = client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=30)
        assert error["ename"] == "RuntimeError"
        assert "use `await run` here instead" in error["evalue"]
        assert not release.exists()
        cancelled, messages, _ = execute(
            client,
            "print(run.cancel())\n"
            "open(RELEASE, 'w').close()\n"
            "try:\n"
            "    await run\n"
            "except Exception as error:\n"
            "    print(type(error).__name__, run.status, run.run.execution_sequence())\n",
        )
        assert printed(messages, cancelled) == (
            "True\nGraflowWorkflowCanceledError cancelled ['fetch', 'transform_a', 'transform_b']\n"
        )
