"""A Ctrl-C reaches the main thread wherever the engine has it wait.

Python runs the SIGINT handler only when the main thread next executes bytecode.  A
Ctrl-C that arrives while the main thread is already asleep in a wait, but is not
delivered into that wait's system call, does not wake it: the process's SIGINT taken by
another thread (Jupyter's interrupt button signals the process), or one that came just
before the main thread went to sleep.  ``_thread.interrupt_main()`` is exactly that
case: the handler is made pending and nothing is woken.  Each test has a task call it
once the main thread sleeps in one of the engine's waits, then spin in pure Python; the
run must stop that task well before it spins to its end (``WAIT`` seconds later).
"""

from __future__ import annotations

import _thread
import asyncio
import linecache
import sys
import threading
import time

import pytest
from instruments import wait_until

from graflow_nb import task, workflow
from graflow_nb.core.runtime.engine import WorkflowEngine
from graflow_nb.core.runtime.executors.pool import ForkJoin
from graflow_nb.core.runtime.groups.ready import ReadyScheduler
from graflow_nb.core.runtime.handle import RunHandle
from graflow_nb.core.runtime.loop import Outcome
from graflow_nb.core.runtime.timed import TimedAttempts
from graflow_nb.debug.gate import DebugGate

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("real_ctrl_c")]  # see conftest

WAIT = 20  # seconds the poking task spins unless it is stopped (never reached when it works)


def main_sleeps_in(code) -> bool:
    """The main thread is blocked in a lock's or a thread's wait (not between two
    waits, where any bytecode would run the pending handler) that function ``code``
    called on the line it is at."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None or not frame.f_code.co_filename.endswith("threading.py"):
        return False
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    if "acquire(" not in line and ".join(" not in line:
        return False
    while frame is not None:
        if frame.f_code is code:  # and there at its wait (not at a thread's start, say)
            line = linecache.getline(code.co_filename, frame.f_lineno)
            return "wait" in line or "join(" in line
        frame = frame.f_back
    return False


class Poke:
    """A task body that interrupts the main thread once it sleeps in ``code``, then
    spins; ``ran_to_the_end`` says the interrupt did not stop it in time."""

    def __init__(self, code) -> None:
        self.code = code
        self.noticed = threading.Event()  # set by a test that catches the interrupt itself
        self.ran_to_the_end = False

    def interrupt_when_asleep(self) -> None:
        wait_until(lambda: main_sleeps_in(self.code), "the main thread to sleep in the wait under test")
        _thread.interrupt_main()

    def __call__(self) -> None:
        self.interrupt_when_asleep()
        give_up = time.monotonic() + WAIT
        while not self.noticed.is_set() and time.monotonic() < give_up:
            pass  # pure Python: an interrupt delivered into this thread stops it here
        self.ran_to_the_end = not self.noticed.is_set()


def interrupted(wf, poke: Poke, **options) -> None:
    with pytest.raises(KeyboardInterrupt):
        wf.execute(**options)
    run = wf.last_run
    wait_until(lambda: not run.task_threads.running(), "the run's tasks to stop")
    assert not poke.ran_to_the_end
    assert run.status == "cancelled"


def test_a_group_with_a_timeout_whose_barrier_only_waits():
    poke = Poke(ForkJoin.run.__code__)
    with workflow("barrier") as wf:
        (task("poke")(poke) | task("quick")(lambda: 1)).with_execution(timeout=600)
    interrupted(wf, poke, session_id="B")
    assert {s.session_id: s.state for s in wf.last_run.sessions.values()}["B_poke"] == "cancelled"


def test_a_fork_that_ran_its_share_and_waits_for_a_member_on_another_thread():
    poke = Poke(ForkJoin._help_loop.__code__)
    other_started = threading.Event()

    def member() -> None:
        if threading.current_thread() is threading.main_thread():
            assert other_started.wait(WAIT)  # the other member is on a worker: wait for it there
            return
        other_started.set()
        poke()

    with workflow("fork") as wf:
        task("first")(member) | task("second")(member)
    interrupted(wf, poke, session_id="F")


def test_a_session_that_runs_ready_tasks_at_once_and_waits_for_them():
    poke = Poke(ReadyScheduler.run.__code__)
    with workflow("ready") as wf:
        fetch = task("fetch")(lambda: 1)
        fetch >> task("poke")(poke)
        fetch >> task("quick")(lambda: 2)
    interrupted(wf, poke, session_id="R", ready_parallel=True)


def test_an_async_task_the_main_thread_waits_for():
    poke = Poke(Outcome.wait.__code__)
    ran_to_the_end = []
    with workflow("awaiting") as wf:

        @task
        async def fetch():
            await asyncio.to_thread(poke.interrupt_when_asleep)
            await asyncio.sleep(WAIT)  # cancelled here when the interrupt is acted on
            ran_to_the_end.append(True)

    interrupted(wf, poke, session_id="A")
    assert ran_to_the_end == []


def test_a_task_with_a_timeout_the_main_thread_waits_for():
    poke = Poke(TimedAttempts.run.__code__)
    with workflow("timed") as wf:
        task("poke", timeout=600)(poke)
    with pytest.raises(KeyboardInterrupt):
        wf.execute(session_id="T")
    wait_until(lambda: not wf.last_run.task_threads.running(), "the timed task to stop")
    assert not poke.ran_to_the_end


def test_a_run_started_where_an_event_loop_runs_whose_root_thread_the_main_thread_joins():
    poke = Poke(WorkflowEngine._root_off_loop.__code__)
    with workflow("cell") as wf:
        task("poke")(poke)

    async def cell() -> None:
        wf.execute(session_id="C")  # as a notebook cell does: a loop runs on this thread

    # A bare loop, as a kernel's: asyncio.run would swap Ctrl-C for a cancel of its task.
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
    finally:
        loop.close()
    wait_until(lambda: not wf.last_run.task_threads.running(), "the root's task to stop")
    assert not poke.ran_to_the_end
    assert wf.last_run.status == "cancelled"


def test_waiting_for_a_started_run_s_result():
    poke = Poke(RunHandle.result.__code__)
    with workflow("handle") as wf:
        task("poke")(poke)
    run = wf.start(session_id="H")
    try:
        with pytest.raises(KeyboardInterrupt):
            run.result()
        poke.noticed.set()  # caught here, while the task still spun: the run goes on until cancelled
    finally:
        run.cancel()
    assert not poke.ran_to_the_end


def test_a_debugger_step_waiting_for_the_run_to_come_to_rest():
    poke = Poke(DebugGate.wait_quiescent.__code__)
    with workflow("stepped") as wf:
        task("poke")(poke)
    dbg = wf.debug(session_id="D", timeout=60)  # held before poke; step() waits up to 60 s
    try:
        with pytest.raises(KeyboardInterrupt):
            dbg.step()  # poke runs; this waits for the run to come to rest
        poke.noticed.set()  # caught here, while the task still spun
    finally:
        dbg.close()
    assert not poke.ran_to_the_end
