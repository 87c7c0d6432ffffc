"""graflow's checkpoint names on the contexts (issue 28): ``last_checkpoint_path`` and
``checkpoint_metadata`` on the run's context after a checkpoint is written or resumed
from, and the ``checkpoint_requested`` view of a deferred ``ctx.checkpoint()``."""

from __future__ import annotations

from pathlib import Path

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.engine import WorkflowEngine


def three_steps(target: Path, seen: dict):
    with workflow("cp") as wf:

        @task
        def one():
            return 1

        @task(inject_context=True)
        def two(ctx):
            run_ctx = ctx.execution_context
            seen["before"] = (run_ctx.checkpoint_requested, run_ctx.checkpoint_request_path)
            ctx.checkpoint(path=str(target), metadata={"stage": "two"})
            seen["after"] = (
                run_ctx.checkpoint_requested, run_ctx.checkpoint_request_path, run_ctx.checkpoint_request_metadata
            )
            return 2

        @task
        def three(two):
            return two + 1

        one >> two >> three
    return wf


def test_the_run_context_names_the_checkpoint_it_wrote_and_the_one_it_resumed_from(tmp_path):
    seen: dict = {}
    wf = three_steps(tmp_path / "basic", seen)
    result, context = wf.execute("one", ret_context=True)
    assert result == 3
    assert seen == {"before": (False, None), "after": (True, str(tmp_path / "basic"), {"stage": "two"})}
    assert context.last_checkpoint_path == str(tmp_path / "basic.pkl")
    assert context.checkpoint_metadata["user_metadata"] == {"stage": "two"}
    assert context.checkpoint_metadata["session_id"] == context.session_id
    assert not context.checkpoint_requested  # the engine wrote it and cleared the request
    base = context.last_checkpoint_path.removesuffix(".pkl")
    assert all(Path(base + ext).is_file() for ext in (".pkl", ".state.json", ".meta.json"))

    with workflow("cp"):
        restored, meta = CheckpointManager.resume_from_checkpoint(context.last_checkpoint_path, wf)
    assert restored.last_checkpoint_path == context.last_checkpoint_path
    assert restored.checkpoint_metadata["checkpoint_id"] == meta.checkpoint_id
    assert restored.completed_tasks == ["one", "two"]
    assert WorkflowEngine().execute(restored) == 3


def test_a_context_with_no_checkpoint_says_so():
    with workflow("plain") as plain:

        @task
        def only():
            return "x"

    _result, context = plain.execute("only", ret_context=True)
    assert context.last_checkpoint_path is None
    assert dict(context.checkpoint_metadata) == {}
    assert context.checkpoint_request_metadata is None
