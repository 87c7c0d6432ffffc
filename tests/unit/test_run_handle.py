"""``run = wf.start(...)``: the run goes on on a thread of its own (core.runtime.handle).

Real threads throughout; tasks that must still be running when the test looks wait on
a ``threading.Event`` the test sets, so no timing decides which path ran."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from graflow_nb import task, workflow
from graflow_nb.core import hooks
from graflow_nb.core.errors import GraflowWorkflowCanceledError, ParallelGroupError
from graflow_nb.core.events import EventKind, EventLog, ObserverWarning
from graflow_nb.core.runtime.handle import RunHandle, WaitingForInput

pytestmark = pytest.mark.timeout(60)


def gated_diamond(name: str, gate: threading.Event, calls: list[str], fail_b: bool = False):
    """fetch >> (a | b) >> store, where ``a`` waits until ``gate`` is set."""
    with workflow(name) as wf:
        @task
        def fetch():
            calls.append("fetch")
            return 1

        @task
        def a(fetch):
            calls.append("a")
            assert gate.wait(30), "the test never opened the gate"
            return fetch + 1

        @task
        def b(fetch):
            calls.append("b")
            if fail_b:
                raise ValueError("b cannot go on")
            return fetch + 2

        @task
        def store(a, b):
            calls.append("store")
            return a + b

        fetch >> (a | b) >> store
    return wf


def asking(name: str):
    with workflow(name) as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("Ship it?")

        @task
        def after(ask):
            return "shipped" if ask else "held back"

        ask >> after
    return wf


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_start_returns_while_the_run_goes_on_and_result_is_what_execute_returns():
    gate, calls = threading.Event(), []
    wf = gated_diamond("started", gate, calls)
    run = wf.start(session_id="S")
    assert isinstance(run, RunHandle)
    wait_for(lambda: "a" in calls)
    assert run.status == "running" and not run.done
    assert "store" not in calls
    assert wf.last_run is run.run
    assert "<RunHandle 'started' run 'S' running" in repr(run)
    gate.set()
    assert run.result(timeout=20) == 5
    assert run.status == "succeeded" and run.done
    assert calls.count("store") == 1
    assert run.run.execution_sequence() == ["fetch", "a", "b", "store"]
    assert "succeeded" in repr(run)


def test_result_times_out_with_the_run_still_going():
    gate, calls = threading.Event(), []
    wf = gated_diamond("slow", gate, calls)
    run = wf.start(session_id="T")
    wait_for(lambda: "a" in calls)
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"run 'T' is still running after 0.2 s"):
        run.result(timeout=0.2)
    assert time.monotonic() - began < 5
    assert run.status == "running"
    gate.set()
    assert run.result(timeout=20) == 5


def test_result_is_refused_on_a_thread_whose_event_loop_runs():
    gate, calls = threading.Event(), []
    wf = gated_diamond("looped", gate, calls)
    run = wf.start(session_id="L")

    async def cell():
        run.result(timeout=1)

    with pytest.raises(RuntimeError, match=r"would block this thread's running event loop.*use `await run`"):
        asyncio.run(cell())
    gate.set()
    assert run.result(timeout=20) == 5


def test_await_run_leaves_the_loop_free():
    gate, calls = threading.Event(), []
    wf = gated_diamond("awaited", gate, calls)
    ticks: list[int] = []

    async def main():
        run = wf.start(session_id="A")

        async def ticker():
            for i in range(1000):
                ticks.append(i)
                if len(ticks) == 5:
                    gate.set()  # the loop kept running while the run was awaited
                await asyncio.sleep(0.01)

        tick = asyncio.ensure_future(ticker())
        result = await run
        tick.cancel()
        return result, run

    result, run = asyncio.run(main())
    assert result == 5 and run.status == "succeeded"
    assert len(ticks) >= 5


def test_cancel_stops_the_run_at_its_next_task_boundary():
    gate, calls = threading.Event(), []
    wf = gated_diamond("cancelled", gate, calls)
    run = wf.start(session_id="C")
    wait_for(lambda: "a" in calls and "b" in calls)
    assert run.cancel() is True
    gate.set()  # a finishes its attempt; nothing after it starts
    with pytest.raises(GraflowWorkflowCanceledError, match="cancelled by run.cancel()"):
        run.result(timeout=20)
    assert run.status == "cancelled"
    assert "store" not in calls
    assert run.cancel() is False  # already ended
    record = run.run
    assert record.sessions["C"].state == "cancelled"
    assert record.results()["fetch"] == 1  # what ran stays inspectable


def test_a_failed_run_raises_what_execute_raises_and_stays_inspectable():
    gate, calls = threading.Event(), []
    gate.set()
    wf = gated_diamond("failing", gate, calls, fail_b=True)
    with pytest.raises(ParallelGroupError) as by_execute:
        wf.execute(session_id="E")
    log = EventLog()
    run = wf.start(session_id="F", observers=[log])
    with pytest.raises(ParallelGroupError) as by_handle:
        run.result(timeout=20)
    assert str(by_handle.value).replace("F", "E") == str(by_execute.value)
    assert run.status == "failed" and wf.last_run is run.run
    assert run.run.sessions["F_b"].state == "failed"
    assert run.run.results()["fetch"] == 1
    assert run.run.error is by_handle.value
    failed = [(e.session_id, e.task_id) for e in log.events if e.kind == EventKind.TASK_FAILED]
    assert ("F_b", "b") in failed
    assert "failed" in repr(run) and "ParallelGroupError" in repr(run)


def test_a_second_start_while_one_runs_is_refused():
    gate, calls = threading.Event(), []
    wf = gated_diamond("twice", gate, calls)
    first = wf.start(session_id="R1")
    wait_for(lambda: "a" in calls)
    with pytest.raises(RuntimeError, match=r"already has a started run going \(run 'R1'\).*run.cancel\(\)"):
        wf.start(session_id="R2")
    assert wf.last_run is first.run  # the refused start left nothing behind
    gate.set()
    assert first.result(timeout=20) == 5
    second = wf.start(session_id="R3")
    assert second.result(timeout=20) == 5
    assert wf.last_run is second.run and first.run is not second.run


def test_bad_settings_are_refused_before_anything_runs():
    wf = asking("settings")
    with pytest.raises(KeyError):
        wf.start("no_such_task")
    with pytest.raises(TypeError, match="observers"):
        wf.start(observers=print)
    assert wf.last_run is None


def test_a_paused_run_names_its_questions_and_resumes_in_the_background():
    wf = asking("asks")
    run = wf.start(session_id="Q")
    wait_for(lambda: run.status == "paused")
    assert [p.session_id for p in run.pending] == ["Q"]
    with pytest.raises(WaitingForInput, match=r"run 'Q' is paused, waiting for input \(Q: 'Ship it\?' \(approval\)\)"):
        run.result(timeout=5)
    with pytest.raises(KeyError, match="no question is waiting in 'nope'"):
        run.resume("nope", True)
    assert run.status == "paused"
    assert run.resume("Q", False) is run
    assert run.result(timeout=20) == "held back"
    assert run.status == "succeeded"
    with pytest.raises(RuntimeError, match="succeeded, not paused"):
        run.resume("Q", True)


def test_another_start_is_allowed_while_one_waits_for_input():
    wf = asking("waits")
    first = wf.start(session_id="P1")
    wait_for(lambda: first.status == "paused")
    second = wf.start(session_id="P2")
    wait_for(lambda: second.status == "paused")
    second.resume("P2", True)
    assert second.result(timeout=20) == "shipped"
    first.resume("P1", True)
    assert first.result(timeout=20) == "shipped"


def test_cancelling_a_paused_run_ends_it_cancelled():
    wf = asking("dropped")
    run = wf.start(session_id="D")
    wait_for(lambda: run.status == "paused")
    assert run.cancel() is True
    with pytest.raises(GraflowWorkflowCanceledError):
        run.result(timeout=20)
    assert run.status == "cancelled"
    assert run.run.pending_inputs() == []


def test_the_run_sees_the_starting_context_in_every_branch():
    """ipykernel routes output by contextvars: the run's threads, branches included,
    must run in a copy of the caller's context."""
    cell = contextvars.ContextVar("cell", default="none")
    seen: dict[str, str] = {}
    with workflow("ctx") as wf:
        @task
        def head():
            seen["head"] = cell.get()

        @task
        def left():
            seen["left"] = cell.get()

        @task
        def right():
            seen["right"] = cell.get()

        head >> (left | right)
    token = cell.set("In[7]")
    try:
        run = wf.start(session_id="X")
    finally:
        cell.reset(token)
    run.result(timeout=20)
    assert seen == {"head": "In[7]", "left": "In[7]", "right": "In[7]"}


