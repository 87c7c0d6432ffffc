"""Faults raised by the user's code that runs around tasks rather than in them:
compensations, a custom policy's hooks, merge callables, retry policies, and channel
values whose copy or comparison raises.  Each ends the run with one true outcome."""

from __future__ import annotations

import pytest
from reliability_kit import Calls, raiser, states

from graflow_nb import MergeConflictError, ParallelGroupError, RetryPolicy, task, workflow
from graflow_nb.core import GroupExecutionPolicy


def rollback_group(calls: Calls, undo_ok2_error: BaseException):
    """``src >> (ok1 | ok2 | bad)`` in declaration order under rollback; ok2's
    compensation raises ``undo_ok2_error``."""

    def undo_ok2():
        calls.hit("undo_ok2")
        raise undo_ok2_error

    with workflow("rollback") as wf:
        ok1, ok2 = calls.task("ok1", lambda: 1), calls.task("ok2", lambda: 2)
        ok1.compensate(lambda: calls.hit("undo_ok1"))
        ok2.compensate(undo_ok2)
        group = (ok1 | ok2 | calls.task("bad", raiser(ValueError("bad broke")))).with_execution(policy="rollback", max_concurrency=1)
        _ = calls.task("src") >> group >> calls.task("sink")
    return wf


def test_a_compensation_raising_keyboard_interrupt_stops_the_rollback_and_cancels_the_run():
    calls = Calls()
    interrupt = KeyboardInterrupt("while undoing")
    wf = rollback_group(calls, interrupt)
    with pytest.raises(KeyboardInterrupt) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is interrupt
    run = wf.last_run
    assert (run.status, run.error) == ("cancelled", interrupt)
    assert states(run) == {"S": "cancelled", "S_ok1": "discarded", "S_ok2": "discarded", "S_bad": "failed"}
    # compensations run last member first: ok2's raised, so ok1's never started
    assert dict(calls.counts) == {"src": 1, "ok1": 1, "ok2": 1, "bad": 1, "undo_ok2": 1}


def test_a_compensation_raising_an_exception_is_noted_and_the_others_still_run():
    calls = Calls()
    wf = rollback_group(calls, RuntimeError("undo failed"))
    with pytest.raises(ParallelGroupError) as raised:
        wf.execute("src", session_id="S")
    assert "[graflow_nb] compensation of 'ok2' failed: RuntimeError('undo failed')" in raised.value.__notes__
    assert dict(calls.counts) == {"src": 1, "ok1": 1, "ok2": 1, "bad": 1, "undo_ok2": 1, "undo_ok1": 1}
    assert states(wf.last_run) == {"S": "failed", "S_ok1": "discarded", "S_ok2": "discarded", "S_bad": "failed"}


class Finishing(GroupExecutionPolicy):
    """A custom policy whose ``on_group_finished`` raises."""

    def __init__(self, error: BaseException):
        self.error = error

    def on_group_finished(self, group_id, tasks, results, context):
        raise self.error


class StopChecking(GroupExecutionPolicy):
    """A custom policy whose ``should_stop`` raises."""

    def __init__(self, error: BaseException):
        self.error = error

    def should_stop(self, member_id, error):
        raise self.error

    def on_group_finished(self, group_id, tasks, results, context):
        return None


def two_members(calls: Calls, a_body=None, **execution):
    with workflow("two") as wf:
        group = (calls.task("a", a_body) | calls.task("b", lambda: "b")).with_execution(**execution)
        _ = calls.task("src") >> group >> calls.task("sink")
    return wf


@pytest.mark.parametrize(
    ("error", "status"),
    [(SystemExit(5), "failed"), (KeyboardInterrupt("policy"), "cancelled"), (LookupError("policy bug"), "failed")],
    ids=["SystemExit", "KeyboardInterrupt", "LookupError"],
)
def test_on_group_finished_raising_fails_the_group_with_that_very_error(error, status):
    calls = Calls()
    wf = two_members(calls, policy=Finishing(error))
    with pytest.raises(type(error)) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is error
    run = wf.last_run
    assert (run.status, run.error) == (status, error)
    assert states(run) == {"S": status, "S_a": "discarded", "S_b": "discarded"}
    assert dict(calls.counts) == {"src": 1, "a": 1, "b": 1}


@pytest.mark.parametrize(
    ("policy_error", "status"),
    [(AttributeError("should_stop bug"), "failed"), (KeyboardInterrupt("deciding"), "cancelled")],
    ids=["AttributeError", "KeyboardInterrupt"],
)
def test_should_stop_raising_fails_the_group_with_the_policy_error(policy_error, status):
    calls = Calls()
    wf = two_members(calls, raiser(ValueError("a broke")), policy=StopChecking(policy_error), max_concurrency=1)
    with pytest.raises(type(policy_error)) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is policy_error
    assert (wf.last_run.status, states(wf.last_run)) == (status, {"S": status, "S_a": "failed", "S_b": "cancelled"})
    assert dict(calls.counts) == {"src": 1, "a": 1}


