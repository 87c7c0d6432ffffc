"""Fan-in: how branch channel writes reach the parent (BEHAVIOURS.md items 12-18, 21).

Merges follow declaration order, never completion order; only a branch's own changes
since the fork take part.  Tests randomise branch sleeps so completion order varies.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from instruments import WAIT, EventWaiter

from graflow_nb import MergeConflictError, task, workflow
from graflow_nb.core.events import EventKind


def jitter(limit: float = 0.02) -> None:
    time.sleep(random.uniform(0, limit))


def writer_group(writes: dict[str, dict[str, object]], order: tuple[str, ...], merge=None, finishes_first=None):
    """``fork >> (members in order) >> sink``; member ``m`` sets ``writes[m]`` on the channel.

    With ``finishes_first`` the other members start writing only once the engine has
    announced that member finished, so the completion order is known; without it,
    random jitter varies it.  Returns ``(wf, group, seen)`` where ``seen`` is the
    channel as the sink saw it.
    """
    seen: dict[str, object] = {}
    finished = EventWaiter()
    with workflow("merge") as wf:

        @task
        def fork():
            finished.clear()  # each run waits for its own first member
            return None

        def make(name):
            @task(name, inject_context=True)
            def body(ctx):
                if finishes_first is None:
                    jitter()
                elif name != finishes_first:
                    finished.wait_for(EventKind.TASK_FINISHED, task_id=finishes_first)
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
    if finishes_first is not None:
        wf.observers.append(finished)
    return wf, group, seen


def finish_order(wf) -> list[str]:
    """The members of the last run in the order their records say they finished."""
    ends = {tr.task_id: tr.end for tr in wf.last_run.finished_runs() if tr.task_id not in ("fork", "sink")}
    return sorted((t for t in ends if not t.startswith("ParallelGroup_")), key=ends.__getitem__)


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


def test_declared_order_wins_whichever_member_finishes_first():
    writes = {"a": {"v": "a"}, "b": {"v": "b"}}
    for first, order in (("b", ["b", "a"]), ("a", ["a", "b"])):
        wf, _group, seen = writer_group(writes, ("a", "b"), merge="overwrite", finishes_first=first)
        for _ in range(5):
            seen.clear()
            wf.execute("fork", session_id="S")
            assert finish_order(wf) == order
            assert seen == {"v": "b"}, first


# -- item 13 ---------------------------------------------------------------------------
def test_only_changed_keys_are_merged():
    writes = {"a": {"x": 2}, "b": {"y": 3}}
    wf, _group, seen = writer_group(writes, ("a", "b"), finishes_first="a")
    wf.execute("fork", session_id="S", initial_channel={"x": 1, "y": 1})
    assert finish_order(wf) == ["a", "b"]
    assert seen == {"x": 2, "y": 3}
    # and the other way round: the branch that finishes last never touched y
    wf, _group, seen = writer_group(writes, ("a", "b"), finishes_first="b")
    wf.execute("fork", session_id="S", initial_channel={"x": 1, "y": 1})
    assert finish_order(wf) == ["b", "a"]
    assert seen == {"x": 2, "y": 3}


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
    wf, _group, seen = writer_group(writes, ("a", "b"), merge="keep_first", finishes_first="b")
    wf.execute("fork", session_id="S")
    assert finish_order(wf) == ["b", "a"]
    assert seen == {"k": 1}


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
    assert seen == {"cfg": {"a": {"b": 3, "c": 2, "d": 4}}}


@pytest.mark.parametrize("first", ["a", "b"])
def test_deep_merge_of_two_writing_branches_folds_both_in_declared_order(first):
    """Both branches write nested keys; where they write the same leaf the later-declared
    one wins, whichever finished first; everything else of both, and of the parent, stays."""
    parent = {"cfg": {"db": {"host": "h0", "port": 1}, "keep": True}}
    writes = {
        "a": {"cfg": {"db": {"host": "ha", "user": "ua"}, "a_only": 1, "keep": True}},
        "b": {"cfg": {"db": {"host": "hb", "pool": 5}, "b_only": [2], "keep": True}},
    }
    wf, _group, seen = writer_group(writes, ("a", "b"), merge="deep_merge", finishes_first=first)
    wf.execute("fork", session_id="S", initial_channel=parent)
    assert finish_order(wf) == [first, "b" if first == "a" else "a"]
    assert seen == {
        "cfg": {"db": {"host": "hb", "port": 1, "user": "ua", "pool": 5}, "keep": True, "a_only": 1, "b_only": [2]}
    }
    assert parent == {"cfg": {"db": {"host": "h0", "port": 1}, "keep": True}}  # the caller's dict is untouched


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
            assert a_done.wait(WAIT)
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
    assert original == [1]  # the parent's own list was never edited in place
    merged = wf.last_run.sessions["S"].context.channel.get("items")
    assert merged is not original


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
