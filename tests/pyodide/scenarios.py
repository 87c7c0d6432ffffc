"""The engine's core scenarios, run inside Pyodide (``run_in_pyodide.mjs`` calls
``report(name)`` for each, every one in a fresh Pyodide, as each notebook gets a fresh
kernel: what one scenario did to the process can't help or hurt the next).

Pyodide has no threads (every ``Thread.start()`` raises) and here no network: a
scenario returns what a user would notice (results, order, session ids and states,
error text); ``report`` adds the threads it tried to start, or the error it raised, as
JSON for ``test_in_pyodide.py`` to check.
"""

from __future__ import annotations

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


def report(name: str) -> str:
    """Run scenario ``name``: what it saw ("seen", or "raised" and "traceback"), and
    under "threads" the threads it tried to start, as JSON."""
    TRIED.clear()
    threading.Thread.start = _counted_start  # type: ignore[method-assign]
    try:
        outcome = {"seen": SCENARIOS[name]()}
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
