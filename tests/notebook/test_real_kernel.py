"""The notebook promises (docs/reference/notebook.md) in a real Jupyter kernel (the venv's ``python3``
kernel that ``make test`` installs), read off the wire: what a front end and nbval
actually receive.

Live view: a branch task waits for a file that this test creates only after it has
seen the live area redrawn, so the run is certainly still going when the frame is
drawn.  Interrupt: the running task waits until it sees the run cancelled, so the
interrupt certainly arrives while it runs.  No timing assumption decides which path ran.
"""

from __future__ import annotations

import queue
import re
import textwrap
import time
from pathlib import Path

import pytest
from kernels import kernel_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WAIT_FOR_RELEASE = """
import os, time
RELEASE = {release!r}
def wait_for_release():
    deadline = time.monotonic() + 120      # a test that never releases fails, never hangs
    while not os.path.exists(RELEASE):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the task")
        time.sleep(0.01)
"""

PLAIN_FUNCTIONS = """
def fetch():
    return {"rows": 3}
def clean(fetch):
    wait_for_release()
    return fetch["rows"] * 2
def enrich(fetch):
    return fetch["rows"] + 1
def store(clean, enrich):
    return clean + enrich
"""

DECORATED = """
from graflow_nb import task, workflow
with workflow("diamond") as wf:
    @task
    def fetch(): return {"rows": 3}
    @task
    def transform_a(fetch):
        wait_for_release()
        return fetch["rows"] * 2
    @task
    def transform_b(fetch): return fetch["rows"] + 1
    @task
    def store(transform_a, transform_b): return transform_a + transform_b
    fetch >> (transform_a | transform_b) >> store
"""


@pytest.fixture(scope="module")
def started_kernel(tmp_path_factory):
    """One kernel for this module: (its manager, a client on it)."""
    cwd = tmp_path_factory.mktemp("kernel")
    with kernel_in(cwd) as started:
        yield started


@pytest.fixture
def kernel(started_kernel):
    return started_kernel[1]


@pytest.fixture
def kernel_manager(started_kernel):
    return started_kernel[0]


def _drain(client) -> None:
    while True:
        try:
            client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def drawn_frame(msg: dict) -> bool:
    """A live frame: the picture live view's display update, or the update that puts
    the GraphView in the live area (its first frame)."""
    if msg["msg_type"] != "update_display_data":
        return False
    data = msg["content"]["data"]
    return "tasks done" in data["text/plain"] or "application/vnd.jupyter.widget-view+json" in data


