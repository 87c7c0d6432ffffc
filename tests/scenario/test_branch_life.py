"""A branch session's life from fork to fold, on the paths a 1000-member fan-out takes.

The fork opens every member's session at once, members run in a copy of the forking
thread's context variables made as each starts, and the fold reads a branch that only
set keys without building its change list.  These tests pin what a user sees of each.
"""

from __future__ import annotations

import contextvars
import pickle

import pytest

from graflow_nb import task, workflow
from graflow_nb.core import BranchChannel, MemoryChannel
from graflow_nb.core.channel import MISSING, Change
from graflow_nb.core.events import EventKind
from graflow_nb.core.policies import TaskResult

REQUEST = contextvars.ContextVar("request")
WIDTH = 40


def build_context_fanout(seen: dict[str, object]):
    with workflow("ctxvars") as wf:

        def member(name: str):
            def body():
                seen[name] = REQUEST.get("unset")
                REQUEST.set(f"changed by {name}")  # stays in this member's own context
                return name

            return task(id=name)(body)

        @task(id="sink")
        def sink():
            seen["sink"] = REQUEST.get("unset")

        members = [member(f"m{i}") for i in range(WIDTH)]
        group = members[0]
        for other in members[1:]:
            group = group | other
        _ = task(id="source")(lambda: None) >> group >> sink
    return wf


@pytest.mark.parametrize("concurrency", [1, None], ids=["one-at-a-time", "default"])
def test_every_member_sees_the_forking_threads_context_variables_and_not_its_siblings(concurrency):
    seen: dict[str, object] = {}
    wf = build_context_fanout(seen)
    group = next(n for n in wf.graph.nodes.values() if getattr(n, "is_group", False))
    if concurrency is not None:
        group.with_execution(max_concurrency=concurrency)
    token = REQUEST.set("cell 7")
    try:
        wf.execute("source", session_id="S")
        assert REQUEST.get() == "cell 7"  # the caller's own context is untouched
    finally:
        REQUEST.reset(token)
    assert {seen[f"m{i}"] for i in range(WIDTH)} == {"cell 7"}
    assert seen["sink"] == "cell 7"
    assert wf.last_run.task_counts()["sink"] == 1


def test_a_fork_of_many_members_opens_each_session_once_in_declared_order():
    with workflow("wide") as wf:
        members = [task(id=f"t{i}")(lambda i=i: i) for i in range(300)]
        group = members[0]
        for other in members[1:]:
            group = group | other
        _ = task(id="source")(lambda: None) >> group
    wf.execute("source", session_id="S")
    run = wf.last_run
    assert list(run.sessions) == ["S", *(f"S_t{i}" for i in range(300))]
    assert [r.session_id for r in run.children("S")] == [f"S_t{i}" for i in range(300)]
    assert {r.state for r in run.children("S")} == {"merged"}
    assert all(r.enqueued == r.dequeued == 1 and r.tasks_run == [r.member_id] for r in run.children("S"))
    root = run.sessions["S"].context.channel
    assert [root.get(f"t{i}.__result__") for i in range(300)] == list(range(300))


def test_an_observer_sees_each_fork_then_its_first_task_queued_member_by_member():
    with workflow("seen") as wf:
        a, b, c = (task(id=n)(lambda: None) for n in ("a", "b", "c"))
        _ = task(id="source")(lambda: None) >> (a | b | c)
    events: list[object] = []
    wf.execute("source", session_id="S", observers=[events.append])
    kinds = [
        (e.kind, e.session_id)
        for e in events
        if e.kind in (EventKind.SESSION_FORKED, EventKind.TASK_ENQUEUED) and e.session_id != "S"
    ]
    assert kinds == [
        (EventKind.SESSION_FORKED, "S_a"), (EventKind.TASK_ENQUEUED, "S_a"),
        (EventKind.SESSION_FORKED, "S_b"), (EventKind.TASK_ENQUEUED, "S_b"),
        (EventKind.SESSION_FORKED, "S_c"), (EventKind.TASK_ENQUEUED, "S_c"),
    ]
    assert [r.session_id for r in wf.last_run.children("S")] == ["S_a", "S_b", "S_c"]


