"""``await wf.aexecute()`` where threads can't start (Pyodide, JupyterLite): the whole
run is driven from the awaiting coroutine on the caller's loop (core.runtime.loop_driven).

Threads are refused here as Pyodide refuses them (``sys.platform`` "emscripten",
``Thread.start`` raising its error), so a run that still started one fails the test.
Overlap is asserted by a count the tasks keep (how many are between their first line
and their ``await``'s end at once), never by timing."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import Counter

import pytest

from graflow_nb import parallel, task, workflow
from graflow_nb.core.errors import ConfigError, GroupTimeoutError, ParallelGroupError, TaskTimeoutError
from graflow_nb.core.events import EventLog


@pytest.fixture
def no_threads(monkeypatch):
    """This Python is Pyodide: threads can't start."""
    started: list[str] = []

    def refuse(self):
        started.append(self.name)
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    return started


class InFlight:
    """How many async tasks are inside their await at once, and the most there were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.finally_ran: list[str] = []

    async def hold(self, name: str, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1
            self.finally_ran.append(name)


def fan_out(count: int, flight: InFlight, seconds: float = 0.2, **execution):
    """start >> parallel(count async members, each writing its index) >> total."""
    with workflow("fan") as wf:

        @task
        def start():
            return "go"

        def member(index):
            @task(f"m{index}", inject_context=True)
            async def body(ctx):
                await flight.hold(f"m{index}", seconds)
                ctx.get_channel().set(f"k{index}", index)
                return index

            return body

        @task(inject_context=True)
        def total(ctx):
            return sum(ctx.get_channel().get(f"k{index}") for index in range(count))

        group = parallel(*(member(index) for index in range(count)))
        if execution:
            group = group.with_execution(**execution)
        start >> group >> total
    return wf


def test_fifty_awaiting_members_overlap_on_the_callers_loop_and_merge(no_threads):
    flight = InFlight()
    wf = fan_out(50, flight)
    result = asyncio.run(wf.aexecute(session_id="S"))
    assert result == sum(range(50))
    assert flight.peak == 50  # every member was inside its await at once
    run = wf.last_run
    assert run.status == "succeeded"
    assert {sid: r.state for sid, r in run.sessions.items() if sid != "S"} == {f"S_m{i}": "merged" for i in range(50)}
    assert [r.task_id for r in run.task_runs if r.task_id.startswith("m")] == [f"m{i}" for i in range(50)]
    assert all(r.attempt == 1 and r.status == "succeeded" for r in run.task_runs)
    assert no_threads == []


def test_a_groups_max_concurrency_caps_how_many_members_await_at_once(no_threads):
    flight = InFlight()
    wf = fan_out(20, flight, seconds=0.05, max_concurrency=4)
    assert asyncio.run(wf.aexecute()) == sum(range(20))
    assert flight.peak == 4
    assert no_threads == []


def test_the_runs_max_concurrency_caps_async_tasks_across_groups(no_threads):
    flight = InFlight()
    wf = fan_out(20, flight, seconds=0.05)
    assert asyncio.run(wf.aexecute(max_concurrency=3)) == sum(range(20))
    assert flight.peak == 3
    run = wf.last_run
    assert run.status == "succeeded"
    # Each member ran once, in one attempt, whether or not it waited for a slot first.
    assert sorted(r.task_id for r in run.task_runs if r.task_id.startswith("m")) == sorted(f"m{i}" for i in range(20))
    assert no_threads == []


def test_sync_and_async_members_mix_and_nested_groups_overlap_too(no_threads):
    flight = InFlight()
    where: list[tuple[str, int]] = []
    with workflow("mixed") as wf:

        def slow(name):
            @task(name, inject_context=True)
            async def body(ctx):
                await flight.hold(name, 0.1)
                ctx.get_channel().append("done", name)
                return name

            return body

        def quick(name):
            @task(name, inject_context=True)
            def body(ctx):
                where.append((name, threading.get_ident()))
                ctx.get_channel().append("done", name)
                return name

            return body

        @task(inject_context=True)
        def join(ctx):
            return sorted(ctx.get_channel().get("done"))

        inner = parallel(slow("n1"), slow("n2"), quick("n3"))
        outer = parallel(slow("a") >> quick("a2"), inner, quick("b"), slow("c"))
        outer >> join
    log = EventLog()
    result = asyncio.run(wf.aexecute(session_id="S", observers=[log]))
    assert result == ["a", "a2", "b", "c", "n1", "n2", "n3"]
    # Parking and going on is invisible in the events: one start and one end of each
    # task, group and the run, however often a session parked.
    counts = Counter((e.kind.value, e.task_id) for e in log.events if e.kind.value in (
        "task_started", "task_finished", "group_started", "group_finished", "run_started", "run_finished"))
    tasks = ["a", "a2", "b", "c", "n1", "n2", "n3", "join", "ParallelGroup_1", "ParallelGroup_2"]
    assert counts == Counter(
        {**{("task_started", t): 1 for t in tasks}, **{("task_finished", t): 1 for t in tasks},
         ("group_started", "ParallelGroup_1"): 1, ("group_finished", "ParallelGroup_1"): 1,
         ("group_started", "ParallelGroup_2"): 1, ("group_finished", "ParallelGroup_2"): 1,
         ("run_started", None): 1, ("run_finished", None): 1}
    )
    assert [r.status for r in wf.last_run.task_runs] == ["succeeded"] * len(tasks)
    assert flight.peak == 4  # a, n1, n2 and c awaited at once
    assert {name for name, _ in where} == {"a2", "n3", "b"}
    assert {ident for _, ident in where} == {threading.get_ident()}  # sync tasks: on the loop's thread
    states = {sid: r.state for sid, r in wf.last_run.sessions.items()}
    assert states["S"] == "closed" and all(state == "merged" for sid, state in states.items() if sid != "S")
    assert len(states) == 8  # the root, four outer branches, three inner ones
    assert no_threads == []


def test_an_async_chain_on_the_root_session_parks_it_at_each_await(no_threads):
    order: list[str] = []
    with workflow("chain") as wf:

        @task
        def first():
            order.append("first")
            return 2

        @task(inject_context=True)
        async def double(ctx):
            await asyncio.sleep(0.01)
            order.append("double")
            return ctx.get_result("first") * 2

        @task(inject_context=True)
        def last(ctx):
            order.append("last")
            return ctx.get_result("double") + 1

        first >> double >> last
    assert asyncio.run(wf.aexecute()) == 5
    assert order == ["first", "double", "last"]
    assert [(r.task_id, r.attempt, r.status) for r in wf.last_run.task_runs] == [
        ("first", 1, "succeeded"), ("double", 1, "succeeded"), ("last", 1, "succeeded"),
    ]
    assert no_threads == []


def test_a_map_of_an_async_task_overlaps_its_items_and_keeps_their_order(no_threads):
    flight = InFlight()
    with workflow("mapped") as wf:

        @task
        def items():
            return list(range(30))

        @task
        async def square(item):
            await flight.hold(str(item), 0.1 - item / 1000)  # later items end first
            return item * item

        @task(inject_context=True)
        def combine(ctx):
            return ctx.get_result("square_map")

        items >> square.map(over="items", name="square_map") >> combine
    assert asyncio.run(wf.aexecute()) == [i * i for i in range(30)]
    assert flight.peak == 30
    assert no_threads == []


def test_a_failing_member_under_best_effort_leaves_the_others_merged(no_threads):
    flight = InFlight()
    with workflow("policy") as wf:

        @task
        async def fine():
            await flight.hold("fine", 0.05)
            return 1

        @task
        async def broken():
            await flight.hold("broken", 0.01)
            raise ValueError("broken broke")

        @task
        async def other():
            await flight.hold("other", 0.05)
            return 3

        parallel(fine, broken, other).with_execution(policy="best_effort")
    asyncio.run(wf.aexecute(session_id="S"))
    run = wf.last_run
    assert run.status == "succeeded"
    assert {sid: r.state for sid, r in run.sessions.items()} == {
        "S": "closed", "S_fine": "merged", "S_broken": "failed", "S_other": "merged",
    }
    assert flight.peak == 3
    assert no_threads == []


def test_a_fail_fast_failure_cancels_awaiting_siblings_at_their_await(no_threads):
    flight = InFlight()
    with workflow("fail_fast") as wf:

        @task
        async def slow():
            await flight.hold("slow", 30)
            return 1

        @task
        async def broken():
            await flight.hold("broken", 0.01)
            raise ValueError("broken broke")

        parallel(slow, broken).with_execution(fail_fast=True)
    with pytest.raises(ParallelGroupError, match="broken broke"):
        asyncio.run(wf.aexecute(session_id="S"))
    run = wf.last_run
    assert run.status == "failed"
    assert sorted(flight.finally_ran) == ["broken", "slow"]  # slow's finally ran as it was cancelled
    slow_run = next(r for r in run.task_runs if r.task_id == "slow")
    assert slow_run.status == "cancelled"
    assert run.sessions["S_slow"].state == "cancelled" and run.sessions["S_broken"].state == "failed"
    assert no_threads == []


def test_an_async_tasks_timeout_cancels_it_at_its_await_on_the_loop(no_threads):
    flight = InFlight()
    with workflow("timed") as wf:

        @task(timeout=0.1)
        async def patient():
            await flight.hold("patient", 30)

        @task
        async def quick():
            await flight.hold("quick", 0.01)
            return "quick"

        parallel(patient, quick).with_execution(policy="best_effort")
    asyncio.run(wf.aexecute(session_id="S"))
    run = wf.last_run
    attempt = next(r for r in run.task_runs if r.task_id == "patient")
    assert attempt.status == "failed" and isinstance(attempt.error, TaskTimeoutError)
    assert "cancelled at its await" in str(attempt.error)
    assert sorted(flight.finally_ran) == ["patient", "quick"]
    assert run.sessions["S_quick"].state == "merged"
    assert no_threads == []


def test_cancelling_the_awaiting_coroutine_cancels_the_run_and_runs_finally_blocks(no_threads):
    flight = InFlight()
    wf = fan_out(10, flight, seconds=30)

    async def cancel_it():
        running = asyncio.ensure_future(wf.aexecute(session_id="S"))
        for _ in range(2000):  # at most 10 s: a run that never gets there fails below, not hangs
            if flight.now == 10 or running.done():
                break
            await asyncio.sleep(0.005)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(cancel_it())
    run = wf.last_run
    assert run.status == "cancelled"
    assert sorted(flight.finally_ran) == sorted(f"m{i}" for i in range(10))
    assert flight.now == 0
    assert {r.task_id: r.status for r in run.task_runs if r.task_id.startswith("m")} == {
        f"m{i}": "cancelled" for i in range(10)
    }
    assert all(run.sessions[f"S_m{i}"].state == "cancelled" for i in range(10))
    assert "total" not in {r.task_id for r in run.task_runs}
    assert no_threads == []


def test_execute_of_an_async_task_where_threads_cant_start_names_it_and_points_to_aexecute(no_threads):
    with workflow("sync") as wf:

        @task
        async def fetch():
            return 1

    with pytest.raises(ConfigError) as raised:
        wf.execute(session_id="S")
    message = str(raised.value)
    assert "async task 'fetch' in session 'S' under wf.execute(...)" in message
    assert "await wf.aexecute(...)" in message and len(message.splitlines()) == 1
    assert no_threads == []


def test_a_direct_groups_async_member_says_its_session_cant_let_go_of_the_loop(no_threads):
    with workflow("direct") as wf:

        @task
        async def member():
            return 1

        @task
        def other():
            return 2

        parallel(member, other).with_execution(backend="direct")
    with pytest.raises(ParallelGroupError) as raised:
        asyncio.run(wf.aexecute(session_id="S"))
    assert isinstance(raised.value.errors["member"], ConfigError)
    assert "async task 'member' in session 'S' needs a thread of its own" in str(raised.value)
    assert 'a member of a backend="direct" group' in str(raised.value)
    assert no_threads == []


def test_an_async_members_question_pauses_the_run_and_aresume_finishes_it_on_the_loop(no_threads):
    flight = InFlight()
    asked: list[str] = []
    with workflow("ask") as wf:

        @task(inject_context=True)
        async def a(ctx):
            asked.append("a")
            await flight.hold("a", 0.01)
            return await ctx.arequest_approval("Ship it?")

        @task
        async def b():
            await flight.hold("b", 0.05)
            return "rb"

        @task(inject_context=True)
        def store(ctx):
            return [ctx.get_result("a"), ctx.get_result("b")]

        parallel(a, b) >> store

    async def ask_then_answer():
        paused = await wf.aexecute(session_id="S")
        pending = [(q.session_id, q.prompt) for q in wf.last_run.pending.values()]
        return paused.status, pending, await wf.aresume("S_a", True)

    status, pending, result = asyncio.run(ask_then_answer())
    assert status == "paused" and pending == [("S_a", "Ship it?")]
    assert result == [True, "rb"]
    assert asked == ["a", "a"]  # the task that asked runs again from its start, answered
    assert sorted(flight.finally_ran) == ["a", "a", "b"]  # b ran once: it had succeeded
    assert {sid: r.state for sid, r in wf.last_run.sessions.items()} == {"S": "closed", "S_a": "merged", "S_b": "merged"}
    assert no_threads == []


def test_a_checkpoint_of_a_paused_run_resumes_with_aresume_on_the_loop(no_threads, tmp_path):
    asked: list[str] = []
    with workflow("saved") as wf:

        @task(inject_context=True)
        async def a(ctx):
            asked.append("a")
            await asyncio.sleep(0.01)
            return await ctx.arequest_approval("Ship it?")

        @task
        async def b():
            await asyncio.sleep(0.01)
            asked.append("b")
            return "rb"

        @task(inject_context=True)
        def store(ctx):
            return [ctx.get_result("a"), ctx.get_result("b")]

        parallel(a, b) >> store

    async def save_then_resume():
        paused = await wf.aexecute(session_id="C", checkpoint_dir=tmp_path)
        files = sorted(p.name for p in tmp_path.iterdir())
        return paused.status, files, await wf.aresume(tmp_path / "C.pkl", answers={"C_a": True})

    status, files, result = asyncio.run(save_then_resume())
    assert status == "paused" and files == ["C.meta.json", "C.pkl", "C.state.json"]
    assert result == [True, "rb"]
    assert asked == ["a", "b", "a"]  # b is not run again: it had succeeded before the checkpoint
    assert wf.last_run.status == "succeeded" and wf.last_run.resumed_at() is not None
    assert no_threads == []


def test_an_async_task_under_ready_parallel_says_its_session_cant_let_go_of_the_loop(no_threads):
    with workflow("ready") as wf:

        @task
        def first():
            return 1

        @task
        async def second():
            return 2

        first >> second
    with pytest.raises(ConfigError) as raised:
        asyncio.run(wf.aexecute(session_id="S", ready_parallel=True))
    assert "async task 'second' in session 'S' needs a thread of its own" in str(raised.value)
    assert "ready_parallel=True" in str(raised.value)
    assert wf.last_run.status == "failed"
    assert no_threads == []


def test_a_groups_timeout_cancels_its_awaiting_members_and_names_them(no_threads):
    flight = InFlight()
    with workflow("group_timeout") as wf:

        @task
        async def quick():
            await flight.hold("quick", 0.01)
            return "quick"

        @task
        async def slow():
            await flight.hold("slow", 30)

        @task
        async def slower():
            await flight.hold("slower", 30)

        @task
        def after():
            return "never"

        parallel(quick, slow, slower).with_execution(timeout=0.3, max_concurrency=2) >> after

    async def timed():
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(GroupTimeoutError) as raised:
            await wf.aexecute(session_id="S")
        return raised.value, loop.time() - began

    error, seconds = asyncio.run(timed())
    assert seconds < 10  # woken at the deadline, not when the 30 s sleeps end
    assert error.unfinished == ["slow", "slower"]
    assert "group 'ParallelGroup_1' timed out after 0.3 s" in str(error)
    assert sorted(flight.finally_ran) == ["quick", "slow", "slower"]
    run = wf.last_run
    statuses = {r.task_id: r.status for r in run.task_runs}
    assert statuses["quick"] == "succeeded" and statuses["slow"] == "cancelled" and statuses["slower"] == "cancelled"
    assert "after" not in statuses
    assert run.sessions["S_slow"].state == "cancelled" and run.status == "failed"
    assert no_threads == []


def test_branches_merge_in_declaration_order_whichever_await_ends_first(no_threads):
    ended: list[str] = []
    with workflow("merge_order") as wf:

        def writer(name, seconds):
            @task(name, inject_context=True)
            async def body(ctx):
                ctx.get_channel().set("winner", f"{name} before")
                await asyncio.sleep(seconds)
                ctx.get_channel().set("winner", name)
                ended.append(name)

            return body

        @task(inject_context=True)
        def read(ctx):
            return ctx.get_channel().get("winner")

        parallel(writer("first", 0.1), writer("second", 0.01)).with_execution(merge="overwrite") >> read
    assert asyncio.run(wf.aexecute()) == "second"  # declared last, so merged last
    assert ended == ["second", "first"]  # though it ended first
    assert no_threads == []


def test_aresume_where_threads_exist_continues_the_run_off_the_callers_loop():
    """``aresume`` is ``resume`` for async code on any machine: here the run goes on on
    a thread of its own, as under ``aexecute``, and its async tasks on the caller's loop."""
    loops: list[asyncio.AbstractEventLoop] = []
    with workflow("ask_threads") as wf:

        @task(inject_context=True)
        async def a(ctx):
            loops.append(asyncio.get_running_loop())
            return await ctx.arequest_approval("Ship it?")

        @task(inject_context=True)
        def store(ctx):
            return ctx.get_result("a"), threading.current_thread().name

        a >> store

    async def ask_then_answer():
        paused = await wf.aexecute(session_id="S")
        return paused.status, await wf.aresume("S", True), asyncio.get_running_loop()

    status, (answer, thread), caller_loop = asyncio.run(ask_then_answer())
    assert status == "paused" and answer is True
    assert thread != threading.main_thread().name  # the sync task ran off the caller's thread
    assert loops == [caller_loop, caller_loop]  # both attempts of the async task on the caller's loop