def run_cell(client, code: str, release: Path | None = None, when_exists: tuple[Path, object] | None = None):
    """Execute ``code``; return its iopub messages (in order) and the execute reply.

    With ``release``: create that file as soon as a drawn frame (not the placeholder)
    has arrived (``drawn_frame``), which lets the waiting task finish.
    With ``when_exists=(path, action)``: call ``action()`` once, as soon as ``path`` exists.
    """
    _drain(client)
    msg_id = client.execute(code)
    messages: list[dict] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if when_exists is not None and when_exists[0].exists():
            when_exists[1]()
            when_exists = None
        try:
            msg = client.get_iopub_msg(timeout=0.05 if when_exists is not None else 1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        kind = msg["msg_type"]
        if release is not None and drawn_frame(msg):
            release.touch()
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    else:
        pytest.fail(f"the cell did not finish; messages so far: {[m['msg_type'] for m in messages]}")
    reply = client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:  # a late kernel_info reply from start-up
        reply = client.get_shell_msg(timeout=30)
    return messages, reply["content"]


def check_ok(messages: list[dict], reply: dict) -> None:
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert reply["status"] == "ok", (reply, errors)


def stdout_of(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def live_outputs(messages: list[dict]) -> tuple[dict, list[dict], list[dict]]:
    """(the live area's first display_data, its updates, the display_data outputs after it)."""
    displays = [m for m in messages if m["msg_type"] == "display_data"]
    live = next(m for m in displays if m["content"]["transient"].get("display_id"))
    display_id = live["content"]["transient"]["display_id"]
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert {u["content"]["transient"]["display_id"] for u in updates} == {display_id}
    after = displays[displays.index(live) + 1:]
    return live, updates, after


def check_live_run(messages: list[dict], workflow_name: str, task_ids: list[str], sessions: list[str]) -> None:
    live, updates, after = live_outputs(messages)
    placeholder_text = (
        f"live view of workflow {workflow_name!r}: the final picture follows when the run ends"
    )
    assert live["content"]["data"]["text/plain"] == placeholder_text

    closing_text = f"live view of workflow {workflow_name!r}: the run ended (succeeded); its final picture is below"
    frames = [u for u in updates if u["content"]["data"]["text/plain"] not in (placeholder_text, closing_text)]
    assert frames, "no frame was drawn while the run went"
    first = frames[0]["content"]["data"]
    # drawn while a branch task still waited for the release file
    assert re.fullmatch(r"\d+/\d+ tasks done, [1-9]\d* running, \d+ queued, \d+ sessions, \d+\.\d s", first["text/plain"])
    assert "<svg" in first["text/html"] and first["text/html"] != live["content"]["data"]["text/html"]
    assert all(session in first["text/html"] for session in sessions)
    # the live area ends on a note without timings, so a saved notebook holds none
    assert updates[-1]["content"]["data"]["text/plain"] == closing_text
    assert messages.index(updates[-1]) < messages.index(after[0])

    final = [m for m in after if "image/svg+xml" in m["content"]["data"]]
    assert len(final) == 1, [m["content"]["data"].keys() for m in after]
    # a new output of its own (redrawn in place if the run is resumed), not the live area
    assert final[0]["content"].get("transient", {}).get("display_id") != live["content"]["transient"]["display_id"]
    svg = final[0]["content"]["data"]["image/svg+xml"]
    titles = set(re.findall(r"<title>([^<]*)</title>", svg))
    assert set(task_ids) <= titles, titles
    for session in sessions:
        assert session in svg


PICTURES = "import os\nos.environ['GRAFLOW_NB_WIDGETS'] = '0'  # the picture live view\n"
WIDGETS = "import os\nos.environ['GRAFLOW_NB_WIDGETS'] = '1'\n"


def test_graflow_magic_live_redraws_then_leaves_the_final_picture(kernel, tmp_path):
    release = tmp_path / "release-magic"
    messages, reply = run_cell(kernel, PICTURES + "%load_ext graflow_nb\n" + WAIT_FOR_RELEASE.format(release=str(release)) + PLAIN_FUNCTIONS)
    check_ok(messages, reply)
    messages, reply = run_cell(
        kernel, "%%graflow etl --run --live --session-id 4821\nfetch >> (clean | enrich) >> store\n", release
    )
    check_ok(messages, reply)
    assert release.exists()
    check_live_run(messages, "etl", ["fetch", "clean", "enrich", "store"], ["4821_clean", "4821_enrich"])
    assert stdout_of(messages).strip() == "etl: succeeded, 4 tasks in 3 sessions, result 10"


def test_execute_live_in_a_plain_cell_redraws_then_leaves_the_final_picture(kernel, tmp_path):
    release = tmp_path / "release-execute"
    messages, reply = run_cell(
        kernel, PICTURES + "import graflow_nb\n" + WAIT_FOR_RELEASE.format(release=str(release)) + textwrap.dedent(DECORATED)
    )
    check_ok(messages, reply)
    messages, reply = run_cell(kernel, 'result = wf.execute("fetch", session_id="4822", live=True)\nprint(result)', release)
    check_ok(messages, reply)
    assert release.exists()
    check_live_run(
        messages, "diamond", ["fetch", "transform_a", "transform_b", "store"], ["4822_transform_a", "4822_transform_b"]
    )
    assert stdout_of(messages) == "10\n"


INTERRUPTED = """
import os, time
from graflow_nb import task
calls = []
STARTED = {started!r}

@task(inject_context=True)
def fetch(ctx):
    calls.append("fetch")
    open(STARTED, "w").close()
    deadline = time.monotonic() + 120
    while True:                       # pure Python: the interrupt is delivered into it
        if time.monotonic() > deadline:
            raise TimeoutError("the test never interrupted the kernel")
    calls.append("fetch was never stopped")
    return {{"rows": 3}}

def transform_a(fetch): calls.append("transform_a")
def transform_b(fetch): calls.append("transform_b")
def store(transform_a, transform_b): calls.append("store")
"""


def test_interrupting_the_kernel_cancels_the_run_and_the_next_cell_works(kernel, kernel_manager, tmp_path):
    started = tmp_path / "started"
    messages, reply = run_cell(kernel, "%load_ext graflow_nb\n" + INTERRUPTED.format(started=str(started)))
    check_ok(messages, reply)
    messages, reply = run_cell(
        kernel,
        "%%graflow intr --run --session-id I --no-render\nfetch >> (transform_a | transform_b) >> store\n",
        when_exists=(started, kernel_manager.interrupt_kernel),
    )
    assert started.exists()
    assert reply["status"] == "ok"  # the cell reports the interruption; it does not fail
    assert stdout_of(messages) == (
        "intr: stopping run I; waiting for fetch (I)\n"
        "intr: interrupted; run I cancelled after no task; stopped: fetch; not run: transform_a, transform_b, store\n"
    )
    # the running task was stopped inside its loop; nothing started after the interrupt
    messages, reply = run_cell(kernel, "print(calls, intr.last_run.status, intr.last_run.task_counts())")
    check_ok(messages, reply)
    assert stdout_of(messages) == "['fetch'] cancelled {'fetch': 1}\n"
    messages, reply = run_cell(kernel, "print(1 + 1)")
    check_ok(messages, reply)
    assert stdout_of(messages) == "2\n"


def test_live_in_a_kernel_is_a_graph_view_updated_by_state_then_picture_and_widget(kernel, tmp_path):
    """What the wire carries for a widget live view: the note, one display update that
    puts the widget in the live area, then only widget state updates, then the closing
    note, the static picture and the widget; the
    bundle's bytes travel once, with the shared GraphBundle widget."""
    release = tmp_path / "release-widget"
    setup = WIDGETS + "import graflow_nb\n" + WAIT_FOR_RELEASE.format(release=str(release)) + textwrap.dedent(DECORATED)
    messages, reply = run_cell(kernel, setup)
    check_ok(messages, reply)
    code = 'result = wf.execute("fetch", session_id="4823", live={"interval": 0.1})\nprint(result)'
    messages, reply = run_cell(kernel, code, release)
    check_ok(messages, reply)
    assert release.exists() and stdout_of(messages) == "10\n"
    widget = "application/vnd.jupyter.widget-view+json"
    displays = [m for m in messages if m["msg_type"] == "display_data"]
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    note, picture, view = displays
    assert note["content"]["data"]["text/plain"].startswith("live view of workflow 'diamond'")
    assert [widget in u["content"]["data"] for u in updates] == [True, False]
    assert set(picture["content"]["data"]) == {"image/svg+xml", "image/png", "text/plain"}
    assert widget in view["content"]["data"]
    states = [m["content"]["data"]["state"] for m in messages
              if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update"]
    assert any("tasks done" in s.get("progress", "") for s in states)
    assert any(s.get("progress", "").startswith("4/4 tasks done") for s in states)
    bundles = [m for m in messages if m["msg_type"] == "comm_open" and m["buffers"]]
    messages, reply = run_cell(kernel, 'wf.execute("fetch", session_id="4824", live={"interval": 0.1})\n')
    check_ok(messages, reply)
    again = [m for m in messages if m["msg_type"] == "comm_open" and m["buffers"]]
    assert len(bundles) == 1 and again == []  # the bundle went out once for the kernel


def test_draw_graph_in_a_kernel_is_the_static_picture_then_the_graph_view(kernel, tmp_path):
    messages, reply = run_cell(kernel, WIDGETS + "import graflow_nb\n" + textwrap.dedent(DECORATED.replace(
        "wait_for_release()", "pass")) + 'wf.execute("fetch", session_id="4825")\n')
    check_ok(messages, reply)
    messages, reply = run_cell(kernel, "from graflow_nb import draw_graph\ndraw_graph(wf, wf.last_run)")
    check_ok(messages, reply)
    widget = "application/vnd.jupyter.widget-view+json"
    picture, view = [m["content"]["data"] for m in messages if m["msg_type"] == "display_data"]
    assert set(picture) == {"image/svg+xml", "image/png", "text/plain"} and "run 4825 succeeded" in picture["text/plain"]
    assert widget in view and "execute_result" not in [m["msg_type"] for m in messages]
    messages, reply = run_cell(kernel, "import os\nos.environ['GRAFLOW_NB_WIDGETS'] = '0'\ndraw_graph(wf, wf.last_run)")
    check_ok(messages, reply)
    (alone,) = [m["content"]["data"] for m in messages if m["msg_type"] in ("display_data", "execute_result")]
    assert set(alone) == {"image/svg+xml", "image/png", "text/plain"}
