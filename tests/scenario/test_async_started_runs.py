"""A run with async tasks started with ``wf.start(...)`` (issue 24: the cell ends, the
run goes on): its result, ``await run`` from a running loop, ``cancel()`` reaching an
awaiting task's ``finally`` as ``CancelledError``, and its async tasks kept off the
caller's loop thread (they run on the run's own loop, beside the caller's)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from graflow_nb import GraflowWorkflowCanceledError, parallel, task, workflow


def async_diamond(name: str, seen: list[tuple[str, int, int]]):
    """fetch >> (a | b) >> join, a and b async; each notes (task, thread, loop)."""
    def note(label: str) -> None:
        seen.append((label, threading.get_ident(), id(asyncio.get_running_loop())))

    with workflow(name) as wf:
        @task
        def fetch():
            return 10

        @task(inject_context=True)
        async def a(ctx):
            note("a")
            await asyncio.sleep(0.05)
            return ctx.get_result("fetch") + 1

        @task(inject_context=True)
        async def b(ctx):
            note("b")
            await asyncio.sleep(0.05)
            return ctx.get_result("fetch") + 2

        @task(inject_context=True)
        async def join(ctx):
            note("join")
            return ctx.get_result("a") + ctx.get_result("b")

        _ = fetch >> (a | b) >> join
    return wf


def test_a_started_run_of_async_tasks_gives_execute_s_result_off_the_starting_thread():
    seen: list[tuple[str, int, int]] = []
    run = async_diamond("started", seen).start(session_id="S")
    assert run.result(timeout=20) == 23
    assert run.status == "succeeded"
    assert sorted(label for label, _, _ in seen) == ["a", "b", "join"]
    assert all(thread != threading.get_ident() for _, thread, _ in seen)
    assert len({loop for _, _, loop in seen}) == 1  # one loop for the run's async tasks


def test_await_run_from_a_running_loop_keeps_the_async_tasks_off_that_loop_and_its_thread():
    seen: list[tuple[str, int, int]] = []
    wf = async_diamond("awaited", seen)
    ticks: list[float] = []

    async def cell():
        here = (threading.get_ident(), id(asyncio.get_running_loop()))
        run = wf.start(session_id="A")

        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        ticking = asyncio.ensure_future(ticker())
        result = await run
        ticking.cancel()
        return here, result, run

    (thread, loop), result, run = asyncio.run(cell())
    assert result == 23 and run.status == "succeeded"
    assert len(seen) == 3
    assert all(t != thread for _, t, _ in seen), "an async task of a started run ran on the caller's loop thread"
    assert all(lp != loop for _, _, lp in seen)
    assert len(ticks) >= 3  # the caller's loop went on while it awaited the run


def test_cancel_delivers_cancelled_error_into_the_awaiting_async_task_and_ends_the_run_cancelled():
    reached, cleaned = threading.Event(), []
    with workflow("cancel-started") as wf:
        @task
        def begin():
            return None

        @task
        async def waits():
            reached.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cleaned.append("cancelled at the await")
                raise
            finally:
                cleaned.append("finally")

        @task
        def after():
            cleaned.append("after ran")

        _ = begin >> waits >> after
    started = time.monotonic()
    run = wf.start(session_id="K")
    assert reached.wait(10)
    assert run.cancel() is True
    with pytest.raises(GraflowWorkflowCanceledError):
        run.result(timeout=20)
    assert time.monotonic() - started < 10
    assert cleaned == ["cancelled at the await", "finally"]
    assert run.status == "cancelled"
    assert [(t.task_id, t.status) for t in run.run.task_runs] == [("begin", "succeeded"), ("waits", "cancelled")]
    assert wf.last_run is run.run


def test_cancel_reaches_every_parked_async_member_of_a_started_run():
    started, cleaned, awaiting = threading.Event(), [], []
    lock = threading.Lock()

    def member(n):
        async def call():
            with lock:
                awaiting.append(n)
                if len(awaiting) == 5:
                    started.set()
            try:
                await asyncio.sleep(30)
            finally:
                with lock:
                    cleaned.append(n)
        return task(id=f"m{n}")(call)

    with workflow("cancel-members") as wf:
        @task
        def begin():
            return None

        _ = begin >> parallel(*[member(n) for n in range(5)])
    run = wf.start(session_id="P")
    assert started.wait(10)
    run.cancel()
    with pytest.raises(GraflowWorkflowCanceledError):
        run.result(timeout=20)
    assert sorted(cleaned) == [0, 1, 2, 3, 4]
    assert run.status == "cancelled"
    tree = run.run.session_tree()
    for n in range(5):
        assert f"P_m{n}  cancelled  enqueued 1 dequeued 1  ran m{n}" in tree, tree
