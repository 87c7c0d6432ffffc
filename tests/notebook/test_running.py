"""``run_interruptibly`` without a shell: what a Ctrl-C leaves behind once it returns.

The interrupt is a real SIGINT sent to the main thread (what Jupyter's interrupt
button does to the kernel), so it can land inside the waiting loop's join.
"""

from __future__ import annotations

import signal
import threading

import pytest
from instruments import EventWaiter, wait_for_main_thread_in, wait_until

from graflow_nb import task, workflow
from graflow_nb.core.events import EventKind
from graflow_nb.core.runtime import interrupt
from graflow_nb.notebook import run_interruptibly

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("real_ctrl_c")]  # real SIGINTs: see conftest


def interrupt_kernel() -> None:
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def interrupt_the_waiting_call(ctx) -> None:
    """Ctrl-C once the call waits in its loop, then wait for the cancel to arrive."""
    wait_for_main_thread_in("_wait")
    interrupt_kernel()
    wait_until(lambda: ctx.cancelled, "the interrupt to cancel the run")


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
            events.wait_for(EventKind.SESSION_PAUSED, "Q_ask")  # ask has parked its branch
            interrupt_the_waiting_call(ctx)

        fetch >> (ask | busy)

    events = EventWaiter()
    outcome = run_interruptibly(wf, "fetch", session_id="Q", observers=[events])
    assert outcome.interrupted and outcome.run.ended is not None
    assert outcome.status == "cancelled" and not outcome.paused  # the call joined the run's thread
    assert outcome.run.pending_inputs() == []


def test_a_root_task_stuck_in_c_is_abandoned_and_the_cell_says_so(monkeypatch, capsys):
    monkeypatch.setattr(interrupt, "STOP_GRACE_SECONDS", 0.2)
    release, woke = threading.Event(), threading.Event()
    calls, threads = [], []
    with workflow("blocked") as wf:

        @task(inject_context=True)
        def wait_in_c(ctx):
            threads.append(threading.current_thread())
            interrupt_kernel()
            try:
                release.wait()  # C: the interrupt delivered into this thread waits too
            except KeyboardInterrupt:
                calls.append("ignored the interrupt")
            ctx.get_channel().set("late", 1)  # given up on: this goes nowhere
            woke.set()
            return "late"

        @task
        def after():
            calls.append("after")

        wait_in_c >> after

    outcome = run_interruptibly(wf, "wait_in_c", session_id="C")
    run = outcome.run
    try:
        assert outcome.interrupted and outcome.still_running
        assert capsys.readouterr().out == "blocked: stopping run C; waiting for wait_in_c (C)\n"
        assert outcome.summary() == (
            "blocked: interrupted; run C cancelled after no task; abandoned, still running: wait_in_c (C); not run: after"
        )
        assert outcome.status == "cancelled" and run.ended is not None
        assert {s.session_id: s.state for s in run.sessions.values()} == {"C": "abandoned"}
        assert [(t.task_id, t.status) for t in run.task_runs] == [("wait_in_c", "abandoned")]
    finally:
        release.set()
    assert woke.wait(10)
    threads[0].join(10)  # the cell's run thread, which ran the root session
    assert not threads[0].is_alive()
    assert calls == ["ignored the interrupt"]  # after never started
    assert run.status == "cancelled" and {s.session_id: s.state for s in run.sessions.values()} == {"C": "abandoned"}
    assert [(t.task_id, t.status) for t in run.task_runs] == [("wait_in_c", "abandoned")]
    assert run.root_context.channel.get("late") is None and "wait_in_c" not in run.results()


def test_without_threads_a_cell_runs_its_workflow_on_the_calling_thread(monkeypatch):
    """Pyodide: no thread can start, so the cell's run takes the kernel's own thread."""

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("sys.platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    ran_on = []
    with workflow("cell") as wf:

        @task
        def fetch():
            ran_on.append(threading.get_ident())
            return 1

        @task
        def a(fetch):
            ran_on.append(threading.get_ident())
            return fetch + 1

        @task
        def b(fetch):
            return fetch + 2

        @task
        def store(a, b):
            return a + b

        fetch >> (a | b) >> store
    outcome = run_interruptibly(wf, "fetch", session_id="S")
    assert (outcome.result, outcome.error, outcome.interrupted, outcome.still_running) == (5, None, False, False)
    assert outcome.run is wf.last_run and outcome.run.status == "succeeded"
    assert ran_on == [threading.get_ident()] * 2
    assert outcome.run.sessions["S_a"].state == "merged"
