"""A deferred ``ctx.checkpoint()`` that cannot be written (a value that won't pickle,
a destination that can't be written) reports one error naming the task and the key,
and leaves the run's outcome, results and run counts as they would have been."""

from __future__ import annotations

import os
import threading

import pytest
from ckpt_flows import RUNS, chain_flow

from graflow_nb import task, workflow
from graflow_nb.core.snapshot import SnapshotError


@pytest.fixture(autouse=True)
def fresh_runs():
    """``ckpt_flows.RUNS`` empty around each test: what a resume ran again is read off it."""
    RUNS.clear()
    yield
    RUNS.clear()


def locking_flow(name: str, path):
    """a >> b >> c; b asks for a checkpoint at ``path``, then puts a lock in the channel
    (after asking: only the save can see it)."""

    def ask(ctx):
        ctx.checkpoint({"why": "after b"}, path=path)
        ctx.get_channel().set("guard", threading.Lock())

    return chain_flow(name, ask)


def test_an_unpicklable_channel_value_is_reported_and_the_run_goes_on(tmp_path):
    wf = locking_flow("unpicklable", tmp_path / "b.pkl")
    with pytest.warns(RuntimeWarning, match="its deferred ctx.checkpoint\\(\\) was not written") as warned:
        assert wf.execute("a", session_id="U") == 20
    run = wf.last_run
    assert (run.status, RUNS, run.task_counts()) == ("succeeded", ["a", "b", "c"], {"a": 1, "b": 1, "c": 1})
    assert run.checkpoints == [] and os.listdir(tmp_path) == []
    (error,) = run.checkpoint_errors
    assert isinstance(error, SnapshotError) and isinstance(error.__cause__, SnapshotError)
    message = str(error)
    assert message.startswith("task 'b': ") and "channel key 'guard' (session 'U', a lock)" in message
    assert [str(w.message) for w in warned if "ctx.checkpoint" in str(w.message)] == [message]


def test_a_destination_that_cannot_be_written_is_reported_with_its_os_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    runs: list[str] = []
    with workflow("unwritable") as wf:
        @task(inject_context=True)
        def only(ctx):
            runs.append("only")
            ctx.checkpoint(path=blocker / "x.pkl")
            return "done"

    with pytest.warns(RuntimeWarning):
        assert wf.execute("only", session_id="W") == "done"
    (error,) = wf.last_run.checkpoint_errors
    assert str(error).startswith("task 'only': its deferred ctx.checkpoint() was not written: ")
    assert isinstance(error.__cause__, OSError) and type(error.__cause__).__name__ in str(error)
    assert runs == ["only"] and blocker.read_text() == "not a directory"


def test_a_later_good_checkpoint_is_still_written(tmp_path):
    runs: list[str] = []
    with workflow("later") as wf:
        @task(inject_context=True)
        def bad(ctx):
            runs.append("bad")
            ctx.checkpoint(path=tmp_path / "bad")
            ctx.get_channel().set("stream", (i for i in range(2)))

        @task(inject_context=True)
        def good(ctx):
            runs.append("good")
            ctx.get_channel().delete("stream")
            ctx.checkpoint(path=tmp_path / "good")
            return 7

        bad >> good
    with pytest.warns(RuntimeWarning, match="channel key 'stream'"):
        assert wf.execute("bad", session_id="L") == 7
    run = wf.last_run
    assert len(run.checkpoint_errors) == 1 and run.checkpoints == [str(tmp_path / "good.pkl")]
    wf.resume(run.checkpoints[0])
    assert runs == ["bad", "good"]  # resuming after the last task runs nothing again
    assert wf.last_run.task_counts() == {"bad": 1, "good": 1}


def test_an_immediate_checkpoint_that_cannot_be_saved_raises_in_the_task_that_asked(tmp_path):
    caught: list[str] = []

    def ask(ctx):
        ctx.get_channel().set("guard", threading.Lock())
        try:
            ctx.checkpoint(path=tmp_path / "now", deferred=False)
        except SnapshotError as error:
            caught.append(str(error))
        ctx.get_channel().delete("guard")

    wf = chain_flow("immediate", ask)
    assert wf.execute("a", session_id="I") == 20  # the task caught it: the run is its own
    (message,) = caught
    assert "channel key 'guard' (session 'I', a lock)" in message
    assert wf.last_run.checkpoint_errors == [] and os.listdir(tmp_path) == []
