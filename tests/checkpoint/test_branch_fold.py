"""``snapshot.apply_outcome`` is the one fold of a branch's outcome, for every caller:
a branch run start to end elsewhere, a branch whose events reached the run live while
it ran (the Dask executor), and a branch that paused there and went on later, whose
second outcome holds everything since the fork and sessions the run has already.
Also: a shipped branch's stand-in parent is the session it forked from, whatever its
id or its member's id holds."""

from __future__ import annotations

from typing import Any

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.engine import WorkflowEngine
from graflow_nb.core.errors import SessionPaused
from graflow_nb.core.events import EventKind, EventLog
from graflow_nb.core.snapshot import BranchOutcome, apply_outcome, branch_outcome, branch_spec, open_branch, run_branch


def pausing():
    """a: add 5, fork (a1 | a2), then ask; after the answer, add 1 more and append."""
    with workflow("fold_pausing") as wf:
        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().atomic_add("total", 5)
            return "a"

        @task
        def a1(a):
            return a + "1"

        @task
        def a2(a):
            return a + "2"

        @task(inject_context=True)
        def ask(ctx):
            ok = ctx.request_approval("go on?")
            ctx.get_channel().atomic_add("total", 1)
            ctx.get_channel().append("log", "asked")
            return ok

        @task
        def b():
            return "b"

        _ = a >> (a1 | a2) >> ask
        _ = a | b
    return wf


def live_branch(wf: Any, log: EventLog) -> ExecutionContext:
    root = ExecutionContext.create(
        wf.graph, session_id="R", workflow=wf, observers=[log], initial_channel={"total": 100, "log": ["root"]}
    )
    return root.create_branch_context("a", group_id="ParallelGroup_2", order_key=(1, 0))


def since(outcome: BranchOutcome, earlier: BranchOutcome) -> BranchOutcome:
    """The second part's outcome as a worker reports it: records and changes whole,
    lists and steps less what the first part reported (what distributed.worker does)."""
    outcome.task_runs = outcome.task_runs[len(earlier.task_runs):]
    outcome.skipped = outcome.skipped[len(earlier.skipped):]
    outcome.dynamic_tasks = outcome.dynamic_tasks[len(earlier.dynamic_tasks):]
    outcome.events = outcome.events[len(earlier.events):]
    outcome.steps -= earlier.steps
    return outcome


def run_in_two_parts(wf: Any, branch: ExecutionContext) -> tuple[BranchOutcome, BranchOutcome]:
    """Run ``branch``'s spec detached until it pauses, then answer and go on."""
    detached = open_branch(branch_spec(branch), wf)
    with pytest.raises(SessionPaused):
        WorkflowEngine().execute(detached)
    first = branch_outcome(detached, SessionPaused("R_a", ["R_a"]))
    first = BranchOutcome(**{**first.__dict__, "events": list(first.events)})
    (key,) = detached.run.pending
    detached.run.answers[key] = True
    WorkflowEngine().execute(detached)
    return first, since(branch_outcome(detached), first)


def test_events_that_arrived_live_are_not_delivered_again():
    wf = pausing()
    log = EventLog()
    branch = live_branch(wf, log)
    outcome = run_branch(branch_spec(branch), wf)
    assert isinstance(outcome.error, SessionPaused)
    events = [e for e in outcome.events if e.kind not in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED)]
    assert len(events) > 6
    log.events.clear()
    for event in events[:4]:  # these reached the run live, while the branch ran
        branch.run.bus.deliver(event)

    apply_outcome(outcome, branch, delivered=4 + outcome.events.index(events[0]))

    assert log.events == events  # each once, in order, the very objects (own time and thread)
    assert all(a is b for a, b in zip(log.events, events, strict=True))


def test_a_branch_that_paused_and_went_on_adds_its_ops_once():
    wf = pausing()
    branch = live_branch(wf, EventLog())
    first, second = run_in_two_parts(wf, branch)
    apply_outcome(first, branch)
    assert branch.channel.get("total") == 105 and branch.channel.get("log") == ["root"]

    apply_outcome(second, branch)  # all changes since the fork: the first part's add 5 again

    assert branch.channel.get("total") == 106 and branch.channel.get("log") == ["root", "asked"]
    changes = branch.channel.changes()
    assert changes["total"].ops == (("add", 5), ("add", 1)) and changes["log"].ops == (("append", "asked"),)
    assert branch.run.root_context.channel.get("total") == 100  # nothing reaches the parent before its group merges
    run = branch.run
    assert [tr.task_id for tr in run.task_runs if not tr.task_id.startswith("Parallel")].count("a") == 1
    assert [(tr.task_id, tr.status) for tr in run.task_runs if tr.task_id == "ask"] == [("ask", "paused"), ("ask", "succeeded")]
    assert run.steps == 6  # a, the group node, a1, a2, ask asking, ask answered: each counted once


