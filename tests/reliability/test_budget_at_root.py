"""``StepLimitExceededError`` raised in the root session (no group involved) carries
``.results`` with what finished, as it does inside groups; the task that could not
run is recorded as skipped and the run stays inspectable."""

from __future__ import annotations

import pytest
from reliability_kit import Calls, states

from graflow_nb import task, workflow
from graflow_nb.core.errors import StepLimitExceededError


@pytest.mark.parametrize("ready_parallel", [False, True], ids=["loop", "ready_parallel"])
def test_step_limit_at_the_root_has_the_results_of_what_finished(ready_parallel):
    calls = Calls()
    with workflow("budget") as wf:
        _ = calls.task("a", lambda: 1) >> calls.task("b", lambda: {"two": 2}) >> calls.task("c", lambda: 3)
    with pytest.raises(StepLimitExceededError) as raised:
        wf.execute("a", session_id="S", max_steps=2, ready_parallel=ready_parallel)
    error = raised.value
    assert error.results == {"a": 1, "b": {"two": 2}}
    assert error.results["b"] is wf.last_run.results()["b"]
    assert (error.max_steps, error.session_id, error.task_id) == (2, "S", "c")
    run = wf.last_run
    assert (run.status, run.error, run.steps, states(run)) == ("failed", error, 2, {"S": "failed"})
    assert dict(calls.counts) == {"a": 1, "b": 1}
    assert run.skipped == [("c", "S", "failed")]


def test_step_limit_in_a_goto_loop_at_the_root():
    with workflow("loop") as wf:

        @task(inject_context=True)
        def spin(ctx):
            ctx.next_task(spin(task_id=f"spin_{ctx.execution_context.steps}"))
            return ctx.execution_context.steps

    with pytest.raises(StepLimitExceededError) as raised:
        wf.execute("spin", session_id="S", max_steps=4)
    assert raised.value.results == {"spin": 1, "spin_1": 2, "spin_2": 3, "spin_3": 4}
    assert wf.last_run.status == "failed"
