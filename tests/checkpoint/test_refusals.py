"""What a checkpoint refuses, with one clear error, leaving the run as it was."""

from __future__ import annotations

import os
import pickle
import threading

import ckpt_flows
import pytest

from graflow_nb import task, workflow
from graflow_nb.core.snapshot import GraphChangedError, SnapshotError


@pytest.fixture(autouse=True)
def fresh_runs():
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()


def _paused_hitl(tmp_path):
    wf = ckpt_flows.hitl()
    wf.execute("fetch", session_id="S", checkpoint_dir=tmp_path)
    return str(tmp_path / "S.pkl")


def test_a_graph_that_changed_shape_is_refused_naming_what_was_added_and_removed(tmp_path):
    path = _paused_hitl(tmp_path)
    wf = ckpt_flows.hitl(fixed=True)
    with wf:
        @task
        def audit():
            return "audit"

        wf.graph.nodes["store"] >> audit
    wf.graph.remove_node("c1")
    with pytest.raises(GraphChangedError) as refused:
        wf.resume(path, answers={"S_a": True})
    message = str(refused.value)
    assert "added tasks: 'task:audit'" in message and "'store' >> 'audit'" in message
    assert "removed tasks: 'task:c1'" in message
    assert refused.value.added["edges"] == [("store", "audit")]
    assert refused.value.removed["tasks"] == ["task:c1"]
    assert len(message) < 2000
    assert wf.last_run is None  # nothing ran


def test_a_lock_in_the_channel_is_refused_at_save_time_naming_the_key_and_the_run_is_untouched(tmp_path):
    with workflow("locked") as wf:
        @task(inject_context=True)
        def setup(ctx):
            ctx.get_channel().set("guard", threading.Lock())
            return 1

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

        setup >> ask
    paused = wf.execute("setup", session_id="L")
    run = wf.last_run
    before = (run.status, [p.key for p in run.pending_inputs()], run.session_tree())
    with pytest.raises(SnapshotError) as refused:
        run.save(tmp_path / "L.pkl")
    assert "channel key 'guard' (session 'L', a lock)" in str(refused.value)
    assert os.listdir(tmp_path) == []  # no file, not even half of one
    assert (run.status, [p.key for p in run.pending_inputs()], run.session_tree()) == before
    assert paused.resume("L", True) is True  # the run goes on as if nothing was tried


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path):
    with workflow("again") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

    wf.execute("ask", session_id="A")
    path = wf.last_run.save(tmp_path)
    good = {name: (tmp_path / name).read_bytes() for name in sorted(os.listdir(tmp_path))}
    wf.last_run.root_context.channel.set("stream", (i for i in range(3)))
    with pytest.raises(SnapshotError, match="channel key 'stream'"):
        wf.last_run.save(tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in sorted(os.listdir(tmp_path))} == good
    assert pickle.loads(good["A.pkl"]).metadata.session_id == "A" and path.endswith("A.pkl")


def test_an_unsaveable_run_with_a_checkpoint_dir_says_so_on_its_error(tmp_path):
    with workflow("gen") as wf:
        @task
        def produce():
            return (i for i in range(3))

        @task
        def fail(produce):
            raise KeyError("no")

        produce >> fail
    with pytest.raises(KeyError) as failed:
        wf.execute("produce", session_id="G", checkpoint_dir=tmp_path)
    assert any("no checkpoint written" in n and "'produce.__result__'" in n for n in failed.value.__notes__)
    assert os.listdir(tmp_path) == []


def test_a_task_made_at_run_time_from_a_local_function_needs_to_be_handed_in(tmp_path):
    def local_helper(ctx):
        return ctx.request_approval("local?")

    with workflow("local") as wf:
        @task(inject_context=True)
        def spawn(ctx):
            ctx.next_task(task("helper", inject_context=True)(local_helper))

    wf.execute("spawn", session_id="Z", checkpoint_dir=tmp_path)
    with pytest.raises(SnapshotError) as refused:
        wf.resume(tmp_path / "Z.pkl", answers={"Z": True})
    assert "task 'helper' was created at run time in session 'Z'" in str(refused.value)
    assert "tasks={'helper': " in str(refused.value)
    assert wf.resume(tmp_path / "Z.pkl", answers={"Z": True}, tasks={"helper": local_helper}) is True


