"""Fork, isolation and fan-in of parallel branches (BEHAVIOURS.md items 1-11).

Every test builds its own workflow, runs it with ``session_id="S"`` and checks what a
user would notice: how often each task ran, in which order and in which session.
"""

from __future__ import annotations

import pickle
import threading

import pytest
from instruments import Calls

from graflow_nb import ExecutionContext, parallel, task, workflow
from graflow_nb.core import InMemoryTaskQueue, Task


def build_diamond(calls: Calls):
    with workflow("diamond") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            calls.hit("fetch", ctx.session_id)
            return 1

        @task(inject_context=True)
        def a(ctx, fetch):
            calls.hit("a", ctx.session_id)
            return fetch + 1

        @task(inject_context=True)
        def b(ctx, fetch):
            calls.hit("b", ctx.session_id)
            return fetch + 2

        @task(inject_context=True)
        def store(ctx, a, b):
            calls.hit("store", ctx.session_id)
            return a + b

        fetch >> (a | b) >> store
    return wf


# -- item 1 ----------------------------------------------------------------------------
def test_diamond_runs_every_task_once_and_store_after_both_branches():
    calls = Calls()
    wf = build_diamond(calls)
    result = wf.execute("fetch", session_id="S")

    assert result == 5  # store saw both branch results: (1 + 1) + (1 + 2)
    for name in ("fetch", "a", "b", "store"):
        assert calls.count(name) == 1, calls.order
    assert calls.index("store") > calls.index("a")
    assert calls.index("store") > calls.index("b")
    assert calls.index("fetch") < min(calls.index("a"), calls.index("b"))
    counts = wf.last_run.task_counts()
    assert {k: counts[k] for k in ("fetch", "a", "b", "store")} == {"fetch": 1, "a": 1, "b": 1, "store": 1}


# -- item 2 ----------------------------------------------------------------------------
def test_diamond_session_ids_are_parent_underscore_member():
    calls = Calls()
    wf = build_diamond(calls)
    wf.execute("fetch", session_id="4821")

    assert calls.sessions["fetch"] == ["4821"]
    assert calls.sessions["a"] == ["4821_a"]
    assert calls.sessions["b"] == ["4821_b"]
    assert calls.sessions["store"] == ["4821"]
    sessions = wf.last_run.sessions
    assert set(sessions) == {"4821", "4821_a", "4821_b"}
    assert sessions["4821"].parent_id is None
    assert sessions["4821_a"].parent_id == "4821"
    assert sessions["4821_b"].parent_id == "4821"


def test_session_ids_are_deterministic_across_runs():
    calls = Calls()
    wf = build_diamond(calls)
    wf.execute("fetch", session_id="S")
    first = sorted(wf.last_run.sessions)
    wf.execute("fetch", session_id="S")
    assert sorted(wf.last_run.sessions) == first == ["S", "S_a", "S_b"]


# -- item 3 ----------------------------------------------------------------------------
def test_nested_groups_session_ids_and_order():
    calls = Calls()
    with workflow("nested") as wf:

        def make(name):
            @task(name, inject_context=True)
            def body(ctx):
                calls.hit(name, ctx.session_id)
                return name

            return body

        a, b, b1, b2, bm, c, d = (make(n) for n in ("a", "b", "b1", "b2", "bm", "c", "d"))
        a >> ((b >> (b1 | b2) >> bm) | c) >> d

    wf.execute("a", session_id="S")

    for name in ("a", "b", "b1", "b2", "bm", "c", "d"):
        assert calls.count(name) == 1, calls.order
    assert calls.sessions["a"] == ["S"]
    assert calls.sessions["b"] == ["S_b"]
    assert calls.sessions["c"] == ["S_c"]
    assert calls.sessions["b1"] == ["S_b_b1"]
    assert calls.sessions["b2"] == ["S_b_b2"]
    assert calls.sessions["bm"] == ["S_b"]  # chain continuation stays in b's branch
    assert calls.sessions["d"] == ["S"]

    sessions = wf.last_run.sessions
    assert {"S", "S_b", "S_c", "S_b_b1", "S_b_b2"} == set(sessions)
    assert sessions["S_b_b1"].parent_id == "S_b"
    assert sessions["S_b_b2"].parent_id == "S_b"
    assert sessions["S_b"].parent_id == "S"
    assert sessions["S_c"].parent_id == "S"

    order = calls.order
    assert order.index("b") < order.index("b1") and order.index("b") < order.index("b2")
    assert order.index("bm") > max(order.index("b1"), order.index("b2"))
    assert order.index("d") > max(order.index("bm"), order.index("c"))


