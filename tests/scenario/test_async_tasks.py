"""``async def`` tasks, awaited on the run's event loop, everywhere a task goes.

Real loops and real threads: what a user notices is the result, that async branches
overlap, which thread and loop each task ran on, what was recorded, and that a stop
reaches a coroutine's ``finally``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
import warnings

import pytest

from graflow_nb import BlockedLoopWarning, ExecutionContext, ParallelGroup, TaskWrapper, WorkflowEngine, task, workflow
from graflow_nb.core.errors import GraflowWorkflowCanceledError, GroupTimeoutError, ParallelGroupError, TaskTimeoutError
from graflow_nb.core.handler import TaskHandler
from graflow_nb.core.runtime.loop import LoopWatchdog


def statuses(wf) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in wf.last_run.task_runs:
        out.setdefault(record.task_id, []).append(record.status)
    return out


def test_an_async_diamond_gives_the_join_both_results_and_its_branches_overlap():
    with workflow("diamond") as wf:
        @task
        def prompts():
            return ["a", "b"]

        @task
        async def call_a(prompts):
            await asyncio.sleep(0.3)
            return prompts[0].upper()

        @task
        async def call_b(prompts):
            await asyncio.sleep(0.3)
            return prompts[1].upper()

        @task
        async def join(call_a, call_b):
            return call_a + call_b

        _ = prompts >> (call_a | call_b) >> join
    started = time.monotonic()
    assert wf.execute() == "AB"
    assert time.monotonic() - started < 0.55  # the two 0.3 s awaits overlapped
    assert statuses(wf) == {"prompts": ["succeeded"], "ParallelGroup_1": ["succeeded"], "call_a": ["succeeded"],
                            "call_b": ["succeeded"], "join": ["succeeded"]}
    assert wf.last_run.status == "succeeded"


async def _fetch(url: str = "u") -> str:
    await asyncio.sleep(0)
    return f"got {url}"


class _AsyncClient:
    async def __call__(self) -> str:
        await asyncio.sleep(0)
        return "called"

    async def get(self) -> str:
        return "got"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda: task("named")(_fetch), "got u", id="task(id)"),
        pytest.param(lambda: task("named", max_retries=2)(_fetch), "got u", id="options"),
        pytest.param(lambda: TaskWrapper("named", _fetch), "got u", id="TaskWrapper"),
        pytest.param(lambda: task("named")(functools.partial(_fetch, "p")), "got p", id="partial"),
        pytest.param(lambda: task("named")(_AsyncClient()), "called", id="callable-object"),
        pytest.param(lambda: task("named")(_AsyncClient().get), "got", id="bound-method"),
    ],
)
def test_every_way_of_making_an_async_task_is_awaited(make, expected):
    with workflow("forms") as wf:
        made = make()
    assert made.is_async
    assert wf.execute("named") == expected


def test_an_async_generator_is_refused_naming_the_task_and_saying_what_to_write():
    async def stream():
        yield 1

    with workflow("gen") as wf:
        with pytest.raises(TypeError) as caught:
            task("stream")(stream)
    message = str(caught.value)
    assert message.startswith("task 'stream' is an async generator;")
    assert "return them as a list" in message
    assert len(message) < 400
    assert "stream" not in wf.graph.nodes


def test_sync_and_async_members_share_one_group_each_on_its_own_kind_of_thread():
    seen: dict[str, tuple[str, int | None]] = {}

    def where(name: str) -> None:
        try:
            loop_id = id(asyncio.get_running_loop())
        except RuntimeError:
            loop_id = None
        seen[name] = (threading.current_thread().name, loop_id)

    with workflow("mixed") as wf:
        @task
        def sync_a():
            where("sync_a")
            asyncio.run(asyncio.sleep(0))  # possible only where no loop runs
            return 1

        @task
        async def async_b():
            await asyncio.sleep(0.05)
            where("async_b")
            return 2

        @task
        def sync_c():
            where("sync_c")
            return 3

        @task
        async def async_d():
            where("async_d")
            return 4

        @task
        async def total(sync_a, async_b, sync_c, async_d):
            where("total")
            return sync_a + async_b + sync_c + async_d

        _ = (sync_a | async_b | sync_c | async_d) >> total
    assert wf.execute() == 10
    loops = {seen[name][1] for name in ("async_b", "async_d", "total")}
    assert len(loops) == 1 and None not in loops  # one running loop for every async task of the run
    loop_thread = seen["async_b"][0]
    assert seen["sync_a"][1] is None and seen["sync_c"][1] is None  # sync tasks: never where a loop runs
    assert loop_thread not in (seen["sync_a"][0], seen["sync_c"][0])


def test_async_tasks_use_the_channel_and_control_calls_like_sync_ones():
    with workflow("control") as wf:
        @task(inject_context=True)
        async def first(ctx):
            channel = ctx.get_channel()
            channel.set("n", 1)
            channel.atomic_add("n", 2)
            channel.append("log", "first")
            await asyncio.sleep(0)

            @task("made_later")
            async def made_later():
                await asyncio.sleep(0)
                return "later"

            ctx.next_task(made_later)
            return "first"

        @task(inject_context=True)
        async def stopper(ctx):
            ctx.terminate_workflow("enough")
            return "stopped"

        @task
        def never():
            return "never"

        _ = first >> stopper >> never
    assert wf.execute("first") == "stopped"
    channel = wf.last_run.channel()
    assert channel["n"] == 3 and channel["log"] == ["first"]
    assert wf.last_run.execution_sequence() == ["first", "made_later", "stopper"]


def test_a_group_built_in_an_async_branch_runs_its_async_members():
    with workflow("nested") as wf:
        @task(inject_context=True)
        async def fan(ctx):
            members = [task(f"leaf_{i}")(functools.partial(_fetch, str(i))) for i in range(3)]
            ctx.next_task(ParallelGroup(members, name="inner"))
            return "fan"

        @task
        async def other():
            return "other"

        _ = fan | other
    wf.execute()
    channel = wf.last_run.channel()
    assert [channel[f"leaf_{i}.__result__"] for i in range(3)] == ["got 0", "got 1", "got 2"]


def test_an_async_task_is_retried_and_each_attempt_recorded():
    calls = []
    with workflow("retry") as wf:
        @task(max_retries=2, inject_context=True)
        async def flaky(ctx):
            calls.append(ctx.retry_count)
            await asyncio.sleep(0)
            if len(calls) < 3:
                raise ConnectionError(f"try {len(calls)}")
            return "ok"

        @task
        def other():
            return 0

        _ = flaky | other  # in a branch, where it parks between attempts
    wf.execute()
    assert calls == [0, 1, 2]
    assert statuses(wf)["flaky"] == ["failed", "failed", "succeeded"]
    assert [r.attempt for r in wf.last_run.task_runs if r.task_id == "flaky"] == [1, 2, 3]
    assert wf.last_run.channel()["flaky.__result__"] == "ok"


@pytest.mark.parametrize("where", ["root", "branch"])
def test_a_timeout_cancels_the_coroutine_at_its_await_and_its_finally_runs(where):
    finished = []
    with workflow("timeout") as wf:
        @task(timeout=0.2)
        async def slow():
            try:
                await asyncio.sleep(5)
            finally:
                finished.append("finally")

        @task
        def other():
            return 0

        if where == "branch":
            _ = slow | other
    started = time.monotonic()
    with pytest.raises((TaskTimeoutError, ParallelGroupError)) as raised:
        wf.execute("slow" if where == "root" else None)
    assert time.monotonic() - started < 2
    error = raised.value if where == "root" else raised.value.errors["slow"]
    assert isinstance(error, TaskTimeoutError) and error.task_id == "slow"
    assert finished == ["finally"]
    assert statuses(wf)["slow"] == ["failed"]


def test_a_sibling_failure_with_fail_fast_cancels_the_async_member_which_ends_cancelled():
    finished = []
    with workflow("fail_fast") as wf:
        @task
        async def slow():
            try:
                await asyncio.sleep(10)
            finally:
                finished.append("slow")

        @task
        def boom():
            time.sleep(0.1)
            raise ValueError("boom")

        @task
        def src():
            return 0

        _ = src >> (slow | boom).with_execution(fail_fast=True)
    started = time.monotonic()
    with pytest.raises(ParallelGroupError) as raised:
        wf.execute("src", session_id="F")
    assert time.monotonic() - started < 3
    assert finished == ["slow"]
    assert statuses(wf)["slow"] == ["cancelled"]
    # It says the member was cancelled at an await, not that it never ran.
    message = str(raised.value)
    assert "not run" not in message
    assert message.endswith("; cancelled at an await: slow")
    slow_session = wf.last_run.sessions["F_slow"]
    assert (slow_session.state, slow_session.dequeued, slow_session.tasks_run) == ("cancelled", 1, ["slow"])


def test_a_group_timeout_cancels_async_members_instead_of_abandoning_them():
    finished = []
    with workflow("group_timeout") as wf:
        @task
        async def slow():
            try:
                await asyncio.sleep(10)
            finally:
                finished.append("slow")

        @task
        async def quick():
            return 1

        @task
        def src():
            return 0

        _ = src >> (slow | quick).with_execution(timeout=0.3)
    with pytest.raises(GroupTimeoutError) as raised:
        wf.execute("src")
    assert raised.value.unfinished == ["slow"]
    assert finished == ["slow"]
    assert statuses(wf)["slow"] == ["cancelled"]
    run = wf.last_run
    assert run.sessions[f"{run.root_session_id}_slow"].state == "cancelled"
    assert not run.abandoned_any


def test_cancel_workflow_in_a_sync_branch_reaches_the_async_siblings_finally():
    finished = []
    with workflow("cancel") as wf:
        @task
        async def slow():
            try:
                await asyncio.sleep(10)
            finally:
                finished.append("slow")

        @task(inject_context=True)
        def canceller(ctx):
            time.sleep(0.1)
            ctx.cancel_workflow("stop")

        _ = slow | canceller
    started = time.monotonic()
    with pytest.raises(Exception, match="stop"):
        wf.execute()
    assert time.monotonic() - started < 3
    assert finished == ["slow"]
    assert statuses(wf)["slow"] == ["cancelled"]
    assert wf.last_run.status == "cancelled"


def test_run_cancel_from_another_thread_cancels_an_async_root_task():
    finished = []
    started = threading.Event()
    with workflow("run_cancel") as wf:
        @task
        async def slow():
            started.set()
            try:
                await asyncio.sleep(10)
            finally:
                finished.append("slow")

    def cancel_when_started() -> None:
        started.wait(5)
        wf.last_run.cancel()

    threading.Thread(target=cancel_when_started, daemon=True).start()
    begun = time.monotonic()
    with pytest.raises(GraflowWorkflowCanceledError, match="the run was cancelled"):
        wf.execute("slow")
    assert time.monotonic() - begun < 3
    assert finished == ["slow"]
    assert statuses(wf)["slow"] == ["cancelled"]
    assert wf.last_run.status == "cancelled"


@pytest.mark.slow
def test_ten_thousand_async_branches_cost_one_loop_and_few_threads():
    count = 10_000
    peak = [threading.active_count()]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], threading.active_count())
            time.sleep(0.002)

    with workflow("wide") as wf:
        @task
        def src():
            return 0

        async def call(i: int) -> int:
            await asyncio.sleep(1.0)
            return i

        members = [task(f"m{i}")(functools.partial(call, i)) for i in range(count)]

        @task
        def sink():
            return "done"

        _ = src >> ParallelGroup(members) >> sink
    before = threading.active_count()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        assert wf.execute("src", max_steps=count + 10) == "done"
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert peak[0] - before < 32, f"peak threads {peak[0]} (before the run: {before})"
    assert elapsed < 10  # 10,000 one-second awaits overlap
    channel = wf.last_run.channel()
    assert all(channel[f"m{i}.__result__"] == i for i in (0, 4999, 9999))


def test_execute_called_in_a_running_loop_runs_sync_tasks_where_asyncio_run_works():
    seen = {}
    with workflow("in_loop") as wf:
        @task
        def root_sync():
            seen["root"] = threading.current_thread().name
            return asyncio.run(_fetch("root"))  # an SDK's sync wrapper does this

        @task
        def first_member():
            return asyncio.run(_fetch("first"))

        @task
        def second_member():
            return asyncio.run(_fetch("second"))

        @task
        def both(first_member, second_member):
            return [first_member, second_member]

        _ = root_sync >> (first_member | second_member) >> both

    async def cell():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        result = wf.execute("root_sync")
        ticking.cancel()
        return result, threading.current_thread().name

    result, cell_thread = asyncio.run(cell())
    assert result == ["got first", "got second"]
    assert wf.last_run.channel()["root_sync.__result__"] == "got root"
    assert seen["root"] != cell_thread


def test_aexecute_runs_async_tasks_on_the_callers_loop_with_objects_made_before_the_run():
    class LoopBoundClient:
        """Like httpx.AsyncClient: usable only on the loop it was made on."""

        def __init__(self) -> None:
            self.loop = asyncio.get_running_loop()
            self.calls = 0

        async def get(self, url: str) -> str:
            assert asyncio.get_running_loop() is self.loop, "used on another loop"
            self.calls += 1
            await asyncio.sleep(0.05)
            return url.upper()

    async def cell():
        client = LoopBoundClient()
        with workflow("lent") as wf:
            @task
            async def fetch_a():
                return await client.get("a")

            @task
            async def fetch_b():
                return await client.get("b")

            @task
            def blocking_sync(fetch_a, fetch_b):
                time.sleep(0.2)  # on the pool: the caller's loop stays free
                return fetch_a + fetch_b

            _ = (fetch_a | fetch_b) >> blocking_sync
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        result = await wf.aexecute()
        ticking.cancel()
        return result, client.calls, ticks, wf

    result, calls, ticks, wf = asyncio.run(cell())
    assert result == "AB"
    assert calls == 2
    assert ticks >= 10  # the loop ran other coroutines while the run went on
    assert wf.last_run.status == "succeeded"


def test_cancelling_an_aexecute_await_cancels_the_run_and_its_async_tasks_finally_runs():
    finished = []

    async def cell():
        began = asyncio.Event()
        with workflow("cancel_await") as wf:
            @task
            async def slow():
                began.set()
                try:
                    await asyncio.sleep(10)
                finally:
                    finished.append("slow")

        running = asyncio.create_task(wf.aexecute("slow"))
        await asyncio.wait_for(began.wait(), 5)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return wf

    wf = asyncio.run(cell())
    assert finished == ["slow"]
    assert wf.last_run.status == "cancelled"
    assert statuses(wf)["slow"] == ["cancelled"]


def test_an_async_task_that_blocks_the_loop_is_named_in_one_warning_with_how_long():
    with workflow("blocking") as wf:
        @task
        async def sleepy():
            time.sleep(0.6)  # blocks the loop: every other async task waits
            return 1

        @task
        async def polite():
            await asyncio.sleep(0.01)
            return 2

        _ = sleepy | polite
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wf.execute()
    blocked = [w for w in caught if issubclass(w.category, BlockedLoopWarning)]
    assert len(blocked) == 1, [str(w.message) for w in caught]
    message = str(blocked[0].message)
    assert "'sleepy'" in message and "blocked the run's event loop for" in message
    seconds = float(message.split("for ")[1].split(" s")[0])
    assert 0.4 <= seconds < 2.0
    assert "polite" not in message


def test_the_blocked_loop_warning_is_given_before_the_run_returns_when_the_watchdog_runs_late(monkeypatch):
    """On a busy machine the watchdog's thread may get the processor only after the run
    has ended: its warning must still come before ``execute`` returns (within the
    caller's cell and its ``catch_warnings``), not after."""
    judge = LoopWatchdog._judge

    def late_judge(self, *args):
        time.sleep(0.3)  # the watchdog's thread, scheduled late
        judge(self, *args)

    monkeypatch.setattr(LoopWatchdog, "_judge", late_judge)
    with workflow("late") as wf:
        @task
        async def sleepy():
            time.sleep(0.4)  # blocks the loop
            return 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wf.execute(session_id="L")
    assert [str(w.message).split(" blocked")[0] for w in caught if issubclass(w.category, BlockedLoopWarning)] == [
        "async task 'sleepy' (session 'L')"
    ]


def test_ready_parallel_runs_async_tasks():
    with workflow("ready") as wf:
        @task
        async def a():
            await asyncio.sleep(0.2)
            return 1

        @task
        async def b():
            await asyncio.sleep(0.2)
            return 2

        @task
        def src():
            return 0

        @task
        async def both(a, b):
            return a + b

        _ = src >> a
        _ = src >> b
        _ = a >> both
        _ = b >> both
    started = time.monotonic()
    assert wf.execute("src", ready_parallel=True) == 3
    assert time.monotonic() - started < 0.39


def test_an_async_task_waiting_for_input_pauses_its_session_and_resumes_from_its_start():
    runs = []
    with workflow("ask") as wf:
        @task(inject_context=True)
        async def ask(ctx):
            runs.append("ask")
            await asyncio.sleep(0)
            return ctx.request_text_input("name?")

        @task
        def other():
            return 0

        _ = ask | other
    paused = wf.execute()
    assert [p.prompt for p in paused.pending] == ["name?"]
    assert statuses(wf)["ask"] == ["paused"]
    paused.resume({q.key: "Ada" for q in paused.pending})
    assert runs == ["ask", "ask"]
    assert wf.last_run.status == "succeeded"
    assert wf.last_run.channel()["ask.__result__"] == "Ada"


def test_an_async_task_waiting_with_a_timeout_awaits_the_answer_off_the_loop():
    ticks = []
    with workflow("ask_wait") as wf:
        @task(inject_context=True)
        async def ask(ctx):
            return await ctx.arequest_text_input("name?", timeout=3)

        @task
        async def ticker():
            for _ in range(10):
                await asyncio.sleep(0.02)
                ticks.append(time.monotonic())
            return len(ticks)

        _ = ask | ticker

    def answer_when_asked() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            run = wf.last_run
            if run is not None and run.pending_inputs() and len(ticks) == 10:  # only once the loop ran on
                run.answer(run.pending_inputs()[0].key, "Ada")
                return
            time.sleep(0.01)

    threading.Thread(target=answer_when_asked, daemon=True).start()
    wf.execute()
    channel = wf.last_run.channel()
    assert channel["ask.__result__"] == "Ada"
    assert channel["ticker.__result__"] == 10  # the loop ran on while ask waited


def test_a_custom_handler_runs_an_async_task_and_gets_its_awaited_result():
    class Wrapping(TaskHandler):
        def execute_task(self, task, context):
            context.set_result(task.task_id, ("handled", task.run()))

    with workflow("handled") as wf:
        @task(handler="wrapping")
        async def head():
            await asyncio.sleep(0.01)
            return "h"

        @task(handler="wrapping", inject_context=True)
        async def member(ctx, head):
            await asyncio.sleep(0.01)
            return [head, ctx.session_id]

        @task
        def plain():
            return "p"

        _ = head >> (member | plain)
    engine = WorkflowEngine()
    engine.register_handler("wrapping", Wrapping())
    context = ExecutionContext.create(wf.graph, "head", session_id="H")
    engine.execute(context)
    channel = context.run.channel()
    assert channel["head.__result__"] == ("handled", "h")
    assert channel["member.__result__"] == ("handled", [("handled", "h"), "H_member"])


def _ctrl_c_when(started: threading.Event) -> None:
    """Press Ctrl-C (a real SIGINT to this process) once ``started`` is set."""

    def press() -> None:
        if started.wait(5):
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press, daemon=True).start()


@pytest.mark.parametrize("where", ["root", "branch"])
def test_ctrl_c_cancels_async_tasks_at_their_await_and_their_finally_runs(where):
    finished = []
    started = threading.Event()
    with workflow("ctrl_c") as wf:
        @task
        async def slow():
            started.set()
            try:
                await asyncio.sleep(10)
            finally:
                finished.append("slow")

        @task
        async def quick():
            return 1

        if where == "branch":
            _ = slow | quick
    _ctrl_c_when(started)
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        wf.execute("slow" if where == "root" else None)
    assert time.monotonic() - begun < 5
    assert finished == ["slow"]
    assert statuses(wf)["slow"] == ["cancelled"]
    assert wf.last_run.status == "cancelled"
    assert all(r.state not in ("open", "paused") for r in wf.last_run.sessions.values())
