"""The engine's rules, "Joins" (docs/reference/rules.md): a node with several predecessors runs once, also when a goto jumps
straight into it (the jump is that predecessor arriving) or takes a path that means
some predecessor never runs in that session."""

from __future__ import annotations

import pytest

from graflow_nb import task, workflow


def join_workflow(name: str, *, a_jumps_to: str | None = None):
    """``f >> a >> s`` and ``f >> b >> s``; ``a`` may jump (goto) to ``s``, to
    ``elsewhere`` (a task outside the diamond) or to ``side``, which jumps on into ``s``.
    Returns the workflow and the list of task names in the order they ran."""
    ran: list[str] = []
    with workflow(name) as wf:

        @task
        def f():
            ran.append("f")

        @task(inject_context=True)
        def a(ctx):
            ran.append("a")
            if a_jumps_to is not None:
                ctx.next_task(targets[a_jumps_to], goto=True)
            return "A"

        @task
        def b():
            ran.append("b")
            return "B"

        @task(inject_context=True)
        def s(ctx):
            ran.append("s")
            return (ctx.get_result("a"), ctx.get_result("b"))

        @task
        def elsewhere():
            ran.append("elsewhere")

        @task(inject_context=True)
        def side(ctx):
            ran.append("side")
            ctx.next_task(s, goto=True)

        targets = {"s": s, "elsewhere": elsewhere, "side": side}
        f >> a >> s
        f >> b >> s
    return wf, ran


@pytest.mark.parametrize("ready_parallel", [False, True], ids=["queue", "ready_parallel"])
def test_goto_into_a_join_counts_as_that_predecessor_arriving(ready_parallel):
    wf, ran = join_workflow("goto_join", a_jumps_to="s")
    result = wf.execute("f", session_id="J", ready_parallel=ready_parallel)
    # a and b may run at the same time under ready_parallel: their order is not the point
    assert (ran[0], sorted(ran[1:3]), ran[3:]) == ("f", ["a", "b"], ["s"])
    assert result == ("A", "B")
    assert wf.last_run.task_counts() == {"f": 1, "a": 1, "b": 1, "s": 1}
    assert wf.last_run.status == "succeeded"


def test_plain_join_waits_for_both_and_runs_once():
    wf, ran = join_workflow("plain_join")
    assert wf.execute("f", session_id="J") == ("A", "B")
    assert ran == ["f", "a", "b", "s"]


def test_goto_away_from_a_join_lets_it_run_with_what_arrived_once_the_queue_is_empty():
    wf, ran = join_workflow("goto_away", a_jumps_to="elsewhere")
    assert wf.execute("f", session_id="J") == ("A", "B")  # s ran once, after b, with a's result
    assert ran == ["f", "a", "b", "elsewhere", "s"]
    assert wf.last_run.sessions["J"].enqueued == 5


def test_goto_into_a_join_from_a_task_that_is_not_its_predecessor_still_runs_it_once():
    wf, ran = join_workflow("side_jump", a_jumps_to="side")
    wf.execute("f", session_id="J")
    assert ran == ["f", "a", "b", "side", "s"]
    assert wf.last_run.task_counts() == {"f": 1, "a": 1, "b": 1, "side": 1, "s": 1}
