"""A checkpoint runs nothing unless this user signed it or trusts it deliberately.

Each hostile file is a pickle whose loading would create a marker file (and does
nothing else); the oracle is that the marker never appears and the one error names
the file, what failed and how to trust it.  On graflow_nb 0.1.0 every entry point
unpickled the file, so each of these made the marker.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil

import ckpt_flows
import crafted
import pytest
import yaml

from graflow_nb import task, workflow
from graflow_nb.core import checkpoint
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.snapshot import SnapshotError
from graflow_nb.core.task import TaskWrapper


@pytest.fixture(autouse=True)
def fresh_runs():
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()


ENTRY_POINTS = {
    "wf.resume(str)": lambda pkl: ckpt_flows.diamond(fixed=True).resume(str(pkl)),
    "wf.resume(Path)": lambda pkl: ckpt_flows.diamond(fixed=True).resume(pkl),
    "resume_from_checkpoint": lambda pkl: CheckpointManager.resume_from_checkpoint(pkl, ckpt_flows.diamond(fixed=True)),
    "load_metadata": lambda pkl: CheckpointManager.load_metadata(pkl),
    "checkpoint.load": lambda pkl: checkpoint.load(pkl),
}


def _refused(call, pkl, marker):
    with pytest.raises(SnapshotError) as refused:
        call(pkl)
    assert not marker.exists(), "loading the file ran its code"
    return refused.value


@pytest.mark.parametrize("layout", sorted(crafted.SETS))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_crafted_checkpoint_runs_nothing_at_any_entry_point(tmp_path, layout, entry):
    marker = tmp_path / "marker"
    pkl = crafted.SETS[layout](tmp_path / "ck", marker)
    error = _refused(ENTRY_POINTS[entry], pkl, marker)
    message = str(error)
    assert type(error).__name__ == "UntrustedCheckpointError" and isinstance(error, checkpoint.CheckpointFileError)
    assert message.startswith(f"checkpoint {str(pkl)!r} cannot be loaded: ")
    assert "nothing in it was unpickled" in message and "trust=True" in message and "graflow-nb trust" in message
    assert "\n" not in message and len(message) < 1000
    expected = {
        "lone pickle": ("it is not signed", "format 1; this graflow_nb reads format 2", "unsigned"),
        "format 1": ("it is not signed (graflow_nb 0.1.0 wrote", "format 1; this graflow_nb reads format 2", "unsigned"),
        "forged signature": ("it was signed with another secret", "format 2; this graflow_nb reads format 2", "other secret"),
    }[layout]
    assert expected[0] in message and expected[1] in message and error.reason == expected[2]


def _signed_diamond(folder):
    """A failed diamond run saved by this user: ``folder / 'F.pkl'``."""
    wf = ckpt_flows.diamond()
    with pytest.raises(Exception, match="right is broken"):
        wf.execute("fetch", session_id="F", checkpoint_dir=folder)
    ckpt_flows.RUNS.clear()
    return folder / "F.pkl"


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_signed_checkpoint_whose_pickle_was_swapped_runs_nothing(tmp_path, entry):
    marker = tmp_path / "marker"
    pkl = crafted.swapped_into(_signed_diamond(tmp_path), marker)
    error = _refused(ENTRY_POINTS[entry], pkl, marker)
    assert error.reason == "changed" and error.part == "F.pkl"
    assert "the bytes of its F.pkl changed since it was signed, and nothing in it was unpickled" in str(error)


def test_graflow_nb_trust_signs_a_file_without_loading_it(tmp_path):
    marker = tmp_path / "marker"
    pkl = crafted.forged(tmp_path / "ck", marker)
    checkpoint.trust_checkpoint(pkl)  # the user said so: signed as theirs, still nothing loaded
    assert not marker.exists()
    assert CheckpointManager.load_metadata(pkl).checkpoint_id == "0123456789ab"  # reads JSON only
    assert not marker.exists()


def _paused_dynamic(tmp_path, function, flow=ckpt_flows.dynamic_flow, inject_context=False, **bound):
    """The dynamic flow paused with its run-time task ``helper`` running ``function``
    (bound arguments ``bound``), saved by this user: a file made only of graflow_nb's
    own records, signed."""
    wf = flow()
    wf.execute("fetch", session_id="D")
    branch = wf.last_run.sessions["D_spawner"].context
    branch.dynamic_nodes["helper"] = TaskWrapper(
        "helper", function, register_to_context=False, inject_context=inject_context, bound_kwargs=bound
    )
    ckpt_flows.RUNS.clear()
    return wf.last_run.save(tmp_path / "D.pkl")


def test_a_record_naming_a_standard_library_function_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "marker"
    path = _paused_dynamic(tmp_path, os.system, command=f"touch {marker}")
    assert json.loads((tmp_path / "D.meta.json").read_text())["session_id"] == "D"
    for trusted in (False, True):
        wf = ckpt_flows.dynamic_flow(fixed=True)
        with pytest.raises(SnapshotError) as refused:
            wf.resume(path, answers={"D_spawner": True, "D_looper": True}, trust=trusted)
        assert not marker.exists()
        message = str(refused.value)
        assert "task 'helper' (created at run time in session 'D_spawner') runs 'posix:system'" in message
        assert "'posix' is built into Python, not your own code" in message
        assert "tasks={'helper': <the function>}" in message
    # handed in by the caller, the code is the caller's choice
    wf = ckpt_flows.dynamic_flow(fixed=True)
    helper = TaskWrapper("helper", ckpt_flows.helper_body, register_to_context=False, inject_context=True)
    outcome = wf.resume(path, answers={"D_spawner": True, "D_looper": True}, tasks={"helper": helper})
    assert outcome == 3 and not marker.exists()
    assert ckpt_flows.RUNS.count("helper") == 1


def test_records_naming_library_functions_are_refused(tmp_path):
    path = _paused_dynamic(tmp_path, shutil.rmtree, path=str(tmp_path / "keep"))
    (tmp_path / "keep").mkdir()
    with pytest.raises(SnapshotError, match=r"runs 'shutil:rmtree', and 'shutil' is part of the standard library"):
        ckpt_flows.dynamic_flow(fixed=True).resume(path, answers={"D_spawner": True, "D_looper": True})
    assert (tmp_path / "keep").is_dir()
    path = _paused_dynamic(tmp_path, yaml.dump, data=1)
    with pytest.raises(SnapshotError, match=r"runs 'yaml:dump', and 'yaml' is an installed package, not your own code"):
        ckpt_flows.dynamic_flow(fixed=True).resume(path, answers={"D_spawner": True, "D_looper": True})
    path = _paused_dynamic(tmp_path, checkpoint.trust_checkpoint, source=str(tmp_path / "D.pkl"))
    with pytest.raises(SnapshotError, match=r"'graflow_nb.core.checkpoint' is graflow_nb itself, not your own code"):
        ckpt_flows.dynamic_flow(fixed=True).resume(path, answers={"D_spawner": True, "D_looper": True})


def _with_a_library_task():
    """The dynamic flow, plus a task (never run) whose function is ``yaml.safe_dump``."""
    wf = ckpt_flows.dynamic_flow()
    with wf:
        task("dump")(yaml.safe_dump)
    return wf


def test_a_library_function_is_found_only_where_a_task_of_the_workflow_runs_it(tmp_path):
    path = _paused_dynamic(tmp_path, yaml.dump, flow=_with_a_library_task, data=[1])
    with pytest.raises(SnapshotError, match=r"runs 'yaml:dump', and 'yaml' is an installed package"):
        _with_a_library_task().resume(path, answers={"D_spawner": True, "D_looper": True})
    path = _paused_dynamic(tmp_path, yaml.safe_dump, flow=_with_a_library_task, data=[1])
    wf = _with_a_library_task()
    assert wf.resume(path, answers={"D_spawner": True, "D_looper": True}) == 3
    (helper,) = [tr for tr in wf.last_run.runs_after_checkpoint() if tr.task_id == "helper"]
    assert helper.status == "succeeded" and helper.result == "- 1\n"


def _changed(path, old: bytes, new: bytes):
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))


def _money_run(tmp_path):
    """A paused run whose channel holds ``pay 100 to alice``; saved by this user."""
    with workflow("pay") as wf:
        @task(inject_context=True)
        def prepare(ctx):
            # built here, so the whole text is in the channel only (the saved code
            # holds its pieces)
            ctx.get_channel().set("order", " ".join(["pay", "100", "to", "alice"]))

        @task(inject_context=True)
        def approve(ctx):
            return ctx.request_approval("pay?")

        @task(inject_context=True)
        def pay(ctx):
            return ctx.get_channel().get("order")

        prepare >> approve >> pay
    wf.execute("prepare", session_id="M")
    return wf, wf.last_run.save(tmp_path / "M.pkl")


@pytest.mark.parametrize(
    "part, old, new, reason",
    [
        ("M.pkl", b"pay 100 to alice", b"pay 900 to mallo", "changed"),
        ("M.state.json", b"\"workflow\": \"pay\"", b"\"workflow\": \"pax\"", "changed"),
        ("M.meta.json", b'"status": "paused"', b'"status": "paused "', "changed"),
    ],
)
def test_a_byte_changed_in_any_of_the_three_files_is_refused(tmp_path, part, old, new, reason):
    wf, path = _money_run(tmp_path)
    _changed(tmp_path / part, old, new)
    with pytest.raises(SnapshotError) as refused:
        wf.resume(path, answers={"M": True})
    error = refused.value
    assert type(error).__name__ == "UntrustedCheckpointError" and error.reason == reason
    assert f"its {part} changed since it was signed" in str(error)
    assert error.part == part
    with pytest.raises(SnapshotError):
        CheckpointManager.load_metadata(path)
    if part == "M.pkl":  # trusted deliberately, the changed file loads as it now is
        assert wf.resume(path, answers={"M": True}, trust=True) == "pay 900 to mallo"


def test_files_from_two_saves_are_refused_as_a_mixed_set(tmp_path):
    wf, path = _money_run(tmp_path)
    first = (tmp_path / "M.pkl").read_bytes()
    first_state = (tmp_path / "M.state.json").read_bytes()
    wf.last_run.save(path)  # a second save: another checkpoint id
    (tmp_path / "M.pkl").write_bytes(first)
    with pytest.raises(SnapshotError) as refused:
        wf.resume(path, answers={"M": True})
    assert refused.value.reason == "mixed" and "its files come from different saves (M.pkl is checkpoint '" in str(refused.value)
    wf.last_run.save(path)
    (tmp_path / "M.state.json").write_bytes(first_state)
    with pytest.raises(SnapshotError, match=r"different saves \(M.state.json is checkpoint"):
        CheckpointManager.load_metadata(path)


def test_metadata_is_read_from_json_alone(tmp_path):
    """A crafted .pkl beside a meta.json this user signed: load_metadata never opens it."""
    wf, path = _money_run(tmp_path)
    meta = CheckpointManager.load_metadata(path)
    marker = tmp_path / "marker"
    (tmp_path / "M.pkl").write_bytes(pickle.dumps(crafted.MakesMarker(marker)))
    assert CheckpointManager.load_metadata(path, trust=True) == meta
    assert not marker.exists()
    with pytest.raises(SnapshotError, match="the bytes of its M.pkl changed"):
        CheckpointManager.load_metadata(path)
    assert not marker.exists()


def test_a_checkpoint_this_user_wrote_resumes_with_no_extra_argument_and_trust_signs_it_again(tmp_path):
    pkl = _signed_diamond(tmp_path)
    assert ckpt_flows.diamond(fixed=True).resume(pkl) == 10
    assert ckpt_flows.RUNS == ["right", "store"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F.meta.json", "F.pkl", "F.state.json"]  # no lock file left
    meta = json.loads((tmp_path / "F.meta.json").read_text())
    assert meta["format"] == 2 and meta["signature"]["algorithm"] == "hmac-sha256"
    state = json.loads((tmp_path / "F.state.json").read_text())
    assert state["checkpoint_id"] == meta["checkpoint_id"] and state["frontier"] == {"F": ["ParallelGroup_1"], "F_right": ["right"]}
    assert pickle.loads(pkl.read_bytes()).metadata.checkpoint_id == meta["checkpoint_id"]  # still a plain pickle
