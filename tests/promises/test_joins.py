"""README "Joins": a node with several predecessors runs once, also when a goto jumps
straight into it (the jump is that predecessor arriving) or takes a path that means
some predecessor never runs in that session."""

from __future__ import annotations

import pytest

from graflow_nb import task, workflow


def _join_workflow(name: str, *, jump_from_a: bool, ready_parallel: bool = False):
    """f >> a >> s and f >> b >> s; ``a`` may jump to ``s`` with a goto."""
    ran: list[str] = []
    with workflow(name) as wf:
        @task(inject_context=True)
        def f(ctx):
            ran.append("f")

        @task(inject_context=True)
        def a(ctx):
            ran.append("a")
            if jump_from_a:
                ctx.next_task(s, goto=True)
            return "A"

        @task
        def b():
            ran.append("b")
            return "B"

        @task(inject_context=True)
        def s(ctx):
            ran.append("s")
            return (ctx.get_result("a"), ctx.get_result("b"))

        f >> a >> s
        f >> b >> s
    return wf, ran


@pytest.mark.parametrize("ready_parallel", [False, True], ids=["queue", "ready_parallel"])
def test_goto_into_a_join_counts_as_that_predecessor_arriving(ready_parallel):
    wf, ran = _join_workflow("goto_join", jump_from_a=True)
    result = wf.execute("f", session_id="J", ready_parallel=ready_parallel)
    # a and b may run at the same time under ready_parallel: their order is not the point
    assert (ran[0], sorted(ran[1:3]), ran[3:]) == ("f", ["a", "b"], ["s"])
    assert result == ("A", "B")
    assert wf.last_run.task_counts() == {"f": 1, "a": 1, "b": 1, "s": 1}
    assert wf.last_run.status == "succeeded"


def test_plain_join_waits_for_both_and_runs_once():
    wf, ran = _join_workflow("plain_join", jump_from_a=False)
    assert wf.execute("f", session_id="J") == ("A", "B")
    assert ran == ["f", "a", "b", "s"]


def test_goto_away_from_a_join_lets_it_run_with_what_arrived_once_the_queue_is_empty():
    ran: list[str] = []
    with workflow("goto_away") as wf:
        @task
        def f():
            ran.append("f")

        @task(inject_context=True)
        def a(ctx):
            ran.append("a")
            ctx.next_task(elsewhere, goto=True)

        @task
        def b():
            ran.append("b")

        @task
        def elsewhere():
            ran.append("elsewhere")

        @task
        def s():
            ran.append("s")

        f >> a >> s
        f >> b >> s
        wf.execute("f", session_id="J")
    assert ran == ["f", "a", "b", "elsewhere", "s"]
    assert wf.last_run.sessions["J"].enqueued == 5


def test_goto_into_a_join_from_a_task_that_is_not_its_predecessor_still_runs_it_once():
    ran: list[str] = []
    with workflow("side_jump") as wf:
        @task
        def f():
            ran.append("f")

        @task(inject_context=True)
        def a(ctx):
            ran.append("a")
            ctx.next_task(side, goto=True)

        @task
        def b():
            ran.append("b")

        @task(inject_context=True)
        def side(ctx):
            ran.append("side")
            ctx.next_task(s, goto=True)

        @task
        def s():
            ran.append("s")

        f >> a >> s
        f >> b >> s
        wf.execute("f", session_id="J")
    assert ran == ["f", "a", "b", "side", "s"]
    assert wf.last_run.task_counts()["s"] == 1
