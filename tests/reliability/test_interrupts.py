"""Ctrl-C during a plain ``wf.execute()``: one true outcome, nothing left running.

The interrupt is a real SIGINT sent to the main thread (what a terminal's Ctrl-C or a
kernel interrupt does), by a task once the tasks it means to interrupt have signalled
that they started.  Tasks loop in pure Python without polling
``ctx.cancelled``: only the interrupt delivered into their thread can stop them.
"""

from __future__ import annotations

import signal
import threading
import traceback

import pytest

from graflow_nb import task, workflow

pytestmark = pytest.mark.timeout(60)

WAIT = 20  # seconds an Event wait may take before the test fails (never reached when it works)


def states(run) -> dict[str, str]:
    return {s.session_id: s.state for s in run.sessions.values()}


def attempts(run) -> list[tuple[str, str, str]]:
    return sorted((t.task_id, t.session_id, t.status) for t in run.task_runs)


def spin_forever() -> None:
    """Pure Python that never looks at ctx.cancelled."""
    n = 0
    while True:
        n += 1


def interrupt_main_once(started: threading.Event) -> None:
    assert started.wait(WAIT)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def frames_of(error: BaseException) -> list[tuple[str, str]]:
    return [(f.filename.rsplit("/", 1)[-1], f.name) for f in traceback.extract_tb(error.__traceback__)]


def test_interrupt_at_the_group_barrier_stops_every_branch_and_starts_nothing_more():
    spinning, looping = threading.Event(), threading.Event()
    calls = []
    with workflow("barrier") as wf:

        @task
        def fetch():
            return 1

        @task
        def spin():
            spinning.set()
            spin_forever()

        @task
        def loop():
            looping.set()
            interrupt_main_once(spinning)
            spin_forever()

        @task
        def after_loop():
            calls.append("after_loop")

        @task
        def sink():
            calls.append("sink")

        # A group timeout makes the root thread only wait at the barrier (it runs no member).
        fetch >> (spin | (loop >> after_loop)).with_execution(timeout=600) >> sink

    with pytest.raises(KeyboardInterrupt) as caught:
        wf.execute(session_id="B")
    run = wf.last_run
    assert run.status == "cancelled"
    assert states(run) == {"B": "cancelled", "B_spin": "cancelled", "B_loop": "cancelled"}
    assert attempts(run) == [
        ("ParallelGroup_1", "B", "cancelled"),
        ("fetch", "B", "succeeded"),
        ("loop", "B_loop", "cancelled"),
        ("spin", "B_spin", "cancelled"),
    ]
    assert calls == []  # neither the task queued after loop nor the sink started
    assert run.task_threads.running() == []  # no thread runs a task of it any more
    assert caught.value.__notes__ == ["[graflow_nb] run 'B' interrupted: cancelled"]
    # The caller's frame and one engine line (execute), not the engine's machinery.
    assert frames_of(caught.value) == [("test_interrupts.py", "test_interrupt_at_the_group_barrier_stops_every_branch_and_starts_nothing_more"), ("workflow.py", "execute")]
