"""A run started by hand, graflow's low-level way (``ExecutionContext.create(wf.graph,
start)`` then ``WorkflowEngine().execute(ctx)``), checkpoints and resumes as one started
with ``wf.execute``: the workflow hands its graph the saver, so ``ctx.checkpoint()``
and ``run.save()`` work there, and under the graflow alias a feedback timeout writes
graflow's checkpoint, which ``CheckpointManager.resume_from_checkpoint`` plus
``WorkflowEngine().execute`` continues."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.engine import WorkflowEngine
from graflow_nb.core.errors import ConfigError
from graflow_nb.core.graph import TaskGraph

ROOT = Path(__file__).resolve().parents[2]


def test_ctx_checkpoint_in_a_run_started_by_hand_writes_the_file_and_the_resume_runs_only_the_rest(tmp_path):
    runs: list[str] = []
    with workflow("by_hand") as wf:

        @task
        def prepare():
            runs.append("prepare")
            return 2

        @task(inject_context=True)
        def process(ctx):
            runs.append("process")
            ctx.checkpoint(path=str(tmp_path / "after_process"), metadata={"stage": "processed"})
            return ctx.get_result("prepare") * 10

        @task(inject_context=True)
        def finish(ctx):
            runs.append("finish")
            return ctx.get_result("process") + 1

        prepare >> process >> finish

        ctx = ExecutionContext.create(wf.graph, "prepare")
        assert WorkflowEngine().execute(ctx) == 21
        assert ctx.last_checkpoint_path == str(tmp_path / "after_process.pkl")
        assert os.path.exists(tmp_path / "after_process.state.json")

        restored, meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
        assert meta.user_metadata == {"stage": "processed"}
        assert WorkflowEngine().execute(restored) == 21
    assert runs == ["prepare", "process", "finish", "finish"]


def test_a_finished_run_started_by_hand_saves_with_run_save_and_the_copy_resumes_finished(tmp_path):
    with workflow("saved_by_hand") as wf:

        @task
        def only():
            return "done"

        ctx = ExecutionContext.create(wf.graph, "only")
        WorkflowEngine().execute(ctx)
        path = ctx.run.save(str(tmp_path / "finished"))
    assert path == str(tmp_path / "finished.pkl")
    assert CheckpointManager.load_metadata(path).session_id == ctx.session_id


def test_a_bare_graph_still_has_no_saver_and_says_how_to_checkpoint():
    """A graph no workflow owns gets no saver handed to it: ``run.save`` names the way
    that works (``CheckpointManager.create_checkpoint(ctx)``)."""
    graph = TaskGraph()

    @task("lone")
    def lone():
        return 1

    graph.add_node(lone, "lone")
    ctx = ExecutionContext.create(graph, "lone")
    WorkflowEngine().execute(ctx)
    with pytest.raises(ConfigError, match=r"its graph belongs to no workflow .*CheckpointManager\.create_checkpoint"):
        ctx.run.save()


GRAFLOWS_WAY = """
import graflow_nb
graflow_nb.alias_graflow()
import glob, json, os
from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import ExecutionContext
from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import workflow

asked = []
with workflow("deploy") as wf:
    @task(inject_context=True)
    def ask(context):
        asked.append(1)
        response = context.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=0.05)
        return response.approved

    @task(inject_context=True)
    def ship(context):
        return "SHIPPED" if context.get_channel().get("ask.__result__") else "HELD"

    ask >> ship
    ctx = ExecutionContext.create(wf.graph, "ask", session_id="D")
    engine = WorkflowEngine()
    first = engine.execute(ctx)
    feedback_id = ctx.checkpoint_metadata["user_metadata"]["feedback_id"]

