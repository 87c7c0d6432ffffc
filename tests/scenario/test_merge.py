"""Fan-in: how branch channel writes reach the parent (BEHAVIOURS.md items 12-18, 21).

Merges follow declaration order, never completion order; only a branch's own changes
since the fork take part.  Tests randomise branch sleeps so completion order varies.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from graflow_nb import MergeConflictError, task, workflow


def jitter(limit: float = 0.02) -> None:
    time.sleep(random.uniform(0, limit))


def writer_group(writes: dict[str, dict[str, object]], order: tuple[str, ...], merge=None, sleeps=None):
    """``fork >> (members in order) >> sink``; member ``m`` sets ``writes[m]`` on the channel.

    Returns ``(wf, group, seen)`` where ``seen`` is the channel as the sink saw it.
    """
    seen: dict[str, object] = {}
    sleeps = sleeps or {}
    with workflow("merge") as wf:

        @task
        def fork():
            return None

        def make(name):
            @task(name, inject_context=True)
            def body(ctx):
                delay = sleeps.get(name)
                if delay is None:
                    jitter()
                else:
                    time.sleep(delay)
                ch = ctx.get_channel()
                for key, value in writes.get(name, {}).items():
                    ch.set(key, value)

            return body

        @task(inject_context=True)
        def sink(ctx):
            ch = ctx.get_channel()
            seen.update({k: ch.get(k) for k in ch.keys() if not k.endswith(".__result__")})

        members = [make(n) for n in order]
        group = members[0] | members[1]
        for extra in members[2:]:
            group = group | extra
        if merge is not None:
            group.with_execution(merge=merge)
        fork >> group >> sink
    return wf, group, seen


def final_channel(wf, session_id: str = "S") -> dict[str, object]:
    ch = wf.last_run.sessions[session_id].context.channel
    return {k: ch.get(k) for k in ch.keys() if not k.endswith(".__result__")}


# -- item 12 / 15 ----------------------------------------------------------------------
@pytest.mark.parametrize(("order", "expected"), [(("a", "b"), "b"), (("b", "a"), "a")])
def test_overwrite_last_declared_wins_whatever_finishes_first(order, expected):
    writes = {"a": {"v": "a"}, "b": {"v": "b"}}
    wf, _group, seen = writer_group(writes, order, merge="overwrite")
    outcomes = []
    for _ in range(20):
        seen.clear()
        wf.execute("fork", session_id="S")
        outcomes.append(seen["v"])
    assert outcomes == [expected] * 20


def test_declared_order_wins_with_fixed_sleeps_swapped():
    writes = {"a": {"v": "a"}, "b": {"v": "b"}}
    for sleeps in ({"a": 0.05, "b": 0.0}, {"a": 0.0, "b": 0.05}):
        wf, _group, seen = writer_group(writes, ("a", "b"), merge="overwrite", sleeps=sleeps)
        for _ in range(5):
            seen.clear()
            wf.execute("fork", session_id="S")
            assert seen["v"] == "b", sleeps


# -- item 13 ---------------------------------------------------------------------------
def test_only_changed_keys_are_merged():
    writes = {"a": {"x": 2}, "b": {"y": 3}}
    wf, _group, seen = writer_group(writes, ("a", "b"), sleeps={"a": 0.0, "b": 0.03})
    wf.execute("fork", session_id="S", initial_channel={"x": 1, "y": 1})
    assert (seen["x"], seen["y"]) == (2, 3)
    # and the other way round: the branch that finishes last never touched x
    wf, _group, seen = writer_group(writes, ("a", "b"), sleeps={"a": 0.03, "b": 0.0})
    wf.execute("fork", session_id="S", initial_channel={"x": 1, "y": 1})
    assert (seen["x"], seen["y"]) == (2, 3)


# -- item 14 ---------------------------------------------------------------------------
def test_default_merge_raises_conflict_naming_key_and_members():
    writes = {"a": {"k": 1}, "b": {"k": 2}}
    wf, _group, seen = writer_group(writes, ("a", "b"))
    with pytest.raises(MergeConflictError) as info:
        wf.execute("fork", session_id="S", initial_channel={"k": 0})

    message = str(info.value)
    assert "'k'" in message
    assert "'a'" in message and "'b'" in message
    assert info.value.key == "k"
    assert seen == {}  # the sink never ran
    assert final_channel(wf) == {"k": 0}  # parent unchanged
    assert "sink" not in wf.last_run.task_counts()
    assert wf.last_run.status == "failed"


def test_equal_values_are_not_a_conflict():
    writes = {"a": {"k": 1}, "b": {"k": 1}}
    wf, _group, seen = writer_group(writes, ("a", "b"))
    wf.execute("fork", session_id="S")
    assert seen["k"] == 1


# -- item 16 ---------------------------------------------------------------------------
def test_keep_first_declared_wins():
    writes = {"a": {"k": 1}, "b": {"k": 2}}
    wf, _group, seen = writer_group(writes, ("a", "b"), merge="keep_first", sleeps={"a": 0.03, "b": 0.0})
    wf.execute("fork", session_id="S")
    assert seen["k"] == 1


def test_no_merge_keeps_parent_clean_but_results_readable():
    with workflow("no-merge") as wf:

        @task
        def fork():
            return None

        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().set("k", 1)
            return "ra"

        @task(inject_context=True)
        def b(ctx):
            ctx.get_channel().set("k", 2)
            return "rb"

        @task(inject_context=True)
        def sink(ctx, a, b):
            return (ctx.get_channel().get("k", "absent"), a, b)

        fork >> (a | b).with_execution(merge="no_merge") >> sink

    assert wf.execute("fork", session_id="S") == ("absent", "ra", "rb")


# -- item 17 ---------------------------------------------------------------------------
def test_deep_merge():
    writes = {"a": {"cfg": {"a": {"b": 3, "d": 4}}}}
    wf, _group, seen = writer_group(writes, ("a", "b"), merge="deep_merge")
    wf.execute("fork", session_id="S", initial_channel={"cfg": {"a": {"b": 1, "c": 2}}})
    assert seen["cfg"] == {"a": {"b": 3, "c": 2, "d": 4}}


# -- item 18 ---------------------------------------------------------------------------
def test_sum_adds_each_branch_delta():
    writes = {"a": {"processed": 15}, "b": {"processed": 13}}
    wf, _group, seen = writer_group(writes, ("a", "b"), merge={"processed": "sum"})
    wf.execute("fork", session_id="S", initial_channel={"processed": 10})
    assert seen["processed"] == 18


def test_union_of_lists():
    writes = {"a": {"items": [3, 4, 5]}, "b": {"items": [5, 6, 7]}}
    wf, _group, seen = writer_group(writes, ("a", "b"), merge={"items": "union"})
    wf.execute("fork", session_id="S", initial_channel={"items": [1, 2, 3]})
    assert seen["items"] == [1, 2, 3, 4, 5, 6, 7]


# -- channel.append / atomic_add across branches ----------------------------------------
def test_atomic_add_in_branches_adds_up():
    with workflow("atomic") as wf:

        @task
        def fork():
            return None

        def make(name):
            @task(name, inject_context=True)
            def body(ctx):
                jitter()
                ctx.get_channel().atomic_add("counter", 10)

            return body

        @task(inject_context=True)
        def sink(ctx):
            return ctx.get_channel().get("counter")

        fork >> (make("p") | make("q") | make("r")) >> sink

    for _ in range(5):
        assert wf.execute("fork", session_id="S") == 30
    assert wf.execute("fork", session_id="S", initial_channel={"counter": 5}) == 35


def test_append_to_absent_key_keeps_every_item_in_declared_order():
    with workflow("append") as wf:

        @task
        def fork():
            return None

        def make(name):
            @task(name, inject_context=True)
            def body(ctx):
                jitter()
                ctx.get_channel().append("log", name)

            return body

        @task(inject_context=True)
        def sink(ctx):
            return ctx.get_channel().get("log")

        fork >> (make("p") | make("q") | make("r")) >> sink

    for _ in range(10):
        assert wf.execute("fork", session_id="S") == ["p", "q", "r"]


def test_in_place_mutation_of_a_read_list_does_not_leak_to_siblings():
    seen: dict[str, object] = {}
    a_done = threading.Event()
    with workflow("aliasing") as wf:

        @task
        def fork():
            return None

        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().get("items").append("from-a")
            seen["a"] = list(ctx.get_channel().get("items"))
            a_done.set()

        @task(inject_context=True)
        def b(ctx):
            assert a_done.wait(5)
            seen["b"] = list(ctx.get_channel().get("items"))

        @task(inject_context=True)
        def sink(ctx):
            seen["sink"] = list(ctx.get_channel().get("items"))

        fork >> (a | b) >> sink

    original = [1]
    wf.execute("fork", session_id="S", initial_channel={"items": original})

    assert seen["a"] == [1, "from-a"]
    assert seen["b"] == [1]
    assert seen["sink"] == [1, "from-a"]  # the in-place change is a's write, not lost


# -- item 21 ---------------------------------------------------------------------------
def test_parallel_results_are_stored_under_their_own_task_ids():
    with workflow("results") as wf:

        @task
        def fork():
            return None

        @task
        def a():
            jitter()
            return {"result": "from-a"}

        @task
        def b():
            jitter()
            return {"result": "from-b"}

        @task(inject_context=True)
        def sink(ctx, a, b):
            return a, b, ctx.get_result("a"), ctx.get_result("b")

        fork >> (a | b) >> sink

    got = wf.execute("fork", session_id="S")
    assert got == ({"result": "from-a"}, {"result": "from-b"}, {"result": "from-a"}, {"result": "from-b"})
    assert wf.last_run.status == "succeeded"
