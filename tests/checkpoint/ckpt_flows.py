"""Workflows the checkpoint tests save in one process and resume in another.

Each builder takes ``fixed``: False gives the run that pauses, fails or is cancelled,
True the same graph with the cause fixed (what a person does in the notebook before
resuming).  ``RUNS`` records every task that started in this process, in order: the
oracle for "finished work never runs again".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from graflow_nb import task, workflow
from graflow_nb.core import AtLeastNGroupPolicy, CriticalGroupPolicy
from graflow_nb.core.task import TaskWrapper

RUNS: list[str] = []


def ran(name: str) -> None:
    RUNS.append(name)


def leaf(name: str, value: Any = None) -> Any:
    """Task ``name`` of the workflow being built: records its run, returns ``value``
    (by default its own name)."""

    def body() -> Any:
        ran(name)
        return name if value is None else value

    return task(name)(body)


def chain_flow(name: str, ask: Callable[[Any], Any]) -> Any:
    """a >> b >> c (result 20): ``b`` calls ``ask(ctx)`` the first time it runs, so a
    run resumed from a checkpoint taken there does not ask again."""
    with workflow(name) as wf:
        first = leaf("a", 1)

        @task(inject_context=True)
        def b(ctx, a):
            ran("b")
            if ctx.get_channel().get("asked") is None:
                ctx.get_channel().set("asked", True)
                ask(ctx)
            return a + 1

        @task
        def c(b):
            ran("c")
            return b * 10

        first >> b >> c
    return wf


def branch_flow(name: str, a_body: Callable[[Any], Any]) -> Any:
    """src >> (a | b): branch ``a`` runs ``a_body(ctx)`` while its sibling ``b`` may
    still be running (what a checkpoint from a branch must refuse)."""
    with workflow(name) as wf:
        a = task("a", inject_context=True)(a_body)
        b = leaf("b", 2)
        src = leaf("src", 0)
        src >> (a | b)
    return wf


def hitl(fixed: bool = False):
    """Three sessions wait at once: S_a (approval), S_b (text), S_c_c2 (selection)."""
    with workflow("hitl") as wf:
        fetch = leaf("fetch", 10)

        @task(inject_context=True)
        def a(ctx, fetch):
            ran("a")
            return ("a", ctx.request_approval("ship a?"), fetch)

        @task(inject_context=True)
        def b(ctx):
            ran("b")
            return ("b", ctx.request_text_input("name for b?"))

        c = leaf("c")
        c1 = leaf("c1")

        @task(inject_context=True)
        def c2(ctx):
            ran("c2")
            return ctx.request_selection("colour?", ["red", "blue"])

        @task
        def cm(c1, c2):
            ran("cm")
            return c1 + "+" + c2

        @task
        def store(a, b, cm):
            ran("store")
            return [a, b, cm]

        fetch >> (a | b | (c >> (c1 | c2) >> cm)) >> store
    return wf


def policy_flow(policy: str, fixed: bool = False):
    """fetch >> (m1 | m2 >> m2b | m3) >> store, one member at a time, with the
    failures each policy needs to fail the group (none once fixed)."""
    fails = {
        "strict": {"m2"},
        "fail_fast": {"m2"},
        "rollback": {"m2"},
        "continue": {"m1", "m2", "m3"},
        "at_least_n": {"m2", "m3"},
        "critical": {"m2"},
    }[policy]
    chosen = {
        "at_least_n": AtLeastNGroupPolicy(2),
        "critical": CriticalGroupPolicy(["m2"]),
    }.get(policy, policy)

    def member(name: str):
        def body(ctx):
            ran(name)
            ctx.get_channel().set(name, "done")
            if name in fails and not fixed:
                raise ValueError(f"{name} broke")
            return name

        return task(name, inject_context=True)(body)

    with workflow(f"policy_{policy}") as wf:
        fetch = leaf("fetch", 1)

        m1, m2, m3 = member("m1"), member("m2"), member("m3")

        @task
        def m2b(m2):
            ran("m2b")
            return m2 + "b"

        @m1.compensate
        def undo_m1():
            ran("undo_m1")

        @task(inject_context=True)
        def store(ctx):
            ran("store")
            channel = ctx.get_channel()
            return sorted(k for k in ("m1", "m2", "m3") if channel.get(k) == "done")

        group = (m1 | (m2 >> m2b) | m3).with_execution(policy=chosen, max_concurrency=1)
        fetch >> group >> store
    return wf


def cancel_flow(fixed: bool = False):
    """y2 cancels the whole run while x has finished and y3 has not started."""
    with workflow("cancel") as wf:
        fetch = leaf("fetch", 1)
        x = leaf("x")
        y1 = leaf("y1")

        @task(inject_context=True)
        def y2(ctx):
            ran("y2")
            if not fixed:
                ctx.cancel_workflow("stop for the night")
            return "y2"

        y3 = leaf("y3")

        @task
        def store(x, y3):
            ran("store")
            return x + y3

        fetch >> (x | (y1 >> y2 >> y3)).with_execution(max_concurrency=1) >> store
    return wf


def helper_body(ctx):
    """A task made at run time (by ``spawner``); module level, so a resumed run finds it."""
    ran("helper")
    return ("helper", ctx.request_approval("helper may go?"))


def dynamic_flow(fixed: bool = False):
    """A branch queues a task it creates, which waits; a sibling loops with
    next_iteration and waits in its second cycle."""
    with workflow("dynamic") as wf:
        fetch = leaf("fetch", 1)

        @task(inject_context=True)
        def spawner(ctx):
            ran("spawner")
            ctx.next_task(TaskWrapper("helper", helper_body, inject_context=True))
            return "spawned"

        @task(inject_context=True)
        def looper(ctx, data=None):
            ran(f"looper#{ctx.cycle_count}")
            if ctx.cycle_count == 2:
                ctx.request_approval("second lap?")
            if ctx.cycle_count < 3:
                ctx.next_iteration()
            ctx.get_channel().atomic_add("laps", 1)
            return ctx.cycle_count

        @task(inject_context=True)
        def store(ctx):
            ran("store")
            return ctx.get_channel().get("laps")

        fetch >> (spawner | looper).with_execution(max_concurrency=1) >> store
    return wf


def nested_flow(fixed: bool = False):
    """a >> ((b >> (b1 | b2) >> bm) | c) >> d, one member at a time, with b2 failing
    until fixed."""
    with workflow("nested") as wf:
        a = leaf("a")
        b = leaf("b")
        b1 = leaf("b1")

        @task
        def b2():
            ran("b2")
            if not fixed:
                raise RuntimeError("b2 broke")
            return "b2"

        @task
        def bm(b1, b2):
            ran("bm")
            return b1 + b2

        c = leaf("c")

        @task
        def d(bm, c):
            ran("d")
            return bm + c

        inner = (b1 | b2).with_execution(max_concurrency=1)  # b1 has finished when b2 fails
        a >> ((b >> inner >> bm) | c).with_execution(max_concurrency=1, fail_fast=True) >> d  # c never starts
    return wf


FLOWS = {
    "hitl": hitl,
    "cancel": cancel_flow,
    "dynamic": dynamic_flow,
    "nested": nested_flow,
    **{f"policy_{p}": functools.partial(policy_flow, p) for p in ("strict", "fail_fast", "rollback", "continue", "at_least_n", "critical")},
}


def shipped(fixed: bool = False):
    """fetch >> (a >> (a1 | a2) | b) >> store: member ``a`` is run in another process
    from its ``BranchSpec``; it reads the parent's channel, writes, adds and forks."""
    with workflow("shipped") as wf:
        @task
        def fetch():
            return 1

        @task(inject_context=True)
        def a(ctx, fetch):
            channel = ctx.get_channel()
            channel.set("seen", channel.get("base") + "!")
            channel.atomic_add("total", 5)
            channel.delete("gone")
            return fetch + 1

        @task
        def a1(a):
            return a * 10

        @task(inject_context=True)
        def a2(ctx, a):
            ctx.get_channel().append("log", "a2")
            return a * 100

        @task
        def b():
            return "b"

        @task
        def store(a1, a2, b):
            return (a1, a2, b)

        fetch >> ((a >> (a1 | a2)) | b) >> store
    return wf


