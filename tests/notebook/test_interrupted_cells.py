"""Interrupts as a notebook user meets them: in a real IPython shell and a real kernel.

The shell tests send a real SIGINT to the main thread (where IPython runs the cell),
from a task once the task it means to interrupt has started.  The kernel test does what
Jupyter's interrupt button does: ``km.interrupt_kernel()`` once the cell has printed a
marker from inside the running task.
"""

from __future__ import annotations

import re

import pytest
from kernels import kernel_in

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("real_ctrl_c")]  # real SIGINTs: see conftest

PLAIN_EXECUTE = """
import signal, threading
from graflow_nb import task, workflow
started = threading.Event()
calls = []

def spin_forever():
    while True:
        pass

def interrupt_once_spinning():
    # Jupyter's interrupt button, once the run computes: from a thread of its own, as a
    # member that waits behind a computing sibling may never get a thread
    started.wait(60)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

with workflow("plain") as wf:
    @task
    def fetch():
        return 1
    @task
    def spin():
        started.set()
        spin_forever()
    @task
    def trigger():
        started.wait(60)
        spin_forever()
    @task
    def sink():
        calls.append("sink")
    fetch >> (spin | trigger) >> sink
"""


def test_interrupting_a_plain_execute_shows_the_users_frames_and_one_engine_line(ip, cell):
    assert cell(PLAIN_EXECUTE).error is None
    ran = cell('threading.Thread(target=interrupt_once_spinning, daemon=True).start()\nwf.execute(session_id="P")')
    assert isinstance(ran.error, KeyboardInterrupt)
    text = re.sub(r"\x1b\[[0-9;]*m", "", ran.text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Where the cell called execute, then the task's own lines; the engine's are gone.
    assert [re.sub(r"In\[\d+\]", "In[n]", line) for line in lines if line.startswith(("Cell In", "[..."))] == [
        "Cell In[n], line 2",
        "[... skipping hidden 1 frame]",  # execute itself (IPython hides it)
        "Cell In[n], line 23, in spin()",
        "Cell In[n], line 7, in spin_forever()",
    ]
    assert lines[-3:] == [
        "KeyboardInterrupt:",
        "[graflow_nb] raised by task 'spin' in session 'P_spin'",  # where the Ctrl-C landed
        "[graflow_nb] run 'P' interrupted: cancelled",
    ]
    run = ip.user_ns["wf"].last_run
    assert run.status == "cancelled"
    assert {s.session_id: s.state for s in run.sessions.values()} == {
        "P": "cancelled", "P_spin": "cancelled", "P_trigger": "cancelled",
    }
    assert ip.user_ns["calls"] == [] and run.task_threads.running() == []
    assert cell("1 + 1").result.result == 2


STOPPED_IN_A_LOOP = """
import signal, threading
from graflow_nb import task

@task
def fetch():
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Jupyter's interrupt button
    while True:
        pass

def store(fetch):
    return fetch
"""


def test_after_an_interrupt_the_summary_the_picture_and_the_status_agree(ip, cell):
    assert cell(STOPPED_IN_A_LOOP).error is None
    ran = cell("%%graflow agree --run --session-id A\nfetch >> store\n")
    assert ran.error is None
    assert ran.text.splitlines() == [
        "agree: stopping run A; waiting for fetch (A)",
        "agree: interrupted; run A cancelled after no task; stopped: fetch; not run: store",
    ]
    assert ip.user_ns["agree"].last_run.status == "cancelled"
    [picture] = [data["image/svg+xml"] for data in ran.outputs if "image/svg+xml" in data]
    assert re.findall(r"<text[^>]*>([^<]*)<", picture) == ["agree: run A cancelled", "fetch", "cancelled", "store", "pending"]


KERNEL_SETUP = """
%load_ext graflow_nb
import time
from graflow_nb import task
calls = []

@task
def crunch():
    print("TASK STARTED", flush=True)
    n = 0
    while True:  # pure Python, never polls ctx.cancelled
        n += 1

@task
def after():
    calls.append("after")

@task(timeout=600)
def crunch_timed():  # the same loop on a timed-attempt thread, the runner waiting for it
    print("TIMED TASK STARTED", flush=True)
    n = 0
    while True:
        n += 1
"""


def _reply_to(kc, msg_id: str) -> dict:
    """The shell reply to ``msg_id`` (replies to earlier requests are passed over)."""
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def _drain_until(kc, seen: list[dict], stop) -> None:
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        seen.append(msg)
        if stop(msg):
            return


def _stream_text(msgs: list[dict], msg_id: str) -> str:
    return "".join(
        m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
    )


def _interrupt_cell(km, kc, cell: str, marker: str) -> list[str]:
    """Run ``cell``, interrupt the kernel once it printed ``marker``; the cell's lines."""
    msg_id = kc.execute(cell)
    seen: list[dict] = []
    _drain_until(kc, seen, lambda m: m["msg_type"] == "stream" and marker in m["content"]["text"])
    km.interrupt_kernel()
    reply = _reply_to(kc, msg_id)
    assert reply["content"]["status"] == "ok"  # the magic reports the interrupt, it doesn't raise
    _drain_until(kc, seen, lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                 and m["parent_header"].get("msg_id") == msg_id)
    return [line for line in _stream_text(seen, msg_id).splitlines() if line]


def _printed(kc, code: str) -> str:
    check = kc.execute(code)
    assert _reply_to(kc, check)["content"]["status"] == "ok"
    after: list[dict] = []
    _drain_until(kc, after, lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                 and m["parent_header"].get("msg_id") == check)
    return _stream_text(after, check)


RUN_RECORD = (
    "print({job}.last_run.status, sorted((s.session_id, s.state) for s in {job}.last_run.sessions.values()),"
    " [(t.task_id, t.status) for t in {job}.last_run.task_runs], calls)"
)


@pytest.mark.slow
def test_interrupting_a_real_kernel_stops_the_task_and_the_next_cell_runs():
    """A plain task on the runner thread, then a timed one on its own thread: both stop."""
    with kernel_in(None) as (km, kc):
        setup = kc.execute(KERNEL_SETUP)
        assert _reply_to(kc, setup)["content"]["status"] == "ok"
        lines = _interrupt_cell(km, kc, "%%graflow job --run crunch --session-id K --no-render\ncrunch >> after\n", "TASK STARTED")
        assert lines[-2:] == [
            "job: stopping run K; waiting for crunch (K)",
            "job: interrupted; run K cancelled after no task; stopped: crunch; not run: after",
        ]
        assert _printed(kc, RUN_RECORD.format(job="job")) == "cancelled [('K', 'cancelled')] [('crunch', 'cancelled')] []\n"

        lines = _interrupt_cell(
            km, kc, "%%graflow timed --run crunch_timed --session-id T --no-render\ncrunch_timed >> after\n", "TIMED TASK STARTED"
        )
        assert lines[-2:] == [
            "timed: stopping run T; waiting for crunch_timed (T)",
            "timed: interrupted; run T cancelled after no task; stopped: crunch_timed; not run: after",
        ]
        assert _printed(kc, RUN_RECORD.format(job="timed")) == (
            "cancelled [('T', 'cancelled')] [('crunch_timed', 'cancelled')] []\n"
        )
        assert _printed(kc, "print(crunch_timed.__name__)") == "crunch_timed\n"  # the next cell runs
