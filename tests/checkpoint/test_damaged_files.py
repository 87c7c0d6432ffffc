"""Damaged, truncated, inconsistent and older-format checkpoints: one error type
(``CheckpointFileError``) naming the file, the part at fault, the format the files
have and the one this version reads; never a raw AttributeError, KeyError,
TypeError or ValueError.  And the committed checkpoint graflow_nb 0.1.0 wrote (the
format before signing) is refused untrusted and resumes, trusted, to the right result.
"""

from __future__ import annotations

import json
import pickle
import shutil

import ckpt_flows
import crafted
import pytest

from graflow_nb.core import checkpoint
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.snapshot import SnapshotError

FIXTURE = crafted.FIXTURES / "diamond-0.1.0.pkl"


@pytest.fixture(autouse=True)
def fresh_runs():
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()


def _fixture_copy(tmp_path):
    for suffix in (".pkl", ".meta.json", ".state.json"):
        shutil.copy(FIXTURE.with_name("diamond-0.1.0" + suffix), tmp_path / ("diamond-0.1.0" + suffix))
    return tmp_path / "diamond-0.1.0.pkl"


def _file_error(call) -> SnapshotError:
    with pytest.raises(SnapshotError) as refused:
        call()
    error = refused.value
    assert type(error).__name__ in ("CheckpointFileError", "UntrustedCheckpointError"), repr(error)
    assert "\n" not in str(error) and len(str(error)) < 1200
    return error


def test_the_checkpoint_graflow_nb_0_1_0_wrote_is_refused_untrusted_and_resumes_trusted(tmp_path):
    pkl = _fixture_copy(tmp_path)
    error = _file_error(lambda: ckpt_flows.diamond(fixed=True).resume(pkl))
    assert str(error) == (
        f"checkpoint {str(pkl)!r} cannot be loaded: it is not signed (graflow_nb 0.1.0 wrote checkpoints unsigned), "
        f"and nothing in it was unpickled (the files are format 1; this graflow_nb reads format 2); if you wrote it, "
        f"or trust whoever did, load it with trust=True (--trust for graflow-nb resume and %graflow resume) or sign it "
        f"as yours once with `graflow-nb trust PATH`: a checkpoint you trust can run code"
    )
    assert (error.part, error.found_format, error.reason) == ("diamond-0.1.0.meta.json", 1, "unsigned")
    assert ckpt_flows.RUNS == []

    wf = ckpt_flows.diamond(fixed=True)
    assert wf.resume(pkl, trust=True) == 10
    assert ckpt_flows.RUNS == ["right", "store"]  # fetch and left finished before the save
    assert wf.last_run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "left": 1, "right": 1, "store": 1}
    assert [(tr.task_id, tr.status) for tr in wf.last_run.task_runs if tr.task_id == "right"] == [
        ("right", "failed"), ("right", "succeeded")]
    assert CheckpointManager.load_metadata(pkl, trust=True).checkpoint_id == "a5ed9de10162"


def test_trusting_the_old_checkpoint_once_signs_it_and_it_then_resumes_plainly(tmp_path):
    pkl = _fixture_copy(tmp_path)
    assert checkpoint.trust_checkpoint(pkl) == "a5ed9de10162"
    meta = json.loads((tmp_path / "diamond-0.1.0.meta.json").read_text())
    assert meta["format"] == 2 and meta["checkpoint_id"] == "a5ed9de10162" and meta["status"] == "failed"
    assert pkl.read_bytes().endswith(b"\n#graflow_nb checkpoint format 2 id a5ed9de10162\n")
    assert ckpt_flows.diamond(fixed=True).resume(pkl) == 10
    assert ckpt_flows.RUNS == ["right", "store"]


def _saved_diamond(tmp_path):
    wf = ckpt_flows.diamond()
    with pytest.raises(Exception, match="right is broken"):
        wf.execute("fetch", session_id="F", checkpoint_dir=tmp_path)
    ckpt_flows.RUNS.clear()
    return tmp_path / "F.pkl"


def _meta(tmp_path, change):
    path = tmp_path / "F.meta.json"
    path.write_text(change(path.read_text()))