def test_ret_context_gives_the_pair_as_execute_does():
    gate, calls = threading.Event(), []
    gate.set()
    wf = gated_diamond("pair", gate, calls)
    result, ctx = wf.start(session_id="Z", ret_context=True).result(timeout=20)
    assert result == 5 and ctx.session_id == "Z"


def test_a_listener_that_raises_is_reported_and_the_run_goes_on():
    wf = asking("listened")
    run = wf.start(session_id="B")
    told: list[str] = []

    def broken(handle):
        raise ValueError("a view broke")

    with pytest.warns(ObserverWarning, match="raised ValueError: a view broke on leg ended in run 'B'"):
        run.on_leg_end(broken)
        run.on_leg_end(lambda handle: told.append(handle.status))
        wait_for(lambda: told)  # told once the run paused (at once, if it had already)
    run.resume("B", True)
    assert run.result(timeout=20) == "shipped"
    wait_for(lambda: told[-1] == "succeeded")
    assert told[0] == "paused"
    assert [type(e.error) for e in run.run.observer_errors] == [ValueError]


def test_run_cancel_stops_a_plain_execute_from_another_thread():
    """``Run.cancel`` is the run-level stop ``RunHandle.cancel`` calls: the same for a
    run driven by ``execute`` on another thread."""
    gate, calls = threading.Event(), []
    wf = gated_diamond("plain", gate, calls)
    outcome: list[BaseException] = []

    def drive():
        try:
            wf.execute(session_id="P")
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=drive)
    thread.start()
    wait_for(lambda: "a" in calls and wf.last_run is not None)
    wf.last_run.cancel("stopped from the test")
    gate.set()
    thread.join(20)
    assert [type(e) for e in outcome] == [GraflowWorkflowCanceledError]
    assert str(outcome[0]) == "stopped from the test"
    assert wf.last_run.status == "cancelled" and "store" not in calls
    assert wf.execute(session_id="P2") == 5 and wf.last_run.status == "succeeded"
    wf.last_run.cancel()  # an ended run is left as it ended
    assert wf.last_run.status == "succeeded" and wf.last_run.stop_error is None