@pytest.mark.parametrize(
    ("error", "status"),
    [(TypeError("merge bug"), "failed"), (KeyboardInterrupt("merging"), "cancelled")],
    ids=["TypeError", "KeyboardInterrupt"],
)
def test_a_merge_callable_raising_fails_the_group_with_that_very_error(error, status):
    def merge(key, values):
        raise error

    calls = Calls()
    with workflow("merge") as wf:

        @task(inject_context=True)
        def a(ctx):
            calls.hit("a")
            ctx.get_channel().set("k", 1)

        @task(inject_context=True)
        def b(ctx):
            calls.hit("b")
            ctx.get_channel().set("k", 2)

        _ = calls.task("src") >> (a | b).with_execution(merge=merge) >> calls.task("sink")
    with pytest.raises(type(error)) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is error
    assert (wf.last_run.status, states(wf.last_run)) == (status, {"S": status, "S_a": "discarded", "S_b": "discarded"})
    assert dict(calls.counts) == {"src": 1, "a": 1, "b": 1}


def test_a_retry_policy_that_raises_leaves_the_task_failing_with_its_own_error():
    class BrokenDelays(RetryPolicy):
        def get_delay(self, retry_count):
            raise ZeroDivisionError("delay broke")

    calls = Calls()
    own = RuntimeError("flaky")
    with workflow("retry") as wf:
        _ = calls.task("flaky", raiser(own), max_retries=2, retry_policy=BrokenDelays(max_retries=2)) >> calls.task("next")
    with pytest.raises(RuntimeError) as raised:
        wf.execute("flaky", session_id="S")
    assert raised.value is own
    assert raised.value.__notes__ == [
        "[graflow_nb] not retried: the retry policy of 'flaky' raised ZeroDivisionError: delay broke",
        "[graflow_nb] raised by task 'flaky' in session 'S'",
    ]
    assert dict(calls.counts) == {"flaky": 1}
    assert (wf.last_run.status, states(wf.last_run)) == ("failed", {"S": "failed"})


class InterruptsCopy:
    """A channel value whose deep copy raises KeyboardInterrupt (a Ctrl-C mid-copy)."""

    def __init__(self, error: BaseException):
        self.error = error

    def __deepcopy__(self, memo):
        raise self.error


def test_a_keyboard_interrupt_while_a_branch_copies_a_channel_value_cancels_the_run():
    interrupt = KeyboardInterrupt("mid-copy")
    calls = Calls()
    with workflow("copy") as wf:

        @task(inject_context=True)
        def reader(ctx):
            calls.hit("reader")
            return ctx.get_channel().get("value")

        _ = calls.task("src") >> (reader | calls.task("other")).with_execution(max_concurrency=1) >> calls.task("sink")
    with pytest.raises(KeyboardInterrupt) as raised:
        wf.execute("src", session_id="S", initial_channel={"value": InterruptsCopy(interrupt)})
    assert raised.value is interrupt
    assert (wf.last_run.status, states(wf.last_run)) == (
        "cancelled",
        {"S": "cancelled", "S_reader": "cancelled", "S_other": "cancelled"},
    )
    assert dict(calls.counts) == {"src": 1, "reader": 1}


def test_values_whose_eq_raises_are_a_merge_conflict_not_a_crash():
    # Change detection compares objects by their state, never by ``==``: values whose
    # ``==`` raises conflict when their states differ, and the merge never calls ``==``.
    class NoEq:
        def __init__(self, v):
            self.v = v

        def __eq__(self, other):
            raise RuntimeError("eq broke")

        __hash__ = object.__hash__

        def __repr__(self):
            return f"NoEq({self.v})"

    with workflow("eq") as wf:

        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().set("k", NoEq(1))

        @task(inject_context=True)
        def b(ctx):
            ctx.get_channel().set("k", NoEq(2))

        _ = task("src")(lambda: None) >> (a | b)
    with pytest.raises(MergeConflictError) as raised:
        wf.execute("src", session_id="S")
    assert str(raised.value).startswith("Merge conflict in group 'ParallelGroup_1' on channel key 'k': 'a' wrote NoEq(1), 'b' wrote NoEq(2)")
    assert (wf.last_run.status, states(wf.last_run)) == ("failed", {"S": "failed", "S_a": "discarded", "S_b": "discarded"})
