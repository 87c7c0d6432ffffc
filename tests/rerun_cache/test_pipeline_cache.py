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
def pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFLOW_NB_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setattr(cache_files, "_STORES", {})
    ran.RUNS.clear()
    steps = [
        {"id": "load", "type": "python", "function": "cached_steps:load", "params": {"n": "${workflow.n}"}},
        {"id": "total", "type": "python", "function": "cached_steps:total", "params": {"values": "${load}"}},
        {"id": "stamp", "type": "shell", "params": {"cmd": [sys.executable, "-c", STAMP, str(tmp_path / "stamps")]}},
    ]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"inputs": {"n": {}}, "pipeline": steps}))
    yield path
    ran.RUNS.clear()


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
