"""graflow's checkpoint requests at the edges: one asked for by a task that also stops
the workflow is still written, and a resumed context lists what is queued the way
graflow's queue does (``task_queue.get_pending_task_specs()``)."""

from __future__ import annotations

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.engine import WorkflowEngine


def test_a_checkpoint_asked_for_by_the_task_that_terminates_the_workflow_is_written_and_nothing_after_runs(tmp_path):
    runs: list[str] = []
    with workflow("stop_and_save") as wf:

        @task
        def first():
            runs.append("first")
            return 1

        @task(inject_context=True)
        def stop(ctx):
            runs.append("stop")
            ctx.checkpoint(path=str(tmp_path / "stopped"), metadata={"why": "stopping"})
            ctx.terminate_workflow("enough")
            return "stopped"

        @task
        def never():
            runs.append("never")

        first >> stop >> never
        _result, ctx = wf.execute("first", ret_context=True)
        assert ctx.last_checkpoint_path == str(tmp_path / "stopped.pkl")
        restored, meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
        assert meta.user_metadata == {"why": "stopping"}
        assert restored.get_result("stop") == "stopped"
        assert restored.task_queue.get_pending_task_specs() == []
        WorkflowEngine().execute(restored)
    assert runs == ["first", "stop"]


def test_a_resumed_context_lists_its_queued_tasks_in_order_without_taking_them(tmp_path):
    with workflow("listed") as wf:

        @task(inject_context=True)
        def a(ctx):
            ctx.checkpoint(path=str(tmp_path / "after_a"))
            return "a"

        @task
        def b():
            return "b"

        @task
        def c():
            return "c"

        a >> b >> c
        _result, ctx = wf.execute("a", ret_context=True)
        restored, _meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
        pending = restored.task_queue.get_pending_task_specs()
        assert [spec.task_id for spec in pending] == ["b"]
        assert pending[0].executable is wf.graph.get_node("b")
        assert [spec.task_id for spec in restored.task_queue.get_pending_task_specs()] == ["b"]
        assert WorkflowEngine().execute(restored) == "c"