FLOWS["shipped"] = shipped


def frames(fixed: bool = False):
    """Branches edit values that don't compare with ``==`` (a DataFrame in place, a numpy
    array replaced) before a sibling waits: their changes must survive the checkpoint."""
    import numpy as np
    import pandas as pd

    with workflow("frames") as wf:
        @task(inject_context=True)
        def load(ctx):
            ctx.get_channel().set("table", pd.DataFrame({"x": [1, 2, 3]}))
            ctx.get_channel().set("vector", np.zeros(3))
            return "loaded"

        @task(inject_context=True)
        def edit(ctx):
            ran("edit")
            ctx.get_channel().get("table").loc[0, "x"] = 99  # in place, on the branch's own copy
            return "edited"

        @task(inject_context=True)
        def scale(ctx):
            ran("scale")
            ctx.get_channel().set("vector", ctx.get_channel().get("vector") + 7)
            return "scaled"

        @task(inject_context=True)
        def wait(ctx):
            ran("wait")
            return ctx.request_approval("merge?")

        @task(inject_context=True)
        def report(ctx):
            ran("report")
            channel = ctx.get_channel()
            return channel.get("table")["x"].tolist(), channel.get("vector").tolist()

        load >> (edit | scale | wait) >> report
    return wf


FLOWS["frames"] = frames


