"""graflow 0.2.0's path rule for ``ctx.checkpoint(path=)``, ``create_checkpoint(path=)``
and ``run.save(path)``: ``.pkl`` is the file, anything else is the base name of the
three files; only a path ending in a separator or naming an existing directory is a
folder to put ``<session id>.pkl`` in."""

from __future__ import annotations

import os

import pytest
from ckpt_flows import RUNS, chain_flow

from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.engine import WorkflowEngine


@pytest.fixture(autouse=True)
def fresh_runs():
    """``ckpt_flows.RUNS`` empty around each test: what a resume ran again is read off it."""
    RUNS.clear()
    yield
    RUNS.clear()


def saving_flow(name: str, path):
    """a >> b >> c; b asks for a deferred checkpoint at ``path`` the first time it runs."""
    return chain_flow(name, lambda ctx: ctx.checkpoint(path=path))


def names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_path_without_a_suffix_is_the_base_name_of_the_three_files(tmp_path):
    wf = saving_flow("base", str(tmp_path / "dir" / "x"))
    assert wf.execute("a", session_id="P") == 20
    assert names(tmp_path / "dir") == ["x.meta.json", "x.pkl", "x.state.json"]
    assert wf.last_run.checkpoints == [str(tmp_path / "dir" / "x.pkl")]

    again = saving_flow("base", None)
    with again:
        ctx, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "dir" / "x"))  # base name, as graflow
    RUNS.clear()
    assert meta.session_id == "P" and WorkflowEngine().execute(ctx) == 20
    assert RUNS == ["c"]


def test_create_checkpoint_and_run_save_follow_the_same_rule(tmp_path):
    wf = saving_flow("same", str(tmp_path / "first.pkl"))
    wf.execute("a", session_id="Q")
    pkl, _meta = CheckpointManager.create_checkpoint(wf.last_run.root_context, path=tmp_path / "out" / "done")
    assert pkl == str(tmp_path / "out" / "done.pkl")
    assert wf.last_run.save(tmp_path / "out" / "run.v2") == str(tmp_path / "out" / "run.v2.pkl")  # graflow: + .pkl
    assert names(tmp_path / "out") == [
        "done.meta.json", "done.pkl", "done.state.json", "run.v2.meta.json", "run.v2.pkl", "run.v2.state.json"]
    assert names(tmp_path)[:3] == ["first.meta.json", "first.pkl", "first.state.json"]


def test_a_trailing_separator_or_an_existing_directory_gets_the_session_file_inside(tmp_path):
    wf = saving_flow("folder", str(tmp_path / "new") + os.sep)
    wf.execute("a", session_id="R 1/x")  # a hostile session id still makes one safe file name
    (inside,) = [n for n in names(tmp_path / "new") if n.endswith(".pkl")]
    assert inside.startswith("R_1_x-") and len(names(tmp_path / "new")) == 3

    (tmp_path / "there").mkdir()
    assert wf.last_run.save(tmp_path / "there") == str(tmp_path / "there" / inside)
    assert not (tmp_path / "there.pkl").exists()


def test_an_empty_path_is_refused_in_the_task_that_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wf = saving_flow("empty", "")
    with pytest.raises(ValueError, match="run 'E': checkpoint path '' is not a file or directory name"):
        wf.execute("a", session_id="E")
    assert RUNS == ["a", "b"] and names(tmp_path) == []
