"""``run_interruptibly`` without a shell: what a Ctrl-C leaves behind once it returns.

The interrupt is a real SIGINT sent to the main thread (what Jupyter's interrupt
button does to the kernel), so it can land inside the waiting loop's join.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from instruments import EventWaiter, wait_for_main_thread_in, wait_until

from graflow_nb import task, workflow
from graflow_nb.core.events import EventKind
from graflow_nb.notebook import run_interruptibly

pytestmark = pytest.mark.timeout(30)


def interrupt_kernel() -> None:
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def interrupt_the_waiting_call(ctx) -> None:
    """Ctrl-C once the call waits in its loop, then wait for the cancel to arrive."""
    wait_for_main_thread_in("_wait")
    interrupt_kernel()
    wait_until(lambda: ctx.cancelled, "the interrupt to cancel the run")


def test_an_interrupted_run_has_stopped_when_the_call_returns():
    calls = []
    with workflow("linger") as wf:

        @task(inject_context=True)
        def slow(ctx):
            interrupt_the_waiting_call(ctx)
            time.sleep(0.3)  # simulated work still finishing after the cancel
            calls.append("slow")

    outcome = run_interruptibly(wf, "slow", session_id="L")
    assert outcome.interrupted and not outcome.still_running
    assert calls == ["slow"] and outcome.run.ended is not None
    assert outcome.status == "cancelled"
    assert [(tr.task_id, tr.status) for tr in outcome.run.task_runs] == [("slow", "succeeded")]


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
            events.wait_for(EventKind.SESSION_PAUSED, "Q_ask")  # ask has parked its branch
            interrupt_the_waiting_call(ctx)

        fetch >> (ask | busy)

    events = EventWaiter()
    outcome = run_interruptibly(wf, "fetch", session_id="Q", observers=[events])
    assert outcome.interrupted and outcome.run.ended is not None
    assert outcome.status == "cancelled" and not outcome.paused  # the call joined the run's thread
    assert outcome.run.pending_inputs() == []
