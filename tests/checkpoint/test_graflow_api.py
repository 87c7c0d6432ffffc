"""graflow's checkpoint API: ``ctx.checkpoint`` inside a task, ``CheckpointManager``
and its three files, resumed with ``WorkflowEngine().execute(ctx)``."""

from __future__ import annotations

import json
import re

import pytest
from ckpt_flows import RUNS, branch_flow, chain_flow, leaf, ran

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager, CheckpointMetadata
from graflow_nb.core.engine import WorkflowEngine
from graflow_nb.core.snapshot import SnapshotError


@pytest.fixture(autouse=True)
def fresh_runs():
    """``ckpt_flows.RUNS`` empty around each test: what a resume ran again is read off it."""
    RUNS.clear()
    yield
    RUNS.clear()


def saving_flow(mode: str, folder):
    """a >> b >> c; b asks for a checkpoint (``deferred`` or ``now``) the first time."""

    def ask(ctx):
        if mode == "deferred":
            assert ctx.checkpoint({"why": "after b"}, path=folder / "b.pkl") is None
        else:
            path, meta = ctx.checkpoint({"why": "at b"}, path=folder / "b.pkl", deferred=False)
            RUNS.append(("saved", path, meta.resuming_task_id))

    return chain_flow(f"chain_{mode}", ask)


def test_a_deferred_checkpoint_is_written_after_the_task_and_its_successors_are_queued(tmp_path):
    wf = saving_flow("deferred", tmp_path)
    assert wf.execute("a", session_id="G") == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.meta.json", "b.pkl", "b.state.json"]
    frontier = json.loads((tmp_path / "b.state.json").read_text())
    assert frontier["frontier"] == {"G": ["c"]}  # b done, c queued: where a resume starts
    meta = json.loads((tmp_path / "b.meta.json").read_text())
    assert meta["user_metadata"] == {"why": "after b"} and meta["session_id"] == "G"

    RUNS.clear()
    again = saving_flow("deferred", tmp_path)
    with again:
        ctx, metadata = CheckpointManager.resume_from_checkpoint(tmp_path / "b.pkl")
    assert isinstance(metadata, CheckpointMetadata) and metadata.user_metadata == {"why": "after b"}
    assert WorkflowEngine().execute(ctx) == 20
    assert RUNS == ["c"]  # a and b are not run again
    assert ctx.run.task_counts() == {"a": 1, "b": 1, "c": 1}


def test_an_immediate_checkpoint_resumes_at_the_task_that_asked(tmp_path):
    wf = saving_flow("now", tmp_path)
    assert wf.execute("a", session_id="G") == 20
    assert RUNS[:3] == ["a", "b", ("saved", str(tmp_path / "b.pkl"), "b")]
    assert json.loads((tmp_path / "b.state.json").read_text())["frontier"] == {"G": ["b"]}

    RUNS.clear()
    again = saving_flow("now", tmp_path)
    with again:
        ctx, metadata = CheckpointManager.resume_from_checkpoint(tmp_path / "b.pkl")
    assert WorkflowEngine().execute(ctx) == 20
    # b runs again from its start (the channel still says it saved: no second checkpoint)
    assert RUNS == ["b", "c"]
    assert ctx.run.task_counts() == {"a": 1, "b": 1, "c": 1}


def test_create_checkpoint_of_a_finished_run_and_load_metadata(tmp_path):
    wf = saving_flow("deferred", tmp_path / "inner")
    wf.execute("a", session_id="F")
    pkl, meta = CheckpointManager.create_checkpoint(wf.last_run.root_context, path=tmp_path / "done.pkl", metadata={"n": 1})
    assert pkl == str(tmp_path / "done.pkl") and meta.status == "succeeded"
    assert CheckpointManager.load_metadata(pkl).checkpoint_id == meta.checkpoint_id
    assert wf.resume(pkl) == 20  # a finished run resumes to its result, running nothing
    assert wf.last_run.task_counts() == {"a": 1, "b": 1, "c": 1}


def test_the_pictures_frames_and_tree_of_a_resumed_run_show_both_halves(tmp_path):
    from graflow_nb.observe import draw_graph, draw_sessions, draw_timeline

    wf = saving_flow("deferred", tmp_path)
    wf.execute("a", session_id="H")
    again = saving_flow("deferred", tmp_path)
    again.resume(tmp_path / "b.pkl")
    run = again.last_run
    tree = run.session_tree()
    assert tree.splitlines()[1] == "H  closed  enqueued 3 dequeued 3  ran a, b | after resume: c"
    assert tree.startswith("resumed from checkpoint ")
    tasks = run.frames.tasks()
    assert dict(zip(tasks["task_id"], tasks["resumed"], strict=True)) == {"a": False, "b": False, "c": True}
    assert run.frames.sessions()["resumed"].tolist() == [True]
    sessions_dot = draw_sessions(run).source
    assert "ran a, b" in sessions_dot and "after resume c" in sessions_dot
    graph_dot = draw_graph(again, run).source
    assert "succeeded (after resume)" in graph_dot and graph_dot.count("after resume") == 1
    svg = draw_timeline(run).svg
    assert 'class="resume"' in svg and "resumed from b.pkl" in svg
    bars = {
        re.search(r'data-task="(\w+)"', rect).group(1): float(re.search(r' x="([\d.]+)"', rect).group(1))
        for rect in re.findall(r'<rect class="bar"[^>]*>', svg)
    }
    line_x = float(re.search(r'<line class="resume" x1="([\d.]+)"', svg).group(1))
    assert bars["a"] < bars["b"] < line_x <= bars["c"]  # before the resume line, and after it


def test_create_checkpoint_from_a_branch_of_a_running_run_is_refused(tmp_path):
    seen = []

    def a(ctx):
        try:
            CheckpointManager.create_checkpoint(ctx.execution_context, path=tmp_path / "x.pkl")
        except SnapshotError as error:
            seen.append(str(error))
        return 1

    wf = branch_flow("branch_ckpt", a)
    wf.execute("src", session_id="C")
    assert len(seen) == 1 and "create_checkpoint('C_a'): a branch session of a running run" in seen[0]
    assert list(tmp_path.iterdir()) == []


def test_a_run_resumed_from_a_checkpoint_taken_in_its_last_task_returns_that_tasks_result(tmp_path):
    """Nothing is left to run after the checkpoint, yet the run's result is the last task's."""

    def last_flow():
        with workflow("last_flow") as wf:
            first = leaf("a", 1)

            @task(inject_context=True)
            def b(ctx, a):
                ran("b")
                ctx.checkpoint(path=tmp_path / "b.pkl")
                return a + 41

            first >> b
        return wf

    assert last_flow().execute("a", session_id="L") == 42
    RUNS.clear()
    again = last_flow()
    with again:
        ctx, _meta = CheckpointManager.resume_from_checkpoint(tmp_path / "b.pkl")
    assert WorkflowEngine().execute(ctx) == 42
    assert last_flow().resume(tmp_path / "b.pkl") == 42
    assert RUNS == []  # neither a nor b ran again
