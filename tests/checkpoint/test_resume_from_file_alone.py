"""``CheckpointManager.resume_from_checkpoint(path)`` in a process that never defined
the workflow resumes from the file alone, as graflow does (issue 28): the checkpoint
keeps its tasks' code by value (cloudpickle), and one ``SavedCodeWarning`` says that
saved code runs.  Only a checkpoint this user signed (or one passed with
``trust=True``) gets that far; with a workflow in scope, its code runs, as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAVE = """
import sys
from graflow_nb import task, workflow

with workflow("etl") as wf:
    @task
    def extract():
        return [1, 2, 3]

    @task(inject_context=True)
    def transform(ctx, extract):
        ctx.checkpoint(path=sys.argv[1], metadata={"stage": "transformed"})
        return [x * 10 for x in extract]

    @task
    def load(transform):
        print("saved code: load got", transform)
        return sum(transform)

    extract >> transform >> load
    print("first run", wf.execute("extract"))
"""

RESUME = """
import json, sys, warnings
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.engine import WorkflowEngine
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        ctx, meta = CheckpointManager.resume_from_checkpoint(sys.argv[1], trust=sys.argv[2] == "trust")
    except Exception as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
        raise SystemExit(0)
    result = WorkflowEngine().execute(ctx)
print(json.dumps({
    "result": result,
    "warnings": [(type(w.message).__name__, str(w.message)) for w in caught],
    "stage": meta.user_metadata,
    "last": ctx.last_checkpoint_path,
}))
"""

RESUME_IN_SCOPE = """
import json, sys, warnings
from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager
from graflow_nb.core.engine import WorkflowEngine

with workflow("etl") as wf:
    @task
    def extract():
        return [1, 2, 3]

    @task
    def transform(extract):
        return [x * 10 for x in extract]

    @task
    def load(transform):
        print("fixed code: load got", transform)
        return -sum(transform)

    extract >> transform >> load
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx, _meta = CheckpointManager.resume_from_checkpoint(sys.argv[1])
        result = WorkflowEngine().execute(ctx)
print(json.dumps({"result": result, "warnings": [str(w.message) for w in caught]}))
"""


def python(code: str, args: list[str], cwd: Path, secret: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / f"script_{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAFLOW_NB_SECRET_FILE": str(secret)}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False, env=env)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint written after ``transform`` by a script that then exits."""
    (tmp_path / "writer").mkdir()
    done = python(SAVE, [str(tmp_path / "cp")], tmp_path / "writer", tmp_path / "secret")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["saved code: load got [10, 20, 30]", "first run 60"]
    return tmp_path / "cp.pkl"


@pytest.mark.slow
def test_a_fresh_process_resumes_from_the_file_alone_with_one_warning(saved, tmp_path):
    (tmp_path / "reader").mkdir()
    # With the workflow in scope its own code runs (fix a task, resume), silently...
    fixed = python(RESUME_IN_SCOPE, [str(saved)], tmp_path / "reader", tmp_path / "secret")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines()[0] == "fixed code: load got [10, 20, 30]"
    assert json.loads(fixed.stdout.splitlines()[1]) == {"result": -60, "warnings": []}

    # ...and with none, the code saved in the checkpoint runs, with one warning.
    done = python(RESUME, [str(saved), "signed"], tmp_path / "reader", tmp_path / "secret")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "saved code: load got [10, 20, 30]"  # the saved task ran, only load
    report = json.loads(lines[1])
    assert report["result"] == 60
    assert report["stage"] == {"stage": "transformed"}
    assert report["last"] == str(saved)
    [(kind, message)] = report["warnings"]
    assert kind == "SavedCodeWarning"
    assert message.startswith(f"resume_from_checkpoint({str(saved)!r}): no workflow is in scope, so the task "
                              f"code saved in the checkpoint runs")


@pytest.mark.slow
def test_saved_code_from_a_checkpoint_someone_else_signed_never_runs(saved, tmp_path):
    (tmp_path / "reader").mkdir()
    other = tmp_path / "other_secret"
    done = python(RESUME, [str(saved), "signed"], tmp_path / "reader", other)
    assert done.returncode == 0, done.stderr
    assert "saved code" not in done.stdout
    report = json.loads(done.stdout)
    assert report["error"] == "UntrustedCheckpointError"
    assert str(saved) in report["message"]

    trusted = python(RESUME, [str(saved), "trust"], tmp_path / "reader", other)  # the user's decision
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.splitlines()[0] == "saved code: load got [10, 20, 30]"
    assert [k for k, _ in json.loads(trusted.stdout.splitlines()[1])["warnings"]] == ["SavedCodeWarning"]
