"""``run_interruptibly`` without a shell: what a Ctrl-C leaves behind once it returns.

The interrupt is a real SIGINT sent to the main thread (what Jupyter's interrupt
button does to the kernel), so it can land inside the waiting loop's join.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from graflow_nb import task, workflow
from graflow_nb.notebook import run_interruptibly

pytestmark = pytest.mark.timeout(30)


def interrupt_kernel() -> None:
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def wait_for_cancel(ctx) -> None:
    deadline = time.monotonic() + 10
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.005)


def test_an_interrupted_run_has_stopped_when_the_call_returns(capsys):
    calls = []
    with workflow("linger") as wf:

        @task
        def slow():
            calls.append("slow")
            interrupt_kernel()
            while True:  # pure Python that never polls ctx.cancelled: the interrupt stops it
                pass

        @task
        def after():
            calls.append("after")

        slow >> after

    outcome = run_interruptibly(wf, "slow", session_id="L")
    assert outcome.interrupted and not outcome.still_running
    assert outcome.status == "cancelled" and outcome.run.ended is not None
    assert [(t.task_id, t.status) for t in outcome.run.task_runs] == [("slow", "cancelled")]
    assert {s.session_id: s.state for s in outcome.run.sessions.values()} == {"L": "cancelled"}
    assert calls == ["slow"]
    assert capsys.readouterr().out == "linger: stopping run L; waiting for slow (L)\n"
    assert outcome.summary() == "linger: interrupted; run L cancelled after no task; stopped: slow; not run: after"


def test_an_interrupted_run_whose_branch_waits_for_input_ends_cancelled_not_paused():
    with workflow("asking") as wf:

        @task
        def fetch():
            return 1

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_text_input("name?")

        @task(inject_context=True)
        def busy(ctx):
            time.sleep(0.1)  # ask has paused its branch, the call is waiting
            interrupt_kernel()
            wait_for_cancel(ctx)

        fetch >> (ask | busy)

    outcome = run_interruptibly(wf, "fetch", session_id="Q")
    assert outcome.interrupted and outcome.run.ended is not None
    time.sleep(0.1)
    assert outcome.status == "cancelled" and not outcome.paused
