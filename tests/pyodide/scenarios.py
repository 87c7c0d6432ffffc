"""The engine's core scenarios, run inside Pyodide (``run_in_pyodide.mjs`` calls
``report(name)`` for each, every one in a fresh Pyodide, as each notebook gets a fresh
kernel: what one scenario did to the process can't help or hurt the next).

Pyodide has no threads (every ``Thread.start()`` raises) and here no network: a
scenario returns what a user would notice (results, order, session ids and states,
error text); ``report`` adds the threads it tried to start, or the error it raised, as
JSON for ``test_in_pyodide.py`` to check.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import threading
import traceback
from typing import Any

from graflow_nb import parallel, task, workflow

# Every Thread.start() a scenario tried (each raised: Pyodide has no threads), by name.
TRIED: list[str] = []
_start = threading.Thread.start


def _counted_start(self: threading.Thread) -> None:
    TRIED.append(self.name)
    _start(self)


SCENARIOS: dict[str, Any] = {}


def scenario(function: Any) -> Any:
    SCENARIOS[function.__name__] = function
    return function


async def report(name: str) -> str:
    """Run scenario ``name`` (awaited on Pyodide's event loop if it is a coroutine
    function): what it saw ("seen", or "raised" and "traceback"), and under "threads"
    the threads it tried to start, as JSON."""
    TRIED.clear()
    threading.Thread.start = _counted_start  # type: ignore[method-assign]
    try:
        seen = SCENARIOS[name]()
        outcome = {"seen": await seen if inspect.iscoroutine(seen) else seen}
    except BaseException as error:  # noqa: BLE001  # recorded for the test to report
        outcome = {"raised": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    finally:
        threading.Thread.start = _start  # type: ignore[method-assign]
    outcome["threads"] = list(TRIED)
    return json.dumps(outcome, default=repr)


def session_states(run: Any) -> dict[str, str]:
    return {sid: record.state for sid, record in sorted(run.sessions.items())}


@scenario
def platform() -> dict[str, Any]:
    try:
        _start(threading.Thread(target=lambda: None))
        started = "started"
    except RuntimeError as error:
        started = str(error)
    return {"platform": sys.platform, "thread_start": started, "version": sys.version_info[:2]}


@scenario
def diamond() -> dict[str, Any]:
    order: list[str] = []
    with workflow("diamond") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            order.append(f"fetch@{ctx.session_id}")
            return 1

        @task(inject_context=True)
        def a(ctx, fetch):
            order.append(f"a@{ctx.session_id}")
            return fetch + 1

        @task(inject_context=True)
        def b(ctx, fetch):
            order.append(f"b@{ctx.session_id}")
            return fetch + 2

        @task
        def store(a, b):
            order.append("store")
            return a + b

        fetch >> (a | b) >> store
    result = wf.execute("fetch", session_id="S")
    return {"result": result, "order": order, "sessions": session_states(wf.last_run), "counts": wf.last_run.task_counts()}


@scenario
def nested_and_dynamic() -> dict[str, Any]:
    order: list[str] = []
    with workflow("nested") as wf:

        def member(name: str, adds: str | None = None) -> Any:
            @task(name, inject_context=True)
            def body(ctx):
                order.append(f"{name}@{ctx.session_id}")
                ctx.get_channel().set(name, len(order))
                if adds is not None:  # a task made at run time, in this branch
                    ctx.next_task(member(adds))

            return body

        inner = parallel(member("n1"), member("n2"))
        outer = parallel(member("a", adds="added"), inner, member("b"))

        @task(inject_context=True)
        def store(ctx):
            return sorted(k for k in ctx.get_channel().keys() if not k.endswith("__result__"))

        outer >> store
    result = wf.execute(session_id="S")
    return {"result": result, "order": order, "tree": wf.last_run.session_tree()}


@scenario
def policies() -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for policy, fail_fast in (("best_effort", False), ("strict", True)):
        order: list[str] = []
        with workflow(f"policy-{policy}") as wf:

            @task
            def m1(order=order):
                order.append("m1")

            @task
            def m2(order=order):
                order.append("m2")
                raise ValueError("m2 broke")

            @task
            def m3(order=order):
                order.append("m3")

            parallel(m1, m2, m3).with_execution(policy=policy, fail_fast=fail_fast)
        try:
            wf.execute(session_id="S")
            raised = None
        except Exception as error:  # noqa: BLE001
            raised = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        group = wf.last_run.groups[-1]
        seen[policy] = {"order": order, "raised": raised, "group": group.state, "sessions": session_states(wf.last_run)}
    return seen


@scenario
def merges() -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for merge in ("overwrite", "keep_first", None):
        with workflow(f"merge-{merge}") as wf:

            @task(inject_context=True)
            def first(ctx):
                ctx.get_channel().set("k", "first")

            @task(inject_context=True)
            def second(ctx):
                ctx.get_channel().set("k", "second")

            @task(inject_context=True)
            def read(ctx):
                return ctx.get_channel().get("k")

            group = parallel(first, second)
            if merge is not None:
                group = group.with_execution(merge=merge)
            group >> read
        try:
            seen[str(merge)] = wf.execute(session_id="S")
        except Exception as error:  # noqa: BLE001
            seen[str(merge)] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return seen


def approval_workflow(order: list[str]) -> Any:
    with workflow("hil") as wf:

        @task
        def fetch():
            order.append("fetch")

        @task(inject_context=True)
        def a(ctx):
            answer = ctx.request_approval("Ship it?")
            order.append("a")
            return answer

        @task
        def b():
            order.append("b")
            return "rb"

        @task
        def store(a, b):
            order.append("store")
            return [a, b]

        fetch >> (a | b) >> store
    return wf


@scenario
def human_input() -> dict[str, Any]:
    order: list[str] = []
    wf = approval_workflow(order)
    paused = wf.execute("fetch", session_id="S")
    pending = [[p.session_id, p.task_id, p.kind, p.prompt] for p in paused.pending]
    status = paused.status
    result = paused.resume("S_a", True)
    return {"status": status, "pending": pending, "result": result, "order": order, "sessions": session_states(wf.last_run)}


@scenario
def checkpoint() -> dict[str, Any]:
    order: list[str] = []
    wf = approval_workflow(order)
    folder = "/tmp/ckpt"  # Pyodide's in-memory file system
    paused = wf.execute("fetch", session_id="C", checkpoint_dir=folder)
    files = sorted(os.listdir(folder))
    before = list(order)
    result = wf.resume(f"{folder}/C.pkl", answers={"C_a": True})
    return {"status": paused.status, "files": files, "before": before, "result": result, "order": order}


@scenario
def timeout_needs_threads() -> dict[str, Any]:
    with workflow("slow") as wf:

        @task(timeout=2)
        def patient():
            return 1

    try:
        wf.execute(session_id="S")
    except Exception as error:  # noqa: BLE001
        return {"raised": f"{type(error).__name__}: {error}"}
    return {"raised": None}



class InFlight:
    """How many async tasks are inside their await at once, and the most there were."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.finally_ran: list[str] = []

    async def hold(self, name: str, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1
            self.finally_ran.append(name)


def async_fan_out(flight: InFlight, count: int, seconds: float) -> Any:
    """start >> parallel(``count`` async members) >> total, each member awaiting ``seconds``."""
    with workflow("fan") as wf:

        @task
        def start():
            return "go"

        def member(index: int) -> Any:
            @task(f"m{index}", inject_context=True)
            async def body(ctx):
                await flight.hold(f"m{index}", seconds)
                ctx.get_channel().set(f"k{index}", index)
                return index

            return body

        @task(inject_context=True)
        def total(ctx):
            return sum(ctx.get_channel().get(f"k{index}") for index in range(count))

        start >> parallel(*(member(index) for index in range(count))) >> total
    return wf


@scenario
async def async_fan_out_overlaps() -> dict[str, Any]:
    """``await wf.aexecute()`` on the page's loop: 100 members awaiting at once."""
    flight = InFlight()
    wf = async_fan_out(flight, 100, 0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await wf.aexecute(session_id="S")
    states = session_states(wf.last_run)
    return {
        "result": result, "peak": flight.peak, "status": wf.last_run.status, "seconds": loop.time() - began,
        "merged": sum(1 for sid, state in states.items() if sid != "S" and state == "merged"),
        "loop": type(loop).__name__,
    }


@scenario
async def async_cancel() -> dict[str, Any]:
    """Cancelling the awaiting coroutine cancels the run; every member's finally runs."""
    flight = InFlight()
    wf = async_fan_out(flight, 10, 30)
    running = asyncio.ensure_future(wf.aexecute(session_id="S"))
    for _ in range(1000):  # at most 10 s: a run that never gets there fails below, not hangs
        if flight.now == 10 or running.done():
            break
        await asyncio.sleep(0.01)
    running.cancel()
    try:
        await running
        raised = None
    except asyncio.CancelledError:
        raised = "CancelledError"
    run = wf.last_run
    return {
        "raised": raised, "status": run.status, "finally_ran": sorted(flight.finally_ran),
        "attempts": sorted({r.status for r in run.task_runs if r.task_id.startswith("m")}),
        "sessions": sorted({state for sid, state in session_states(run).items() if sid != "S"}),
    }


@scenario
def async_execute_points_to_aexecute() -> dict[str, Any]:
    with workflow("sync") as wf:

        @task
        async def fetch():
            return 1

    try:
        wf.execute(session_id="S")
    except Exception as error:  # noqa: BLE001
        return {"raised": f"{type(error).__name__}: {error}"}
    return {"raised": None}


@scenario
async def async_question_and_aresume() -> dict[str, Any]:
    """An async member's ``await ctx.arequest_approval`` pauses the run on the page's
    loop, and ``await wf.aresume`` answers it and finishes the run there."""
    asked: list[str] = []
    with workflow("ask") as wf:

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
    paused = await wf.aexecute(session_id="S")
    pending = [[q.session_id, q.prompt] for q in wf.last_run.pending.values()]
    result = await wf.aresume("S_a", True)
    return {"status": paused.status, "pending": pending, "result": result, "asked": asked,
            "sessions": session_states(wf.last_run)}


# -- the step debugger, which holds the run by unwinding it here (graflow_nb.debug.unwinding)
@scenario
def step_debugger() -> dict[str, Any]:
    order: list[str] = []
    with workflow("debugged") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            order.append(f"fetch@{ctx.session_id}")
            ctx.get_channel().set("rows", 3)
            return 3

        @task(inject_context=True)
        def a(ctx, fetch):
            order.append(f"a@{ctx.session_id}")
            return ctx.request_approval("double it?") and fetch * 2

        @task(inject_context=True)
        def b(ctx, fetch):
            order.append(f"b@{ctx.session_id}")
            return fetch + 1

        @task
        def store(a, b):
            order.append("store")
            return a + b

        fetch >> (a | b) >> store
    dbg = wf.debug("fetch", session_id="S", halt_at_merge=True)
    steps = [str(dbg.step()), str(dbg.step()), str(dbg.step("S_b"))]
    state = [[s["session_id"], s["status"], s["stop"], s["task"]] for s in dbg.state()]
    b_changes = sorted(dbg.changes("S_b"))
    asked = str(dbg.step("S_a"))  # a asks: its branch pauses, nothing is held any more
    paused = dbg.run_to_end()
    pending = [[p.session_id, p.prompt] for p in paused.pending]
    result = wf.resume({"S_a": True})
    again = wf.debug("fetch", session_id="R", halt_before="b")
    halt = str(again.continue_())  # a asks and pauses; b is held at its breakpoint
    old = again.run
    again.restart()
    after_restart = [[s["session_id"], s["status"], s["task"]] for s in again.state()]
    again.close()
    return {
        "threads": dbg.threads, "steps": steps, "state": state, "b_changes": b_changes, "asked": asked,
        "paused": paused.status, "pending": pending, "result": result, "order": order,
        "history": [list(h[:2]) for h in dbg.history], "halt": halt, "after_restart": after_restart,
        "old_run": [old.status, session_states(old)],
    }