def cancel_while_waiting(fixed: bool = False):
    """``asker`` waits for an answer, then ``stopper`` cancels the run: the question is
    withdrawn, and a resume asks it again."""
    with workflow("cancel_waiting") as wf:
        start = leaf("start", 0)

        @task(inject_context=True)
        def asker(ctx):
            ran("asker")
            return ctx.request_text_input("why?")

        @task(inject_context=True)
        def stopper(ctx):
            ran("stopper")
            if not fixed:
                ctx.cancel_workflow("closing time")
            return "stopped"

        @task
        def end(asker, stopper):
            ran("end")
            return asker + "/" + stopper

        start >> (asker | stopper).with_execution(max_concurrency=1) >> end
    return wf


FLOWS["cancel_waiting"] = cancel_while_waiting


def interrupted(fixed: bool = False, started=None):
    """fetch >> (done | spin >> after) >> end: ``spin`` loops in pure Python until a
    Ctrl-C reaches its thread (``started`` is set once it loops); fixed, it returns."""
    with workflow("interrupted") as wf:
        fetch = leaf("fetch", 1)
        done = leaf("done")

        @task
        def spin():
            ran("spin")
            if not fixed:
                started.set()
                while True:
                    pass
            return "spun"

        @task
        def after(spin):
            ran("after")
            return spin + "!"

        @task
        def end(done, after):
            ran("end")
            return done + "+" + after

        fetch >> (done | (spin >> after)).with_execution(max_concurrency=1) >> end
    return wf


FLOWS["interrupted"] = interrupted


def group_loop(fixed: bool = False):
    """start >> (x | y) >> check, where check loops back to the group three times and y
    asks for an answer in the second round: the third fork after the resume must be
    ``#3``, never a second ``#2``."""
    with workflow("group_loop") as wf:
        start = leaf("start", 0)

        @task(inject_context=True)
        def x(ctx):
            ran(f"x@{ctx.session_id}")
            return "x"

        @task(inject_context=True)
        def y(ctx):
            ran(f"y@{ctx.session_id}")
            if ctx.session_id.endswith("#2"):
                ctx.request_approval("second round?")
            return "y"

        group = x | y

        @task(inject_context=True)
        def check(ctx):
            rounds = ctx.get_channel().atomic_add("rounds", 1)
            ran(f"check{rounds}")
            if rounds < 3:
                ctx.next_task(group, goto=True)
            return rounds

        start >> group >> check
    return wf


FLOWS["group_loop"] = group_loop


def diamond(fixed: bool = False):
    """fetch >> (left | right) >> store, result 10: ``right`` fails until fixed (members
    one at a time, so ``left`` has finished when it does).  The committed format-1
    checkpoint in fixtures/ is this run, saved by graflow_nb 0.1.0 when it failed."""
    with workflow("diamond") as wf:
        fetch = leaf("fetch", 3)

        @task
        def left(fetch):
            ran("left")
            return fetch * 2

        @task
        def right(fetch):
            ran("right")
            if not fixed:
                raise ValueError("right is broken")
            return fetch + 1

        @task
        def store(left, right):
            ran("store")
            return left + right

        fetch >> (left | right).with_execution(max_concurrency=1) >> store
    return wf


FLOWS["diamond"] = diamond