resumed, meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
answered = resumed.feedback_manager.provide_feedback(feedback_id, True)
print(json.dumps({
    "first": first, "path": ctx.last_checkpoint_path, "files": glob.glob("checkpoints/*/*.pkl"),
    "feedback_id": feedback_id, "meta_id": meta.user_metadata["feedback_id"], "answered": answered,
    "second": engine.execute(resumed), "asked": len(asked),
}))
"""


def test_under_the_alias_a_timeout_in_a_run_started_by_hand_checkpoints_and_graflows_resume_continues(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", GRAFLOWS_WAY], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "GRAFLOW_NB_SECRET_FILE": str(tmp_path / "secret")},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["first"] is None
    assert report["files"] == [report["path"]]
    assert re.fullmatch(r"checkpoints/D/session_D_step_\d+_\d+\.pkl", report["path"])
    assert report["feedback_id"] == report["meta_id"] == "D/ask/1"
    assert report["answered"] is True
    assert report["second"] == "SHIPPED"
    assert report["asked"] == 1  # the resumed run ran the saved code (no workflow in scope), not this list's


def test_outside_the_alias_a_timeout_in_a_run_started_by_hand_pauses_writes_nothing_and_saves_when_asked(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with workflow("deploy_here") as wf:

        @task(inject_context=True)
        def ask(context):
            return context.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=0.05).approved

        ctx = ExecutionContext.create(wf.graph, "ask", session_id="H")
        paused = WorkflowEngine().execute(ctx)
    assert paused is not None and paused.status == "paused"
    assert list(tmp_path.iterdir()) == []
    assert ctx.last_checkpoint_path is None
    saved = ctx.run.save(str(tmp_path / "kept" / "paused"))
    assert saved == str(tmp_path / "kept" / "paused.pkl") == ctx.last_checkpoint_path


def test_a_feedback_manager_made_by_hand_answers_after_the_run_stopped_and_hands_the_answer_to_the_resumed_run(
    tmp_path, monkeypatch
):
    """graflow's test of its filesystem feedback backend, done in memory: a manager
    made by hand is handed to the run, answers the question after the run paused, and
    handed to the context resumed from the checkpoint gives it that answer."""
    from graflow_nb.hitl.manager import FeedbackManager
    from graflow_nb.hitl.types import FeedbackResponse, FeedbackType

    monkeypatch.chdir(tmp_path)
    manager = FeedbackManager(backend="filesystem", backend_config={"data_dir": str(tmp_path / "feedback_data")})
    asked: list[str] = []
    with workflow("approve_by_hand") as wf:

        @task(inject_context=True)
        def ask(context):
            asked.append("ask")
            response = context.request_feedback(feedback_type="approval", prompt="Deploy?", timeout=0.05)
            return f"{response.approved} ({response.reason})"

        ctx = ExecutionContext.create(wf.graph, "ask", session_id="M")
        ctx.feedback_manager = manager
        assert ctx.feedback_manager is manager
        engine = WorkflowEngine()
        paused = engine.execute(ctx)
        [request] = manager.list_pending_requests()
        path = ctx.run.save(str(tmp_path / "waiting"))
        response = FeedbackResponse(feedback_id=request.feedback_id, response_type=FeedbackType.APPROVAL,
                                    approved=True, reason="looks fine")
        assert manager.provide_feedback(request.feedback_id, response) is True
        assert manager.provide_feedback("M/nobody/1", response) is False

        resumed, _meta = CheckpointManager.resume_from_checkpoint(path)
        resumed.feedback_manager = manager
        assert engine.execute(resumed) == "True (looks fine)"
    assert paused.status == "paused"
    assert asked == ["ask", "ask"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["waiting.meta.json", "waiting.pkl", "waiting.state.json"]


def test_a_feedback_manager_refuses_a_backend_it_does_not_offer_and_one_not_handed_to_a_run_says_so():
    from graflow_nb.hitl.manager import FeedbackManager

    with pytest.raises(ValueError, match=r"FeedbackManager\(backend='redis'\) is not offered"):
        FeedbackManager(backend="redis")
    with pytest.raises(RuntimeError, match=r"not handed to a run yet: set ctx\.feedback_manager = manager"):
        FeedbackManager().list_pending_requests()
