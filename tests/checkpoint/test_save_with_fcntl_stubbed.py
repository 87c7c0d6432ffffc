"""A checkpoint saved and resumed where ``fcntl`` is an empty stand-in module, as
JupyterLite's Pyodide kernel makes it (``pyodide_kernel.mocks`` puts
``types.ModuleType("fcntl")`` in ``sys.modules`` before any cell runs): ``import fcntl``
works there, but has no ``flock``.  Tutorial 06's checkpoint cells failed in the browser
with "module 'fcntl' has no attribute 'flock'".  Run in a fresh interpreter, since
graflow_nb reads ``fcntl`` when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import graflow_nb

HERE = Path(__file__).parent

CHILD = """
import json, os, sys, types
sys.modules["fcntl"] = types.ModuleType("fcntl")  # what JupyterLite's kernel does first

import ckpt_flows

folder = sys.argv[1]
wf = ckpt_flows.hitl()
paused = wf.execute("fetch", session_id="S", checkpoint_dir=folder)
saved = sorted(os.listdir(folder))
result = wf.resume(os.path.join(folder, "S.pkl"), answers={"S_a": True, "S_b": "bee", "S_c_c2": "red"})
print(json.dumps({"paused": paused.status, "saved": saved, "result": result, "left": sorted(os.listdir(folder))}))
"""


def test_a_checkpoint_is_saved_and_resumed_where_fcntl_has_no_flock(tmp_path: Path):
    # The child imports the graflow_nb this test imported (not whatever its folder holds).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(graflow_nb.__file__).parents[1]), str(HERE)])}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "ckpt")], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {
        "paused": "paused",
        "saved": ["S.meta.json", "S.pkl", "S.state.json"],
        "result": [["a", True, 10], ["b", "bee"], "c1+red"],
        "left": ["S.meta.json", "S.pkl", "S.state.json"],
    }
