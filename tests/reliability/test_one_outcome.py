"""Stops that used to end in a wrong or mixed outcome, each now one true outcome.

- A run cancelled from outside while branches are held (the debugger's close or
  restart) ends ``cancelled`` with a ``GraflowWorkflowCanceledError`` naming the group
  and what did not run, under every policy; not ``ParallelGroupError("0 task(s) failed")``.
- A group stopped by a cancel is recorded ``cancelled`` (its task record and
  ``run.groups``), not ``failed``.
- A task that stops part-way because its session was cancelled says so with
  ``TaskStoppedError`` (a shell step's killed command does): it is recorded
  ``cancelled``, its session ends ``cancelled``, and the run ends with what stopped it.
  Raised when nothing was cancelled, it is an ordinary failure.
"""

from __future__ import annotations

import threading

import pytest
from reliability_kit import POLICIES, Calls, must_wait, states

from graflow_nb import GraflowWorkflowCanceledError, ParallelGroupError, task, workflow
from graflow_nb.core import TaskStoppedError
from graflow_nb.core.events import EventKind, EventLog


def held_diamond(policy, calls: Calls):
    with workflow("held") as wf:
        _ = calls.task("fetch") >> (calls.task("a") | calls.task("b")).with_execution(policy=policy) >> calls.task("sink")
    return wf


@pytest.mark.parametrize("policy", POLICIES)
def test_closing_the_debugger_while_branches_are_held_cancels_the_run_under_every_policy(policy):
    calls = Calls()
    dbg = held_diamond(POLICIES[policy](), calls).debug(session_id="H")
    dbg.step()  # fetch
    dbg.step()  # the fork: both branches held before their first task
    assert dbg.held() == ["H_a", "H_b"]
    dbg.close()
    run = dbg.run
    assert run.status == "cancelled" and isinstance(run.error, GraflowWorkflowCanceledError)
    assert str(run.error) == "run 'H' was cancelled while group 'ParallelGroup_1' ran; not run: a, b"
    assert states(run) == {"H": "cancelled", "H_a": "cancelled", "H_b": "cancelled"}
    assert [(t.task_id, t.status) for t in run.task_runs] == [("fetch", "succeeded"), ("ParallelGroup_1", "cancelled")]
    assert [(g.group_id, g.state) for g in run.groups] == [("ParallelGroup_1", "cancelled")]
    assert dict(calls.counts) == {"fetch": 1}


def test_restarting_while_branches_are_held_gives_a_fresh_run_and_the_old_one_cancelled():
    calls = Calls()
    dbg = held_diamond("strict", calls).debug(session_id="R")
    dbg.step()
    dbg.step()
    old = dbg.run
    dbg.restart()
    assert (old.status, type(old.error)) == ("cancelled", GraflowWorkflowCanceledError)
    assert dbg.run is not old and dbg.run_to_end() is None
    assert dbg.run.status == "succeeded" and dict(calls.counts) == {"fetch": 2, "a": 1, "b": 1, "sink": 1}


def test_a_group_stopped_by_a_branch_cancel_is_recorded_cancelled_and_says_so_in_its_event():
    log = EventLog()
    with workflow("cancels") as wf:

        @task(inject_context=True)
        def stop(ctx):
            ctx.cancel_workflow("enough")

        @task
        def other():
            return 1

        (stop | other).with_execution(max_concurrency=1)
    with pytest.raises(GraflowWorkflowCanceledError):
        wf.execute(session_id="C", observers=[log])
    run = wf.last_run
    assert [(t.task_id, t.status) for t in run.task_runs] == [("ParallelGroup_1", "cancelled"), ("stop", "cancelled")]
    assert [(g.group_id, g.state) for g in run.groups] == [("ParallelGroup_1", "cancelled")]
    assert [e.data["state"] for e in log.of_kind(EventKind.GROUP_FINISHED)] == ["cancelled"]
    assert run.status == "cancelled" and states(run) == {"C": "cancelled", "C_stop": "cancelled", "C_other": "cancelled"}


def polite_and_bad(running: threading.Event):
    """Two task bodies: ``polite`` polls for the stop and, once stopped, raises
    TaskStoppedError (as a shell step whose command was killed does); ``bad`` fails once
    ``polite`` runs.  They take (and ignore) any inputs."""

    def polite(ctx, **_inputs):
        running.set()
        while not ctx.cancelled:
            running.wait(0.001)  # a long task polling for the stop
        raise TaskStoppedError("polite: stopped half-way")

    def bad(**_inputs):
        must_wait(running, "polite to start")
        raise ValueError("bad")

    return task("polite", inject_context=True)(polite), task("bad")(bad)


def test_a_task_stopped_part_way_by_its_groups_stop_is_cancelled_not_a_second_failure():
    with workflow("polite") as wf:
        polite, bad = polite_and_bad(threading.Event())
        _ = (polite | bad).with_execution(fail_fast=True)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute(session_id="P")
    run = wf.last_run
    assert [m for m, _ in caught.value.failed_tasks] == ["bad"] and caught.value.cancelled_tasks == ["polite"]
    assert states(run) == {"P": "failed", "P_polite": "cancelled", "P_bad": "failed"}
    [record] = [t for t in run.task_runs if t.task_id == "polite"]
    assert record.status == "cancelled" and str(record.error) == "polite: stopped half-way"
    assert (run.status, run.error) == ("failed", caught.value)


def test_a_task_stopped_part_way_in_ready_mode_leaves_the_first_failure_the_runs():
    with workflow("ready") as wf:
        task("src")(lambda: 1)
        polite_and_bad(threading.Event())
        wf.add_edge("src", "polite")
        wf.add_edge("src", "bad")
    with pytest.raises(ValueError) as failed:
        wf.execute("src", session_id="Y", ready_parallel=True)
    assert str(failed.value) == "bad"
    run = wf.last_run
    assert sorted((t.task_id, t.status) for t in run.task_runs) == [("bad", "failed"), ("polite", "cancelled"), ("src", "succeeded")]
    assert run.status == "failed" and states(run) == {"Y": "failed"}


def test_task_stopped_error_with_nothing_cancelled_is_an_ordinary_failure():
    with workflow("liar") as wf:

        @task
        def liar():
            raise TaskStoppedError("nothing stopped me")

        @task
        def fine():
            return 2

        (liar | fine).with_execution(max_concurrency=1, fail_fast=True)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute(session_id="L")
    assert [m for m, _ in caught.value.failed_tasks] == ["liar"] and caught.value.cancelled_tasks == ["fine"]
    run = wf.last_run
    assert run.status == "failed" and states(run)["L_liar"] == "failed"
    assert [t.status for t in run.task_runs if t.task_id == "liar"] == ["failed"]