# -- item 4 ----------------------------------------------------------------------------
def test_create_branch_context_isolates_queue_and_channel_but_shares_graph():
    with workflow("branchctx") as wf:
        Task("p") >> Task("q")
    ctx = ExecutionContext.create(wf.graph, session_id="S")
    branch = ctx.create_branch_context("x")

    assert branch.session_id == "S_x"
    assert branch.task_queue is not ctx.task_queue
    assert branch.graph is ctx.graph
    assert branch.channel is not ctx.channel

    branch.add_to_queue(branch.lookup("q"))
    assert branch.task_queue.snapshot() == ["q"]
    assert ctx.task_queue.snapshot() == []
    assert len(ctx.task_queue) == 0

    branch.get_channel().set("only_in_branch", 1)
    assert ctx.get_channel().get("only_in_branch") is None


# -- item 5 ----------------------------------------------------------------------------
def test_branch_reads_parent_keys_and_its_writes_stay_private_until_merge():
    seen: dict[str, object] = {}
    a_wrote = threading.Event()
    with workflow("isolation") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            ctx.get_channel().set("shared", "from-parent")

        @task(inject_context=True)
        def a(ctx):
            ch = ctx.get_channel()
            seen["a.shared"] = ch.get("shared")
            ch.set("from_a", "A")
            parent = ctx.execution_context.parent_context
            seen["parent.from_a"] = parent.get_channel().get("from_a", "absent")
            a_wrote.set()

        @task(inject_context=True)
        def b(ctx):
            ch = ctx.get_channel()
            seen["b.shared"] = ch.get("shared")
            assert a_wrote.wait(5), "branch a never ran while b was running"
            seen["b.from_a"] = ch.get("from_a", "absent")

        @task(inject_context=True)
        def store(ctx):
            seen["store.from_a"] = ctx.get_channel().get("from_a", "absent")

        fetch >> (a | b) >> store

    wf.execute("fetch", session_id="S")

    assert seen["a.shared"] == "from-parent"
    assert seen["b.shared"] == "from-parent"
    assert seen["parent.from_a"] == "absent"
    assert seen["b.from_a"] == "absent"
    assert seen["store.from_a"] == "A"


# -- items 6 and 9 ---------------------------------------------------------------------
def test_member_seeded_once_and_per_session_queue_counters():
    calls = Calls()
    wf = build_diamond(calls)
    wf.execute("fetch", session_id="S")

    assert calls.count("a") == 1
    assert calls.count("b") == 1
    sessions = wf.last_run.sessions
    assert (sessions["S"].enqueued, sessions["S"].dequeued) == (2, 2)
    assert (sessions["S_a"].enqueued, sessions["S_a"].dequeued) == (1, 1)
    assert (sessions["S_b"].enqueued, sessions["S_b"].dequeued) == (1, 1)
    assert sessions["S_a"].tasks_run == ["a"]
    assert sessions["S_b"].tasks_run == ["b"]
    assert "a" not in sessions["S"].tasks_run and "b" not in sessions["S"].tasks_run


# -- item 7 ----------------------------------------------------------------------------
def test_next_task_inside_branch_runs_in_that_branch_before_the_barrier():
    calls = Calls()
    with workflow("dyn") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        @task(inject_context=True)
        def a(ctx):
            calls.hit("a", ctx.session_id)

            @task(inject_context=True)
            def sub(sub_ctx):
                calls.hit("sub", sub_ctx.session_id)
                return "sub-done"

            ctx.next_task(sub)

        @task
        def b():
            calls.hit("b")

        @task
        def store(sub):
            calls.hit("store")
            return sub

        fetch >> (a | b) >> store

    result = wf.execute("fetch", session_id="S")

    assert calls.count("sub") == 1
    assert calls.sessions["sub"] == ["S_a"]
    assert calls.index("sub") < calls.index("store")
    assert calls.count("store") == 1
    assert result == "sub-done"  # sub's result reached the parent at the merge
    sessions = wf.last_run.sessions
    assert sessions["S_a"].tasks_run == ["a", "sub"]
    assert (sessions["S_a"].enqueued, sessions["S_a"].dequeued) == (2, 2)
    assert "sub" not in sessions["S"].tasks_run
    assert (sessions["S"].enqueued, sessions["S"].dequeued) == (2, 2)
    assert (sessions["S_b"].enqueued, sessions["S_b"].dequeued) == (1, 1)


# -- item 8 ----------------------------------------------------------------------------
def test_group_without_successors_ends_cleanly():
    calls = Calls()
    with workflow("tail") as wf:

        @task
        def A():
            calls.hit("A")

        @task
        def B():
            calls.hit("B")

        @task
        def C():
            calls.hit("C")

        A >> (B | C)

    wf.execute("A", session_id="S")

    assert sorted(calls.order) == ["A", "B", "C"]
    run = wf.last_run
    assert run.status == "succeeded"
    assert run.sessions["S"].state == "closed"
    assert all(rec.queued == [] for rec in run.sessions.values())
    assert (run.sessions["S"].enqueued, run.sessions["S"].dequeued) == (1, 1)
    assert set(run.sessions) == {"S", "S_B", "S_C"}


