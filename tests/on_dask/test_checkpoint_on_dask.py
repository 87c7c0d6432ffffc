"""A checkpoint of a run whose Dask branch paused: resuming it from the file continues
that branch from where it stopped, on the cluster, as a thread branch does; the tasks
it finished before the pause never run again and its answer reaches the worker."""

from __future__ import annotations

import glob
from typing import Any

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager

from .test_dask_backend import dask_on


def approval_flow(name: str, execution: dict[str, Any]):
    """fetch >> (pre >> a >> a_after | b) >> store, where ``a`` asks for approval after
    ``pre`` (which the resume must not run again) wrote to the channel."""
    with workflow(name) as wf:
        @task
        def fetch():
            return "fetched"

        @task(inject_context=True)
        def pre(ctx):
            ctx.get_channel().atomic_add("pre_runs", 1)
            ctx.get_channel().append("trail", "pre")
            return "pre"

        @task(inject_context=True)
        def a(ctx, pre):
            ctx.get_channel().atomic_add("a_attempts", 1)
            return ctx.request_approval("Ship it?")

        @task
        def a_after(a, pre):
            return f"after {a} {pre}"

        @task
        def b():
            return "rb"

        @task
        def store(a_after, b):
            return a_after, b

        _ = pre >> a >> a_after
        _ = fetch >> (pre | b).with_execution(**execution) >> store
    return wf


def pause_save_resume(wf: Any, checkpoint_dir: Any) -> tuple[Any, Any]:
    paused = wf.execute("fetch", session_id="S", checkpoint_dir=checkpoint_dir)
    assert paused.status == "paused" and [p.session_id for p in paused.pending] == ["S_pre"]
    (path,) = glob.glob(f"{checkpoint_dir}/*.pkl")
    key = paused.pending[0].key
    context, _ = CheckpointManager.resume_from_checkpoint(path, wf)
    assert context.run.sessions["S_pre"].tasks_run == ["pre"] and context.run.sessions["S_pre"].state == "paused"
    return wf.resume(path, answers={key: True}), wf.last_run


def test_resuming_a_checkpoint_continues_the_paused_dask_branch_from_where_it_stopped(client, tmp_path):
    (threads_dir := tmp_path / "threads").mkdir()
    (dask_dir := tmp_path / "dask").mkdir()
    on_threads, threads_run = pause_save_resume(approval_flow("ckpt-threads", {}), threads_dir)
    on_dask, run = pause_save_resume(approval_flow("ckpt-dask", dask_on(client)), dask_dir)

    assert on_dask == on_threads == ("after True pre", "rb")
    assert run.status == "succeeded" and run.pending_inputs() == []
    runs = [(tr.task_id, tr.session_id, tr.status) for tr in run.task_runs if tr.task_id in ("pre", "a", "a_after")]
    assert runs == [("pre", "S_pre", "succeeded"), ("a", "S_pre", "paused"), ("a", "S_pre", "succeeded"),
                    ("a_after", "S_pre", "succeeded")]  # pre ran once: before the checkpoint
    channel = run.root_context.channel
    threads_channel = threads_run.root_context.channel
    for key, value in (("pre_runs", 1), ("a_attempts", 2), ("trail", ["pre"])):
        assert channel.get(key) == threads_channel.get(key) == value, key
    assert run.sessions["S_pre"].tasks_run == threads_run.sessions["S_pre"].tasks_run == ["pre", "a", "a_after"]
    assert run.sessions["S_pre"].worker and run.sessions["S_pre"].state == "merged"
    assert run.session_tree().count("S_pre") == threads_run.session_tree().count("S_pre") == 1


def test_a_refused_answer_reaches_the_resumed_dask_branch(client, tmp_path):
    wf = approval_flow("ckpt-dask-no", dask_on(client))
    paused = wf.execute("fetch", session_id="S", checkpoint_dir=tmp_path)
    (path,) = glob.glob(f"{tmp_path}/*.pkl")
    result = wf.resume(path, answers={paused.pending[0].key: False})
    assert result == ("after False pre", "rb")
    assert wf.last_run.root_context.channel.get("pre_runs") == 1
