"""How async tasks stop, count against the run's limits and are blamed for a blocked loop
(issue 24, docs/reference/rules.md "Async tasks"): a timed-out coroutine is cancelled,
not abandoned; members cancelled at their await started (they are not "not run");
``execute(max_concurrency=n)`` caps sync and async tasks alike; ``BlockedLoopWarning``
names one step that held the loop, never a loop kept busy by many short steps."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import warnings

import pytest

from graflow_nb import BlockedLoopWarning, GraflowWorkflowCanceledError, parallel, task, workflow
from graflow_nb.core.errors import GroupTimeoutError, TaskTimeoutError


def fan_out(name: str, body, width: int, sink: bool = True):
    with workflow(name) as wf:
        @task
        def start():
            return None

        members = [task(id=f"m{n}")(functools.partial(body, n)) for n in range(width)]
        group = parallel(*members)
        if sink:
            @task
            def done():
                return "done ran"

            start >> group >> done
        else:
            start >> group
    return wf


def test_run_cancel_while_sync_members_run_raises_from_execute():
    def slow(n):
        time.sleep(0.6)

    wf = fan_out("cancel-sync", slow, 3)
    threading.Timer(0.2, lambda: wf.last_run.cancel()).start()
    with pytest.raises(GraflowWorkflowCanceledError):
        wf.execute("start", session_id="C")
    assert wf.last_run.status == "cancelled"


def test_an_async_timeout_says_the_task_was_cancelled_not_its_thread_abandoned():
    cleaned = []
    with workflow("timeout") as wf:
        @task(timeout=0.2)
        async def slow():
            try:
                await asyncio.sleep(5)
            finally:
                cleaned.append("slow")

    with pytest.raises(TaskTimeoutError) as raised:
        wf.execute("slow", session_id="T")
    assert cleaned == ["slow"]
    assert "abandoned" not in str(raised.value)


def test_cancelled_async_members_that_started_are_not_reported_as_never_run():
    cleaned = []

    async def slow(n):
        try:
            await asyncio.sleep(5)
        finally:
            cleaned.append(n)

    wf = fan_out("cancel-async", slow, 3, sink=False)
    threading.Timer(0.3, lambda: wf.last_run.cancel()).start()
    with pytest.raises(GraflowWorkflowCanceledError) as raised:
        wf.execute("start", session_id="C")
    assert sorted(cleaned) == [0, 1, 2]
    assert "not run: m0" not in str(raised.value)
    assert all(s.dequeued == 1 for s in wf.last_run.children("C")), wf.last_run.session_tree()


def test_the_run_wide_max_concurrency_caps_async_tasks_too():
    now, peak = [0], [0]

    async def call(n):
        now[0] += 1
        peak[0] = max(peak[0], now[0])
        await asyncio.sleep(0.05)
        now[0] -= 1

    fan_out("capped", call, 30).execute("start", session_id="K", max_concurrency=3)
    assert peak[0] <= 3


def test_many_short_steps_are_not_reported_as_one_task_blocking_the_loop():
    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    async def step(n):
        for _ in range(4):
            spin(0.005)  # 5 ms of work, then the loop is free again
            await asyncio.sleep(0)

    wf = fan_out("busy", step, 100)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", BlockedLoopWarning)
        wf.execute("start", session_id="B")
    blamed = [str(w.message) for w in seen if issubclass(w.category, BlockedLoopWarning)]
    assert blamed == []


def test_a_group_timeout_counts_its_cancelled_async_members_as_run():
    async def slow(n):
        await asyncio.sleep(5)

    with workflow("timed") as wf:
        @task
        def begin():
            return None

        members = [task(id=f"m{n}")(functools.partial(slow, n)) for n in range(3)]
        _ = begin >> parallel(*members).with_execution(timeout=0.3)
    with pytest.raises(GroupTimeoutError) as raised:
        wf.execute("begin", session_id="G")
    assert raised.value.unfinished == ["m0", "m1", "m2"]
    tree = wf.last_run.session_tree()
    for n in range(3):
        assert f"G_m{n}  cancelled  enqueued 1 dequeued 1  ran m{n}" in tree, tree


def test_the_run_wide_max_concurrency_counts_sync_and_async_tasks_together():
    lock = threading.Lock()
    now, peak = [0], [0]

    def enter():
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])

    def leave():
        with lock:
            now[0] -= 1

    def member(n):
        if n % 2:
            async def call():
                enter()
                await asyncio.sleep(0.05)
                leave()
        else:
            def call():
                enter()
                time.sleep(0.05)
                leave()
        return task(id=f"m{n}")(call)

    with workflow("mixed-cap") as wf:
        @task
        def begin():
            return None

        _ = begin >> parallel(*[member(n) for n in range(24)])
    wf.execute("begin", session_id="M", max_concurrency=3)
    assert peak[0] == 3
    assert wf.last_run.status == "succeeded"


def test_one_long_step_among_many_short_ones_is_named_with_that_steps_time():
    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    async def step(n):
        if n == 7:
            spin(0.5)  # one step that holds the loop
            return
        for _ in range(4):
            spin(0.002)
            await asyncio.sleep(0)

    wf = fan_out("one-long", step, 60)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", BlockedLoopWarning)
        wf.execute("start", session_id="L")
    blamed = [str(w.message) for w in seen if issubclass(w.category, BlockedLoopWarning)]
    assert len(blamed) == 1, blamed
    assert blamed[0].startswith("async task 'm7' (session 'L_m7') blocked the run's event loop for ")
    seconds = float(blamed[0].split(" for ")[1].split(" s")[0])
    assert 0.4 <= seconds < 1.0