def test_plain_edge_fan_in_runs_sink_once_after_both():
    calls = Calls()
    with workflow("plain-fanin") as wf:

        @task
        def f():
            calls.hit("f")

        @task
        def a():
            calls.hit("a")

        @task
        def b():
            calls.hit("b")

        @task
        def s():
            calls.hit("s")

        f >> a >> s
        f >> b >> s

    wf.execute("f", session_id="S")

    assert calls.count("s") == 1, calls.order
    assert calls.count("a") == 1 and calls.count("b") == 1
    assert calls.index("s") > max(calls.index("a"), calls.index("b"))


def test_task_left_of_existing_group_runs_once():
    calls = Calls()
    with workflow("x-or-group") as wf:

        def make(name):
            @task(name)
            def body():
                calls.hit(name)

            return body

        f, x, a, b, s = (make(n) for n in ("f", "x", "a", "b", "s"))
        f >> (x | (a | b)) >> s

    wf.execute("f", session_id="S")

    assert sorted(calls.order) == ["a", "b", "f", "s", "x"]
    assert calls.index("s") > max(calls.index(n) for n in ("x", "a", "b"))
    assert {"S", "S_x", "S_a", "S_b"} == set(wf.last_run.sessions)


@pytest.mark.timeout(30)
def test_group_built_inside_branch_runs_once_and_does_not_recurse():
    calls = Calls()

    @task(inject_context=True)
    def leaf1(ctx):
        calls.hit("leaf1", ctx.session_id)

    @task(inject_context=True)
    def leaf2(ctx):
        calls.hit("leaf2", ctx.session_id)

    with workflow("dyn-group") as wf:

        @task
        def src():
            calls.hit("src")

        @task(inject_context=True)
        def spawner(ctx):
            calls.hit("spawner", ctx.session_id)
            ctx.next_task(parallel(leaf1, leaf2))

        @task
        def other():
            calls.hit("other")

        @task
        def sink():
            calls.hit("sink")

        src >> (spawner | other) >> sink

    wf.execute("src", session_id="S", max_steps=200)

    for name in ("src", "spawner", "other", "leaf1", "leaf2", "sink"):
        assert calls.count(name) == 1, calls.order
    assert calls.sessions["leaf1"] == ["S_spawner_leaf1"]
    assert calls.sessions["leaf2"] == ["S_spawner_leaf2"]
    assert calls.index("sink") > max(calls.index("leaf1"), calls.index("leaf2"))
    assert wf.last_run.steps < 20


def test_group_in_a_loop_gets_distinct_session_ids():
    calls = Calls()
    with workflow("loop") as wf:

        @task
        def start():
            calls.hit("start")

        @task(inject_context=True)
        def x(ctx):
            calls.hit("x", ctx.session_id)

        @task(inject_context=True)
        def y(ctx):
            calls.hit("y", ctx.session_id)

        group = x | y

        @task(inject_context=True)
        def check(ctx):
            calls.hit("check")
            if calls.count("check") < 2:
                ctx.next_task(group, goto=True)

        start >> group >> check

    wf.execute("start", session_id="S")

    assert calls.count("x") == 2 and calls.count("y") == 2
    assert calls.sessions["x"] == ["S_x", "S_x#2"]
    assert calls.sessions["y"] == ["S_y", "S_y#2"]
    assert {"S", "S_x", "S_x#2", "S_y", "S_y#2"} == set(wf.last_run.sessions)
    assert calls.count("check") == 2


# -- item 10 ---------------------------------------------------------------------------
def test_context_is_in_memory_and_pickles_without_redis():
    with workflow("pickle") as wf:
        Task("p") >> Task("q")
    ctx = ExecutionContext.create(wf.graph, "p", session_id="S")
    assert isinstance(ctx.task_queue, InMemoryTaskQueue)

    restored = pickle.loads(pickle.dumps(ctx))

    assert isinstance(restored.task_queue, InMemoryTaskQueue)
    assert restored.session_id == "S"
    assert restored.task_queue.snapshot() == ["p"]
    restored.execute()
    assert restored.run.status == "succeeded"
    assert restored.run.sessions["S"].tasks_run == ["p", "q"]


def test_group_without_backend_runs_members_concurrently_on_threads():
    both_in = threading.Barrier(2, timeout=5)
    with workflow("default-backend") as wf:

        @task
        def a():
            both_in.wait()  # only passes if b is running at the same time
            return threading.current_thread().name

        @task
        def b():
            both_in.wait()
            return threading.current_thread().name

        group = a | b

    assert group.backend == "threading"
    wf.execute(group.task_id, session_id="S")
    results = wf.last_run.results()
    assert results["a"] != results["b"]


# -- item 11 ---------------------------------------------------------------------------
def test_unknown_backend_is_rejected_before_anything_runs():
    calls = Calls()
    with workflow("bad-backend") as wf:

        @task
        def a():
            calls.hit("a")

        @task
        def b():
            calls.hit("b")

        group = a | b
        with pytest.raises(ValueError, match="nope"):
            group.with_execution(backend="nope")

    assert calls.order == []
    assert wf.last_run is None