@pytest.mark.parametrize(
    "damage, part, said, found",
    [
        (lambda d: (d / "F.meta.json").write_text((d / "F.meta.json").read_text()[:40]),
         "F.meta.json", "its F.meta.json is not JSON (", 2),
        (lambda d: (d / "F.meta.json").write_text("[1, 2]"), "F.meta.json", "its F.meta.json holds a list, not an object", 2),
        (lambda d: _meta(d, lambda t: t.replace('"format": 2', '"format": 3')), "F.meta.json: format",
         "a newer graflow_nb wrote it", 3),
        (lambda d: _meta(d, lambda t: t.replace('"format": 2', '"format": "two"')), "F.meta.json: format",
         "its F.meta.json has a 'format' that is not a number", None),
        (lambda d: _meta(d, lambda t: t.replace('"signature": {', '"signature": 7, "x": {')), "F.meta.json: signature",
         "its F.meta.json has a damaged 'signature' field", 2),
        (lambda d: (d / "F.meta.json").unlink(), "F.meta.json", "its F.meta.json, which holds its signature, is missing", 2),
        (lambda d: (d / "F.state.json").unlink(), "F.state.json", "its F.state.json is missing", 2),
        (lambda d: (d / "F.pkl").write_bytes((d / "F.pkl").read_bytes()[:100]), "F.pkl",
         "the bytes of its F.pkl changed since it was signed", 2),
        (lambda d: (d / "F.state.json").write_bytes(b""), "F.state.json",
         "the bytes of its F.state.json changed since it was signed", 2),
    ],
    ids=["truncated meta", "meta a list", "newer format", "format not a number", "signature damaged",
         "meta missing", "state missing", "truncated pkl", "empty state"],
)
def test_a_damaged_set_is_one_error_naming_the_file_the_part_and_the_formats(tmp_path, damage, part, said, found):
    pkl = _saved_diamond(tmp_path)
    damage(tmp_path)
    for call in (
        lambda: ckpt_flows.diamond(fixed=True).resume(pkl),
        lambda: CheckpointManager.load_metadata(pkl),
        lambda: CheckpointManager.resume_from_checkpoint(pkl, ckpt_flows.diamond(fixed=True)),
    ):
        error = _file_error(call)
        message = str(error)
        assert message.startswith(f"checkpoint {str(pkl)!r} cannot be loaded: {said}")
        has = "an unknown format" if found is None else f"format {found}"
        assert f"(the files are {has}; this graflow_nb reads format 2)" in message
        assert (error.part, error.found_format, error.path) == (part, found, str(pkl))
    assert ckpt_flows.RUNS == []


def _rewritten(pkl, change):
    """``pkl``'s checkpoint changed by ``change(checkpoint)`` and written back, unsigned:
    a file an older or buggy writer could have left."""
    loaded = pickle.loads(pkl.read_bytes())
    change(loaded)
    pkl.write_bytes(pickle.dumps(loaded))


@pytest.mark.parametrize(
    "change, said, part",
    [
        (lambda c: delattr(c.state, "resumes"), "holds a damaged checkpoint: state (a RunState) has no field 'resumes'",
         "pkl: state"),
        (lambda c: delattr(c.state.sessions[1], "queue"),
         "holds a damaged checkpoint: state.sessions[1] (a SessionState) has no field 'queue'", "pkl: state.sessions[1]"),
        (lambda c: setattr(c.state, "format", 0), "holds a damaged checkpoint: state.format is 0, this graflow_nb reads "
         "run-state format 1", "pkl: state.format"),
        (lambda c: setattr(c, "state", {"sessions": []}), "holds a damaged checkpoint: metadata/state are a "
         "CheckpointMetadata and a dict", "pkl: metadata/state"),
        (lambda c: setattr(c.state.sessions[0], "groups", ["x"]),
         "holds a damaged checkpoint: state.sessions[0].groups[0] is a str", "pkl: state.sessions[0].groups[0]"),
    ],
    ids=["run field missing", "session field missing", "old run-state format", "state not a RunState", "group a str"],
)
def test_an_older_or_inconsistent_pickle_loaded_with_trust_is_one_clear_error(tmp_path, change, said, part):
    pkl = _saved_diamond(tmp_path)
    _rewritten(pkl, change)
    error = _file_error(lambda: ckpt_flows.diamond(fixed=True).resume(pkl, trust=True))
    assert str(error).startswith(f"checkpoint {str(pkl)!r} cannot be loaded: its F.pkl {said} (the files are format 1")
    assert error.part == part
    untrusted = _file_error(lambda: ckpt_flows.diamond(fixed=True).resume(pkl))  # the rewrite dropped its line
    assert untrusted.reason == "changed"


def test_records_that_do_not_fit_together_are_one_error_naming_the_file(tmp_path):
    pkl = _saved_diamond(tmp_path)
    _rewritten(pkl, lambda c: setattr(c.state, "root_session_id", "nobody"))
    error = _file_error(lambda: ckpt_flows.diamond(fixed=True).resume(pkl, trust=True))
    assert str(error).startswith("checkpoint 'F.pkl' cannot be restored: its records do not fit together or this "
                                 "workflow (KeyError: 'nobody')")
    _rewritten(pkl, lambda c: setattr(c.state.sessions[1], "queue", ["no_such_task"]))
    error = _file_error(lambda: ckpt_flows.diamond(fixed=True).resume(pkl, trust=True))
    assert "cannot be restored" in str(error) and "no_such_task" in str(error)


def test_a_pickle_of_something_else_or_garbage_is_one_error_even_when_trusted(tmp_path):
    pkl = tmp_path / "x.pkl"
    pkl.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    error = _file_error(lambda: checkpoint.load(pkl, trust=True))
    assert f"{str(pkl)!r} holds a dict, not a graflow_nb checkpoint" in str(error) and error.part == "pkl"
    pkl.write_bytes(b"\x80\x05garbage")
    error = _file_error(lambda: checkpoint.load(pkl, trust=True))
    assert "its x.pkl cannot be unpickled (UnpicklingError" in str(error)
    error = _file_error(lambda: checkpoint.load(tmp_path / "missing.pkl", trust=True))
    assert str(error).startswith(f"cannot read checkpoint {str(tmp_path / 'missing.pkl')!r}: No such file")