def test_a_panel_that_fails_is_reported_and_the_run_starts_all_the_same(monkeypatch):
    def broken_panel(handle, view):
        raise ImportError("no ipywidgets here")

    monkeypatch.setattr(hooks, "STARTED_RUN_PANEL", broken_panel)
    wf = asking("unshown")
    with pytest.warns(ObserverWarning, match="raised ImportError: no ipywidgets here"):
        run = wf.start(session_id="U")
    wait_for(lambda: run.status == "paused")
    run.resume("U", True)
    assert run.result(timeout=20) == "shipped"
    assert [type(e.error) for e in run.run.observer_errors] == [ImportError]


def test_await_on_a_run_that_pauses_raises_waiting_for_input():
    wf = asking("awaits")

    async def main():
        run = wf.start(session_id="W")
        with pytest.raises(WaitingForInput, match=r"run 'W' is paused"):
            await run
        run.resume("W", True)
        return await run

    assert asyncio.run(main()) == "shipped"


def test_a_started_run_in_a_plain_script_loads_no_widgets_or_ipython(tmp_path):
    """The notebook panel is for notebooks: a script that starts a run pays no import
    of IPython or ipywidgets for it."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "from graflow_nb import task, workflow\n"
        "with workflow('plain') as wf:\n"
        "    @task\n"
        "    def a(): return 1\n"
        "print(wf.start(session_id='P').result(timeout=20), 'IPython' in sys.modules, 'ipywidgets' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert done.stdout == "1 False False\n", done.stderr


def test_cancel_that_ends_the_run_before_it_returns_starts_no_second_leg(monkeypatch):
    """Cancelling can end a run at once (its task was awaiting): the leg may be done
    before ``cancel`` looks at it.  The result is still the cancel error, not a resume
    of a run that isn't paused."""
    reached = threading.Event()
    with workflow("cancel-race") as wf:

        @task
        async def waits():
            reached.set()
            await asyncio.sleep(30)

    run = wf.start(session_id="CR")
    assert reached.wait(10)
    cancel_run = run.run.cancel

    def cancel_and_let_the_leg_end(message: str) -> None:
        cancel_run(message)
        wait_for(run._leg.done)  # the window cancel() must cope with, made certain

    monkeypatch.setattr(run.run, "cancel", cancel_and_let_the_leg_end)
    assert run.cancel() is True
    with pytest.raises(GraflowWorkflowCanceledError):
        run.result(timeout=20)
    assert run.status == "cancelled"