# -- the overlay: what a branch changed, whatever it did on the way --------------------
def overlay(**values):
    return BranchChannel(MemoryChannel("P", values), "P_b")


def test_a_branch_that_only_sets_reports_its_sets_in_first_touch_order():
    branch = overlay(kept=[1])
    branch.set("b", 2)
    branch.set("a", 1)
    branch.set("b", 3)
    assert list(branch.assignments()) == [("b", 3), ("a", 1)]
    assert branch.changes() == {"b": Change("set", 3), "a": Change("set", 1)}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["read"], {}),  # reading is never a write
        (["read", "edit in place"], {"xs": Change("set", [1, 2, 99])}),
        (["read", "set"], {"xs": Change("set", ["new"])}),
        (["append"], {"xs": Change("ops", [1, 2, 5], (("append", 5),))}),
        (["read", "append"], {"xs": Change("ops", [1, 2, 5], (("append", 5),))}),
        (["set", "append"], {"xs": Change("set", ["new", 5])}),
        (["append", "set"], {"xs": Change("set", ["new"])}),
        (["delete"], {"xs": Change("delete")}),
        (["set", "delete"], {"xs": Change("delete")}),
        (["delete", "append"], {"xs": Change("ops", [5], (("append", 5),))}),
        (["delete", "set"], {"xs": Change("set", ["new"])}),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) else None,
)
def test_a_branch_reports_the_change_its_steps_add_up_to(steps, expected):
    branch = overlay(xs=[1, 2])
    for step in steps:
        if step == "read":
            view = branch.get("xs")
        elif step == "edit in place":
            view.append(99)
        elif step == "set":
            branch.set("xs", ["new"])
        elif step == "append":
            branch.append("xs", 5)
        else:
            branch.delete("xs")
    assert branch.changes() == expected
    # Only a branch that did nothing but set may skip building Change objects.
    assert branch.assignments() is None or all(c.kind == "set" for c in expected.values())
    assert branch.base.get("xs") == [1, 2]  # the parent is untouched until the fold


def test_a_restored_additive_change_is_still_additive():
    branch = overlay(n=1)
    branch.load_ops("n", 4, 1, [("add", 3)])
    assert branch.changes() == {"n": Change("ops", 4, (("add", 3),))}
    branch.atomic_add("n", 1)
    assert branch.changes() == {"n": Change("ops", 5, (("add", 3), ("add", 1)))}
    assert branch.assignments() is None
    assert branch.fork_value("n") == 1 and branch.fork_value("gone") is MISSING


# -- outcomes -----------------------------------------------------------------------------
def test_a_member_outcome_pickles_and_a_checkpoint_from_before_the_slots_still_loads():
    outcome = TaskResult("t1", False, "boom", ValueError("boom"), "S_t1", "failed")
    again = pickle.loads(pickle.dumps(outcome))
    assert (again.task_id, again.success, again.error_message, again.session_id, again.status) == (
        "t1", False, "boom", "S_t1", "failed",
    )
    assert isinstance(again.error, ValueError) and str(again.error) == "boom"

    class Before:  # how a TaskResult with a __dict__ pickled: its class, then that dict
        def __reduce_ex__(self, protocol):
            state = {"task_id": "t2", "success": True, "error_message": None, "error": None,
                     "session_id": "S_t2", "status": "succeeded"}
            return (object.__new__, (TaskResult,), state)

    old = pickle.loads(pickle.dumps(Before()))
    assert old == TaskResult("t2", True, session_id="S_t2")
    with pytest.raises(AttributeError):
        old.extra = 1  # slotted: nothing else rides along in a checkpoint
