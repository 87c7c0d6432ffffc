"""``graflow-nb run --cache DIR``: python steps are replayed from the signed entries in
DIR when their function and inputs are unchanged; shell steps always run."""

from __future__ import annotations

import io
import json
import sys

import pytest
import ran

from graflow_nb.cli import main
from graflow_nb.core import cache_files

STAMP = "import sys; open(sys.argv[1], 'a').write('x')"


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A secret, process-wide folder stores and call counts of the test's own."""
    monkeypatch.setenv("GRAFLOW_NB_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setattr(cache_files, "_STORES", {})
    ran.RUNS.clear()
    yield
    ran.RUNS.clear()


@pytest.fixture
def pipeline(isolated, tmp_path):
    steps = [
        {"id": "load", "type": "python", "function": "cached_steps:load", "params": {"n": "${workflow.n}"}},
        {"id": "total", "type": "python", "function": "cached_steps:total", "params": {"values": "${load}"}},
        {"id": "stamp", "type": "shell", "params": {"cmd": [sys.executable, "-c", STAMP, str(tmp_path / "stamps")]}},
    ]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"inputs": {"n": {}}, "pipeline": steps}))
    return path


def test_python_steps_replay_and_shell_steps_run(pipeline, tmp_path):
    folder = str(tmp_path / "cache")
    code, out, err = cli("run", str(pipeline), "--json", "--input", "n=4", "--cache", folder)
    assert code == 0, err
    first = json.loads(out)["results"]
    cache_files._STORES.clear()  # as a new process would: the folder is read again
    code, out, _ = cli("run", str(pipeline), "--json", "--input", "n=4", "--cache", folder)
    assert code == 0
    assert json.loads(out)["results"] == first
    assert ran.RUNS == {"load": 1, "total": 1}
    assert (tmp_path / "stamps").read_text() == "xx"  # the shell step ran both times
    code, out, _ = cli("run", str(pipeline), "--json", "--input", "n=5", "--cache", folder)
    assert json.loads(out)["results"]["total"] == 10
    assert ran.RUNS == {"load": 2, "total": 2}


def test_graflow_nb_resume_keeps_entries_in_the_cache_folder_its_run_had(isolated, tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("")
    steps = [
        {"id": "load", "type": "python", "function": "cached_steps:load", "params": {"n": 3}},
        {"id": "checked", "type": "python", "function": "cached_steps:checked",
         "params": {"values": "${load}", "broken_flag": str(flag)}},
        {"id": "total", "type": "python", "function": "cached_steps:total", "params": {"values": "${checked}"}},
    ]
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"pipeline": steps}))
    folder, checkpoints = tmp_path / "cache", tmp_path / "checkpoints"
    code, _, err = cli("run", str(path), "--cache", str(folder), "--checkpoint-dir", str(checkpoints))
    assert code != 0 and "not yet" in err
    [checkpoint] = checkpoints.glob("*.pkl")
    flag.unlink()
    cache_files._STORES.clear()  # as a new process would
    code, out, err = cli("resume", str(path), str(checkpoint), "--json")  # no --cache: the checkpoint names it
    assert code == 0, err
    assert json.loads(out)["results"]["total"] == 30
    assert ran.RUNS == {"load": 1, "checked": 2, "total": 1}
    assert len(list(folder.glob("*.entry"))) == 3  # load's, and checked's and total's from the resumed run
    cache_files._STORES.clear()
    code, out, _ = cli("run", str(path), "--json", "--cache", str(folder))
    assert json.loads(out)["results"]["total"] == 30
    assert ran.RUNS == {"load": 1, "checked": 2, "total": 1}  # all replayed