def test_nothing_is_written_unless_a_path_or_directory_is_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with workflow("quiet") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

        @task(inject_context=True)
        def save_here(ctx):
            ctx.checkpoint()

    wf.execute("ask", session_id="Q")
    with pytest.raises(ValueError, match="say where to write the checkpoint"):
        wf.last_run.save()
    with pytest.raises(ValueError, match="say where to write the checkpoint"):
        wf.execute("save_here", session_id="Q2")
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_asked_for_in_a_branch_is_refused(tmp_path):
    wf = ckpt_flows.branch_flow("branchy", lambda ctx: ctx.checkpoint(path=tmp_path))
    with pytest.raises(Exception) as refused:
        wf.execute("src", session_id="B")
    assert isinstance(refused.value.__cause__, SnapshotError)
    assert "in branch session 'B_a' is refused" in str(refused.value.__cause__)
    assert os.listdir(tmp_path) == []


def test_a_file_that_is_not_a_checkpoint_is_refused_naming_it(tmp_path):
    bogus = tmp_path / "x.pkl"
    bogus.write_bytes(b"not a pickle")
    with pytest.raises(SnapshotError, match="x.pkl' cannot be loaded"):
        ckpt_flows.hitl().resume(bogus)
    with pytest.raises(SnapshotError, match="cannot read checkpoint"):
        ckpt_flows.hitl().resume(tmp_path / "missing.pkl")


def test_errors_that_cannot_travel_are_kept_by_name_and_the_failed_run_still_resumes(tmp_path):
    class NeedsTwo(Exception):  # pickles, then cannot be rebuilt from its args
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    broken = {"on": True}
    with workflow("odd_errors") as wf:
        @task
        def first():
            return 1

        @task
        def second(first):
            if broken["on"]:
                raise NeedsTwo("x", "y")
            return first + 1

        first >> second
    with pytest.raises(NeedsTwo):
        wf.execute("first", session_id="E", checkpoint_dir=tmp_path)
    saved = pickle.loads((tmp_path / "E.pkl").read_bytes()).state
    assert [(type(tr.error).__name__, str(tr.error)) for tr in saved.task_runs if tr.error is not None] == [
        ("UnpicklableError", "NeedsTwo: x/y")
    ]
    broken["on"] = False
    assert wf.resume(tmp_path / "E.pkl") == 2


def test_hostile_session_ids_make_safe_file_names_inside_the_directory(tmp_path):
    hostile = "../../etc/passwd\n'\"<b>&" + "é" * 2000
    with workflow("hostile") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

    wf.execute("ask", session_id=hostile, checkpoint_dir=tmp_path)
    (path,) = wf.last_run.checkpoints
    assert os.path.dirname(path) == str(tmp_path) and len(os.path.basename(path)) < 100
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(path)[: -len(".pkl")] + s for s in (".pkl", ".state.json", ".meta.json"))
    assert wf.resume(path, answers={hostile: True}) is True
    assert wf.last_run.root_session_id == hostile


def test_a_ready_parallel_run_that_stopped_is_not_saved_half_described(tmp_path):
    with workflow("ready") as wf:
        @task
        def a():
            return 1

        @task
        def b(a):
            raise ValueError("b")

        a >> b
    with pytest.raises(ValueError):
        wf.execute("a", session_id="R", ready_parallel=True)
    with pytest.raises(SnapshotError, match="ready_parallel=True"):
        wf.last_run.save(tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_group_that_timed_out_resumes_with_its_whole_timeout_and_its_abandoned_member_runs_again(tmp_path):
    release = threading.Event()
    stuck = {"on": True}
    runs = []
    with workflow("timed") as wf:
        @task
        def src():
            return 0

        @task
        def quick():
            runs.append("quick")
            return "q"

        @task
        def slow():
            runs.append("slow")
            if stuck["on"]:
                release.wait(60)  # blocks until the test ends: the group gives up on it first
            return "s"

        @task
        def sink(quick, slow):
            return quick + slow

        src >> (quick | slow).with_execution(timeout=0.2) >> sink
    try:
        with pytest.raises(Exception, match="timed out after 0.2 s"):
            wf.execute("src", session_id="T", checkpoint_dir=tmp_path)
        assert wf.last_run.sessions["T_slow"].state == "abandoned"
        stuck["on"] = False
        runs.clear()
        assert wf.resume(tmp_path / "T.pkl") == "qs"
        assert runs == ["slow"] and wf.last_run.sessions["T_slow"].state == "merged"
    finally:
        release.set()
