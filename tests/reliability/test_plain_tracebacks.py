"""Outside IPython too: a failing branch under a plain ``wf.execute(...)`` in a script
prints the task's lines and the caller's, not the engine's (unless
``GRAFLOW_NB_ENGINE_FRAMES=1`` asks for them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# the checkout under test: the one PYTHONPATH names, else this one
ROOT = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[2])

SCRIPT = textwrap.dedent("""
    from graflow_nb import task, workflow
    with workflow("models") as wf:
        @task
        def load(): return [1, 2, 3]
        @task
        def ridge(load): return sum(load) / 0
        @task
        def forest(load): return max(load)
        load >> (ridge | forest)
    wf.execute("load", session_id="S")
""")


def run_script(tmp_path: Path, **env: str) -> str:
    script = tmp_path / "analysis.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT, **env},
    )
    assert done.returncode == 1, done.stderr
    return done.stderr


def test_a_script_shows_the_tasks_and_the_callers_frames(tmp_path):
    stderr = run_script(tmp_path)
    files = [line.strip() for line in stderr.splitlines() if line.strip().startswith("File ")]
    assert files[0].endswith("line 7, in ridge") and "analysis.py" in files[0], files
    assert "analysis.py" in files[1] and files[1].endswith("in <module>"), files
    # one frame of the package: the execute() that raised the run's error to its caller
    assert [f for f in files if "graflow_nb" in f] == [files[-1]] and files[-1].endswith("in execute"), files
    assert stderr.rstrip().splitlines()[-1] == "[graflow_nb] raised by task 'ParallelGroup_1' in session 'S'"


def test_a_script_shows_the_engines_frames_on_request(tmp_path):
    stderr = run_script(tmp_path, GRAFLOW_NB_ENGINE_FRAMES="1")
    engine = [line for line in stderr.splitlines() if "graflow_nb/core/" in line]
    assert any("engine.py" in line for line in engine) and any("coordinator.py" in line for line in engine), stderr
    assert "in ridge" in stderr
