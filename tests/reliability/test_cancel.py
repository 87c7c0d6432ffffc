"""``ctx.cancel_workflow()`` called in a branch ends the whole run *cancelled*: status
``cancelled``, ``GraflowWorkflowCanceledError`` raised (as graflow does), every
session closed, siblings stopped at their next task boundary -- under every policy.
"""

from __future__ import annotations

import threading
import time

import pytest
from reliability_kit import POLICIES, Calls, must_wait, states

from graflow_nb import GraflowWorkflowCanceledError, ParallelGroupError, task, workflow


def wait_for_stop(ctx) -> None:
    while not ctx.cancelled:  # what a long task does: poll for the stop
        time.sleep(0.001)


def stopping_chain(calls: Calls, name: str):
    """``name >> name_next``: ``name`` waits for the stop if it starts at all, so its
    session ends ``cancelled`` whether or not it started, and ``name_next`` never runs."""

    @task(name, inject_context=True)
    def first(ctx):
        calls.hit(name)
        wait_for_stop(ctx)

    return first >> calls.task(f"{name}_next")


def cancelling_group(policy, calls: Calls):
    """``src >> (hold >> hold_next | done | canceller) >> sink``: ``hold`` (run by the
    forking thread) waits for the stop, so ``canceller`` runs on a worker, after ``done``."""
    done_ran = threading.Event()
    with workflow("cancelling") as wf:

        @task(inject_context=True)
        def canceller(ctx):
            calls.hit("canceller")
            must_wait(done_ran, "done to finish")
            ctx.cancel_workflow("stop here")
            return "not used"

        done = calls.task("done", done_ran.set)
        done.compensate(lambda: calls.hit("undo_done"))
        group = (stopping_chain(calls, "hold") | done | canceller).with_execution(policy=policy)
        _ = calls.task("src") >> group >> calls.task("sink")
    return wf


@pytest.mark.parametrize("policy", POLICIES)
def test_cancel_workflow_in_a_branch_cancels_the_run_under_every_policy(policy):
    calls = Calls()
    wf = cancelling_group(POLICIES[policy](), calls)
    with pytest.raises(GraflowWorkflowCanceledError) as raised:
        wf.execute("src", session_id="S", max_workers=2)
    error = raised.value
    assert not isinstance(error, ParallelGroupError)
    assert (str(error), error.task_id) == ("stop here", "canceller")
    run = wf.last_run
    assert (run.status, run.error) == ("cancelled", error)
    assert states(run) == {"S": "cancelled", "S_hold": "cancelled", "S_done": "discarded", "S_canceller": "cancelled"}
    assert dict(calls.counts) == {"src": 1, "hold": 1, "done": 1, "canceller": 1}  # no compensation, no sink
    assert calls.threads["canceller"] == "graflow-S-worker"
    assert run.skipped == [("hold_next", "S_hold", "cancelled")]
    [record] = [t for t in run.task_runs if t.task_id == "canceller"]
    assert record.status == "cancelled"
    assert [(g.group_id, g.state) for g in run.groups] == [("ParallelGroup_1", "cancelled")]


def test_cancel_in_a_nested_branch_cancels_every_level():
    calls = Calls()
    with workflow("nested_cancel") as wf:

        @task(inject_context=True)
        def deep(ctx):
            calls.hit("deep")
            ctx.cancel_workflow("deep down")

        inner = (deep | stopping_chain(calls, "inner")).with_execution(policy="best_effort")
        outer = ((calls.task("b") >> inner >> calls.task("after_inner")) | stopping_chain(calls, "c"))
        _ = calls.task("a") >> outer.with_execution(policy="continue") >> calls.task("d")
    with pytest.raises(GraflowWorkflowCanceledError, match="deep down") as raised:
        wf.execute("a", session_id="S")
    assert raised.value.__notes__ == ["[graflow_nb] raised by task 'deep' in session 'S_b_deep'"]
    run = wf.last_run
    assert (run.status, run.error) == ("cancelled", raised.value)
    assert states(run) == {
        "S": "cancelled",
        "S_b": "cancelled",
        "S_c": "cancelled",
        "S_b_deep": "cancelled",
        "S_b_inner": "cancelled",
    }
    assert calls["deep"] == 1
    assert calls["after_inner"] == calls["d"] == calls["inner_next"] == calls["c_next"] == 0


def test_cancel_under_ready_parallel_and_with_retries_left():
    calls = Calls()
    with workflow("ready_cancel") as wf:

        @task(inject_context=True, max_retries=3)
        def a(ctx):
            calls.hit("a")
            ctx.cancel_workflow("ready stop")

        f, s = calls.task("f"), calls.task("s")
        for edge in ((f, a), (f, calls.task("b")), (a, s)):
            _ = edge[0] >> edge[1]
    with pytest.raises(GraflowWorkflowCanceledError, match="ready stop"):
        wf.execute("f", session_id="S", ready_parallel=True)
    assert (wf.last_run.status, states(wf.last_run)) == ("cancelled", {"S": "cancelled"})
    assert calls["a"] == 1 and calls["s"] == 0