def test_a_branch_that_paused_and_went_on_keeps_the_sessions_it_opened_before():
    wf = pausing()
    branch = live_branch(wf, EventLog())
    first, second = run_in_two_parts(wf, branch)
    apply_outcome(first, branch)
    run = branch.run
    nested = {sid: run.sessions[sid] for sid in ("R_a_a1", "R_a_a2")}
    contexts = {sid: rec.context for sid, rec in nested.items()}
    at_pause = (branch.record.state, branch.task_queue.snapshot())

    apply_outcome(second, branch)

    assert [rec.session_id for rec in run.children("R_a")] == ["R_a_a1", "R_a_a2"]  # not opened twice
    assert at_pause == ("paused", ["ask"])  # the queue it paused with, as a checkpoint would save it
    assert all(run.sessions[sid] is rec and rec.context is contexts[sid] for sid, rec in nested.items())
    assert list(run.sessions) == ["R", "R_a", "R_a_a1", "R_a_a2"]
    assert branch.record.tasks_run == ["a", "ParallelGroup_1", "ask"] and branch.task_queue.snapshot() == []
    assert run.sessions["R_a_a2"].state == "merged" and branch.channel.get("a2.__result__") == "a2"


@pytest.mark.parametrize(
    ("root_id", "member_id"),
    [("S", "a_b"), ("S", "S_x_y"), ("run_1", "a_b"), ("S", "it's \"quoted\" x"), ("with space_", "_"), ("S", "")],
)
def test_a_shipped_branch_hangs_under_the_session_it_forked_from(root_id, member_id):
    with workflow("fold_ids") as wf:
        @task(member_id or "bare")
        def member():
            return "ran"

        @task("x")
        def other():
            return "x"

        _ = member | other
    member_id = member_id or "bare"
    root = ExecutionContext.create(wf.graph, session_id=root_id, workflow=wf)
    branch = root.create_branch_context(member_id, group_id="ParallelGroup_1", order_key=(0,))
    spec = branch_spec(branch)
    assert spec.parent_id == root_id and spec.session_id == f"{root_id}_{member_id}"

    detached = open_branch(spec, wf)
    assert detached.parent_context is not None and detached.parent_context.session_id == root_id
    outcome = run_branch(spec, wf)

    assert outcome.error is None and outcome.results == {member_id: "ran"}
    assert [(s.session_id, s.parent_id) for s in outcome.sessions] == [(spec.session_id, root_id)]
    apply_outcome(outcome, branch)
    assert root.run.sessions[spec.session_id].parent_id == root_id
    assert root.run.children(root_id)[0].tasks_run == [member_id]


def test_a_branch_that_ran_part_of_the_way_ships_its_state_and_goes_on_from_there():
    wf = pausing()
    branch = live_branch(wf, EventLog())
    assert branch_spec(branch).state is None  # not run yet: its member starts it
    first, _ = run_in_two_parts(wf, branch)
    apply_outcome(first, branch)  # paused at ask, as a checkpoint saves it

    spec = branch_spec(branch)
    assert spec.state is not None and spec.state.queue == ["ask"] and spec.state.tasks_run == ["a", "ParallelGroup_1"]
    detached = open_branch(spec, wf)
    (key,) = [e.data["key"] for e in first.events if e.kind == EventKind.INPUT_REQUESTED]
    detached.run.answers[key] = True
    WorkflowEngine().execute(detached)
    outcome = branch_outcome(detached)

    assert [tr.task_id for tr in outcome.task_runs] == ["ask"]  # a, a1, a2 finished before: not run again
    assert outcome.results["ask"] is True and outcome.changes["total"].ops == (("add", 5), ("add", 1))
    apply_outcome(outcome, branch)
    assert branch.channel.get("total") == 106 and branch.record.tasks_run == ["a", "ParallelGroup_1", "ask"]
