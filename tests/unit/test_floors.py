"""What the floors (issue 23) promise a user: the old module paths still give the same
objects, a run started by hand keeps its new tasks to itself, and saves with the saver
its workflow handed the graph."""

from __future__ import annotations

import importlib
import pickle

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.engine import WorkflowEngine

OLD_PATHS = {
    "task": "model.task", "graph": "model.graph", "decorators": "model.decorators", "retry": "model.retry",
    "policies": "model.policies", "backends": "model.backends", "channel": "data.channel",
    "isolation": "data.isolation", "merge": "data.merge", "typed_channel": "data.typed_channel",
    "run": "runtime.run", "queue": "runtime.queue", "interrupt": "runtime.interrupt", "timed": "runtime.timed",
    "cycle": "runtime.cycle", "feedback": "runtime.feedback", "feedback_manager": "runtime.feedback_manager",
    "engine": "runtime.engine", "gate": "runtime.gate", "handler": "runtime.handler",
    "coordinator": "runtime.groups.coordinator", "direct": "runtime.groups.direct", "ready": "runtime.groups.ready",
    "executors": "runtime.executors.base", "pool": "runtime.executors.pool",
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_module_path_gives_every_name_of_the_moved_module(old):
    face = importlib.import_module(f"graflow_nb.core.{old}")
    real = importlib.import_module(f"graflow_nb.core.{OLD_PATHS[old]}")
    names = [n for n in vars(real) if not n.startswith("__")]
    assert names, real
    assert [n for n in names if getattr(face, n, None) is not getattr(real, n)] == []


def test_a_value_pickled_by_an_old_path_loads_as_the_moved_class():
    from graflow_nb.core.data.channel import Change
    from graflow_nb.core.runtime.run import TaskRun

    # What a 0.1.0 pickle says: "graflow_nb.core.channel", "graflow_nb.core.run" (protocol 2
    # names a class by its path on a line of its own, so the path can be put back).
    old_change = pickle.dumps(Change("set", 1), 2).replace(b"graflow_nb.core.data.channel\n", b"graflow_nb.core.channel\n")
    old_run = pickle.dumps(TaskRun("t", "S", 1, (0,), 0.0, "MainThread"), 2).replace(
        b"graflow_nb.core.runtime.run\n", b"graflow_nb.core.run\n"
    )
    assert b"graflow_nb.core.channel" in old_change and b"graflow_nb.core.run" in old_run
    assert pickle.loads(old_change) == Change("set", 1)
    assert type(pickle.loads(old_run)) is TaskRun


def _hand_started(name: str) -> tuple[object, ExecutionContext]:
    with workflow(name) as wf:

        @task
        def grow():
            @task
            def made_here():
                return "made"

            return "grown"

    return wf, ExecutionContext.create(wf.graph, "grow", session_id="H")


def test_a_task_made_in_a_run_started_by_hand_stays_in_that_run():
    from graflow_nb.core.workflow import current_workflow

    default = current_workflow()
    _wf, ctx = _hand_started("by-hand")
    assert WorkflowEngine().execute(ctx) == "grown"
    assert "made_here" in ctx.dynamic_nodes  # the session's own, as in a wf.execute run
    assert not default.graph.has_node("made_here")  # the default workflow is not written


def test_a_run_started_by_hand_is_handed_its_saver_by_the_workflow_that_owns_the_graph(tmp_path):
    from graflow_nb.core.checkpoint import SAVER

    _wf, ctx = _hand_started("saved")
    WorkflowEngine().execute(ctx)
    assert ctx.run.saver() is SAVER
    assert ctx.run.save(str(tmp_path / "h")) == str(tmp_path / "h.pkl")


def test_a_context_made_by_hand_executes_and_resumes_with_its_own_engine():
    _wf, ctx = _hand_started("again")
    assert ctx.execute() == "grown"
    assert isinstance(ctx.run.driver, WorkflowEngine)
