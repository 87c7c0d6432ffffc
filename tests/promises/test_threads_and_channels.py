"""The engine's rules, "Threads" and "Channels" (docs/reference/rules.md): the default worker cap, parked workers reused by
the next run, and ``prepend`` / ``append`` / ``atomic_add`` adding up across branches
that really run at the same time."""

from __future__ import annotations

import threading
import time

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.runtime.executors import pool as pool_module

pytestmark = pytest.mark.timeout(60)


def barrier_fanout(name: str, width: int, barrier: threading.Barrier, threads: list[threading.Thread]):
    """A group of ``width`` members that all wait at ``barrier``: they can only pass
    when every one of them is running, each on a thread of its own."""
    with workflow(name) as wf:
        members = []
        for i in range(width):
            @task(id=f"m{i}", inject_context=True)
            def member(ctx):
                threads.append(threading.current_thread())
                barrier.wait()
                ctx.get_channel().prepend("stack", ctx.task_id)
                ctx.get_channel().append("log", ctx.task_id)
                ctx.get_channel().atomic_add("count", 1)
                return ctx.session_id

            members.append(member)

        @task(inject_context=True)
        def seed(ctx):
            ctx.get_channel().set("stack", ["seed"])
            ctx.get_channel().set("log", ["seed"])

        @task(inject_context=True)
        def collect(ctx):
            ch = ctx.get_channel()
            return ch.get("stack"), ch.get("log"), ch.get("count")

        group = members[0]
        for member in members[1:]:
            group = group | member
        seed >> group >> collect
    return wf


def test_default_max_workers_is_256():
    with workflow("cap") as wf:
        @task
        def only():
            return 1
    wf.execute()
    assert wf.last_run.max_workers == 256
    assert wf.last_run.pool.max_workers == 256


def test_prepend_append_and_atomic_add_add_up_across_concurrent_branches():
    width = 4
    barrier = threading.Barrier(width, timeout=30)
    threads: list[threading.Thread] = []
    wf = barrier_fanout("adds_up", width, barrier, threads)
    stack, log, count = wf.execute("seed", session_id="C")
    # merged in declaration order whichever finished first: m0's prepend first, so m3 is on top
    assert stack == ["m3", "m2", "m1", "m0", "seed"]
    assert log == ["seed", "m0", "m1", "m2", "m3"]
    assert count == 4
    assert len({t.ident for t in threads}) == width  # they really ran at the same time


def test_parked_workers_are_reused_by_the_next_run(monkeypatch):
    """The threads the first run parked serve the second run (a parked thread takes the
    name of the pool it serves); the second pool starts a thread only when no parked
    one is left."""
    parked = pool_module._ParkedThreads()  # only this test's workers park here
    monkeypatch.setattr(pool_module, "_PARKED", parked)
    width = 4
    first: list[threading.Thread] = []
    alive_before = set(threading.enumerate())
    wf = barrier_fanout("reuse", width, threading.Barrier(width, timeout=30), first)
    wf.execute("seed", session_id="R1")
    members_first = {t for t in first if t is not threading.main_thread()}
    first_threads = (set(threading.enumerate()) - alive_before) | members_first
    assert members_first and {t.name for t in first_threads} == {"graflow-R1-worker"}
    deadline = time.monotonic() + 30
    while len(parked._seats) < len(first_threads):  # observable state: every one has parked
        assert time.monotonic() < deadline, "the first run's workers never parked"
        time.sleep(0.001)
    seats = len(parked._seats)

    alive_before = set(threading.enumerate())
    second: list[threading.Thread] = []
    wf2 = barrier_fanout("reuse", width, threading.Barrier(width, timeout=30), second)
    wf2.execute("seed", session_id="R2")
    pool_threads = wf2.last_run.pool.peak_threads
    adopted = {t for t in first_threads if t.name == "graflow-R2-worker"}
    started = set(threading.enumerate()) - alive_before
    assert pool_threads >= width - 1  # the barrier needs them all running at once
    assert len(adopted) == min(pool_threads, seats)
    assert len(started) == pool_threads - len(adopted)
    assert {t for t in second if t is not threading.main_thread()} <= adopted | started


def test_parked_workers_leave_after_the_keepalive(monkeypatch):
    """The engine's rules: finished workers stay parked for 5 s. The wait is shortened here so the
    test can watch a parked worker give up its seat and end."""
    assert pool_module.KEEPALIVE_SECONDS == 5.0
    parked = pool_module._ParkedThreads()
    monkeypatch.setattr(pool_module, "_PARKED", parked)
    monkeypatch.setattr(pool_module, "KEEPALIVE_SECONDS", 0.05)
    width = 3
    threads: list[threading.Thread] = []
    alive_before = set(threading.enumerate())
    wf = barrier_fanout("leave", width, threading.Barrier(width, timeout=30), threads)
    wf.execute("seed", session_id="L")
    # every worker this run started, busy or not (one that already left is not listed)
    started = set(threading.enumerate()) - alive_before
    started |= {t for t in threads if t is not threading.main_thread()}
    assert started
    for worker in started:
        worker.join(timeout=30)
    assert [w.name for w in started if w.is_alive()] == []
    assert parked._seats == []
