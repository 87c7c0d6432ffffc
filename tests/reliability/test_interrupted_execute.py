"""Ctrl-C during a plain ``wf.execute()``: one true outcome, nothing left running.

The interrupt is a real SIGINT sent to the main thread (what a terminal's Ctrl-C or a
kernel interrupt does), by a task once the tasks it means to interrupt have signalled
that they started.  Tasks loop in pure Python without polling
``ctx.cancelled``: only the interrupt delivered into their thread can stop them.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback

import pytest
from instruments import wait_for_main_thread_in

from graflow_nb import task, workflow
from graflow_nb.core.events import EventKind
from graflow_nb.core.runtime import interrupt

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("real_ctrl_c")]  # real SIGINTs: see conftest

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
    assert frames_of(caught.value) == [("test_interrupted_execute.py", "test_interrupt_at_the_group_barrier_stops_every_branch_and_starts_nothing_more"), ("workflow.py", "execute")]


def stuck_workflow(name: str, release: threading.Event, blocked: threading.Event, calls: list, swallow: bool = False):
    """fetch >> ((stuck >> after_stuck) | trigger) >> sink, where ``stuck`` waits in C
    (Event.wait without a timeout: no interrupt reaches it) and ``trigger`` interrupts.
    With ``swallow`` the stuck task ignores the interrupt when it wakes and carries on."""
    with workflow(name) as wf:

        @task
        def fetch():
            return 1

        @task(inject_context=True)
        def stuck(ctx):
            blocked.set()
            try:
                release.wait()
                calls.append("woke up")
            except KeyboardInterrupt:
                if not swallow:
                    calls.append("stopped as it woke up")
                    raise
            ctx.get_channel().set("late", "written after it was abandoned")
            calls.append("stuck returned")
            return "late result"

        @task
        def after_stuck():
            calls.append("after_stuck")

        @task
        def trigger():
            interrupt_main_once(blocked)
            spin_forever()

        @task
        def sink():
            calls.append("sink")

        fetch >> ((stuck >> after_stuck) | trigger).with_execution(timeout=600) >> sink
    return wf


def skipped_in(session_id: str, task_id: str, seen: threading.Event):
    def observer(event) -> None:
        if event.kind == EventKind.TASK_SKIPPED and (event.session_id, event.task_id) == (session_id, task_id):
            seen.set()

    return observer


def wait_until(predicate) -> None:
    """Wait for state another thread changes (never for a fixed time)."""
    pause = threading.Event()
    for _ in range(WAIT * 200):
        if predicate():
            return
        pause.wait(0.005)
    raise AssertionError("the state never came")


def test_a_task_blocked_in_c_is_abandoned_and_stops_as_soon_as_it_wakes(monkeypatch):
    monkeypatch.setattr(interrupt, "STOP_GRACE_SECONDS", 0.2)
    release, blocked = threading.Event(), threading.Event()
    calls = []
    wf = stuck_workflow("stuck", release, blocked, calls)
    with pytest.raises(KeyboardInterrupt) as caught:
        wf.execute(session_id="T")
    run = wf.last_run
    assert caught.value.__notes__ == ["[graflow_nb] run 'T' interrupted: cancelled; abandoned, still running: stuck (T_stuck)"]
    final = {"T": "cancelled", "T_stuck": "abandoned", "T_trigger": "cancelled"}
    assert run.status == "cancelled" and states(run) == final
    abandoned = [t for t in run.task_runs if t.task_id == "stuck"][0]
    assert abandoned.status == "abandoned" and abandoned.end is not None
    assert [e.describe() for e in run.task_threads.running()] == ["stuck (T_stuck)"]

    release.set()  # back in Python, the interrupt delivered earlier fires at once
    wait_until(lambda: not run.task_threads.running())
    assert calls == ["stopped as it woke up"]
    assert run.status == "cancelled" and states(run) == final and abandoned.status == "abandoned"
    assert run.root_context.channel.to_dict() == {"fetch.__result__": 1}


def test_a_blocked_task_that_takes_nothing_is_abandoned_without_a_context_to_cut_off(monkeypatch):
    """A task without parameters is called bare (no TaskExecutionContext is built for
    it): giving up on it still records, closes and later stops it as for any task."""
    monkeypatch.setattr(interrupt, "STOP_GRACE_SECONDS", 0.2)
    release, blocked = threading.Event(), threading.Event()
    calls = []
    with workflow("bare") as wf:

        @task
        def stuck():
            blocked.set()
            try:
                release.wait()
            except KeyboardInterrupt:
                calls.append("stopped as it woke up")
                raise

        @task
        def trigger():
            interrupt_main_once(blocked)
            spin_forever()

        trigger | stuck  # stuck on a pool thread: the main thread's Ctrl-C doesn't reach it
    with pytest.raises(KeyboardInterrupt) as caught:
        wf.execute(session_id="T")
    run = wf.last_run
    assert caught.value.__notes__[-1].endswith("abandoned, still running: stuck (T_stuck)")
    assert states(run)["T_stuck"] == "abandoned" and states(run)["T_trigger"] == "cancelled"
    [entry] = run.task_threads.running()
    assert entry.task_context is None and entry.record.status == "abandoned"
    release.set()
    wait_until(lambda: not run.task_threads.running())
    assert calls == ["stopped as it woke up"] and entry.record.status == "abandoned"


def test_an_abandoned_task_that_swallows_the_interrupt_changes_nothing_later(monkeypatch):
    monkeypatch.setattr(interrupt, "STOP_GRACE_SECONDS", 0.2)
    release, blocked, late_end = threading.Event(), threading.Event(), threading.Event()
    calls = []
    wf = stuck_workflow("swallow", release, blocked, calls, swallow=True)
    with pytest.raises(KeyboardInterrupt):
        wf.execute(session_id="T", observers=[skipped_in("T_stuck", "after_stuck", late_end)])
    run = wf.last_run
    final = {"T": "cancelled", "T_stuck": "abandoned", "T_trigger": "cancelled"}
    assert run.status == "cancelled" and states(run) == final

    release.set()  # it wakes, ignores the interrupt, writes, returns; its branch then stops
    assert late_end.wait(WAIT)
    assert calls == ["stuck returned"]  # after_stuck and sink never started
    assert run.status == "cancelled" and states(run) == final
    abandoned = [t for t in run.task_runs if t.task_id == "stuck"][0]
    assert abandoned.status == "abandoned" and abandoned.result is None
    assert "stuck" not in run.results()
    assert run.root_context.channel.to_dict() == {"fetch.__result__": 1}
    assert run.sessions["T_stuck"].context.channel.get("late") is None  # not even in its branch
    assert run.task_threads.running() == []


def test_a_second_interrupt_stops_waiting_for_a_stuck_task_at_once(monkeypatch):
    monkeypatch.setattr(interrupt, "STOP_GRACE_SECONDS", 3600)  # only the second Ctrl-C ends the wait
    release, blocked = threading.Event(), threading.Event()
    calls = []
    wf = stuck_workflow("twice", release, blocked, calls)
    main = threading.main_thread()

    def second_interrupt() -> None:
        # Once the first interrupt has the main thread waiting, and only for the stuck task.
        def waiting_for_stuck_only() -> bool:
            in_stop = any(f.f_code is interrupt.stop_tasks.__code__ for f in _stack(sys._current_frames()[main.ident]))
            return in_stop and [e.describe() for e in wf.last_run.task_threads.running()] == ["stuck (W_stuck)"]

        wait_until(waiting_for_stuck_only)
        signal.pthread_kill(main.ident, signal.SIGINT)

    helper = threading.Thread(target=second_interrupt, daemon=True)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            wf.execute(session_id="W")
    finally:
        helper.join(WAIT)
        release.set()
    assert caught.value.__notes__ == ["[graflow_nb] run 'W' interrupted: cancelled; abandoned, still running: stuck (W_stuck)"]
    assert wf.last_run.status == "cancelled"
    assert states(wf.last_run) == {"W": "cancelled", "W_stuck": "abandoned", "W_trigger": "cancelled"}


def _stack(frame):
    while frame is not None:
        yield frame
        frame = frame.f_back


@pytest.mark.timeout(10)
def test_a_timed_task_is_stopped_on_its_own_thread_and_its_successor_never_starts():
    calls = []
    give_up = threading.Event()  # ends the loop should the interrupt never reach it
    with workflow("timed") as wf:

        @task(timeout=600)
        def slow():
            calls.append("slow")
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            while not give_up.is_set():
                pass

        @task
        def after():
            calls.append("after")

        slow >> after

    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            wf.execute(session_id="D")
    finally:
        give_up.set()
    run = wf.last_run
    assert caught.value.__notes__ == ["[graflow_nb] run 'D' interrupted: cancelled"]
    assert run.status == "cancelled" and states(run) == {"D": "cancelled"}
    assert attempts(run) == [("slow", "D", "cancelled")]
    assert run.task_threads.running() == [] and calls == ["slow"]
    # The interrupt landed while the caller started the attempt's thread or waited for
    # it: the thread is counted back, and the next timed task gets one and finishes.
    with workflow("timed-next") as nxt:

        @task(timeout=600)
        def quick():
            return "quick"

    assert nxt.execute(session_id="Q") == "quick"
    assert states(nxt.last_run) == {"Q": "closed"}


def test_threads_outside_the_run_are_never_interrupted_and_the_pool_serves_the_next_run():
    outside_started, stop_outside = threading.Event(), threading.Event()
    outside = {}

    def unrelated() -> None:
        try:
            n = 0
            outside_started.set()
            while not stop_outside.is_set():
                n += 1
            outside["ended"] = "normally"
        except BaseException as error:  # what an interrupt delivered here would be
            outside["ended"] = repr(error)

    bystander = threading.Thread(target=unrelated, daemon=True)
    bystander.start()
    assert outside_started.wait(WAIT)
    spinning = threading.Event()
    with workflow("first") as wf:

        @task
        def spin():
            spinning.set()
            spin_forever()

        @task
        def trigger():
            interrupt_main_once(spinning)
            spin_forever()

        (spin | trigger).with_execution(timeout=600)

    with pytest.raises(KeyboardInterrupt):
        wf.execute(session_id="F")
    stop_outside.set()
    bystander.join(WAIT)
    assert outside == {"ended": "normally"}

    with workflow("next") as nxt:

        @task
        def src():
            return 10

        @task
        def double(src):
            return src * 2

        @task
        def triple(src):
            return src * 3

        @task
        def total(double, triple):
            return double + triple

        src >> (double | triple) >> total

    assert nxt.execute(session_id="N") == 50
    assert states(nxt.last_run) == {"N": "closed", "N_double": "merged", "N_triple": "merged"}


def test_ready_parallel_tasks_on_workers_are_stopped_and_the_join_never_runs():
    started = threading.Event()
    calls = []
    with workflow("ready") as wf:

        @task
        def src():
            return 1

        @task
        def a(src):
            started.set()
            spin_forever()

        @task
        def b(src):
            interrupt_main_once(started)
            spin_forever()

        @task
        def c(a, b):
            calls.append("c")

        for edge in (("src", "a"), ("src", "b"), ("a", "c"), ("b", "c")):
            wf.add_edge(*edge)

    with pytest.raises(KeyboardInterrupt) as caught:
        wf.execute("src", session_id="R", ready_parallel=True)
    run = wf.last_run
    assert caught.value.__notes__ == ["[graflow_nb] run 'R' interrupted: cancelled"]
    assert run.status == "cancelled" and states(run) == {"R": "cancelled"}
    assert attempts(run) == [("a", "R", "cancelled"), ("b", "R", "cancelled"), ("src", "R", "succeeded")]
    assert calls == [] and run.task_threads.running() == []


def test_an_interrupt_in_a_member_the_forking_thread_runs_stops_its_running_sibling():
    """The forking thread runs the first member itself; Ctrl-C lands in that member's
    loop while a sibling loops on a worker.  The interrupt must go up at once and stop
    the sibling, not leave the forking thread waiting for it at the barrier."""
    sibling_running = threading.Event()
    threads = {}
    with workflow("forker") as wf:

        @task
        def here():
            threads["here"] = threading.current_thread().name
            assert sibling_running.wait(WAIT)  # waiting in C: the pool gives `there` a thread
            threading.Thread(target=interrupt_main_when_in, args=("spin_here",), daemon=True).start()
            spin_here()

        @task
        def there():
            threads["there"] = threading.current_thread().name
            sibling_running.set()
            spin_forever()

        @task
        def after():
            threads["after"] = threading.current_thread().name

        (here | there) >> after

    with pytest.raises(KeyboardInterrupt) as caught:
        wf.execute(session_id="K")
    run = wf.last_run
    assert threads == {"here": "MainThread", "there": "graflow-K-worker"}
    assert caught.value.__notes__ == [
        "[graflow_nb] raised by task 'here' in session 'K_here'",
        "[graflow_nb] run 'K' interrupted: cancelled",
    ]
    assert run.status == "cancelled" and states(run) == {"K": "cancelled", "K_here": "cancelled", "K_there": "cancelled"}
    assert attempts(run) == [("ParallelGroup_1", "K", "cancelled"), ("here", "K_here", "cancelled"), ("there", "K_there", "cancelled")]
    assert run.task_threads.running() == []


def spin_here() -> None:
    spin_forever()


def interrupt_main_when_in(function: str) -> None:
    wait_for_main_thread_in(function)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
