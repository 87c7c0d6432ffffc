"""Tasks defined outside any ``with workflow(...)`` join a default workflow, as in
graflow (issue 28): ``current_workflow_context()`` is that workflow, its ``execute()``
with no start node starts at the graph's root, and a lone task runs by its id.  The
default workflow is the process's, so each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_tasks_defined_outside_a_block_run_from_the_default_workflow(tmp_path):
    done = run_python(
        """
        from graflow_nb import task, workflow
        from graflow_nb.core.workflow import current_workflow_context

        def build():
            @task
            def first():
                print("first")
                return 1

            @task
            def second(first):
                print("second got", first)
                return first + 1

            first >> second

        build()
        default = current_workflow_context()
        print("result", default.execute())          # no start node: the root, `first`

        def later():
            @task
            def lonely():
                print("lonely in", current_workflow_context() is default)

        with workflow("explicit") as wf:
            @task
            def inside():
                return "inside"
        later()
        default.execute("lonely")
        print("explicit has", sorted(wf.graph.nodes), "default has", "inside" in default.graph.nodes)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "first",
        "second got 1",
        "result 2",
        "lonely in True",
        "explicit has ['inside'] default has False",
    ]


def test_a_task_defined_again_outside_a_block_replaces_the_old_one(tmp_path):
    """A notebook cell run twice defines its task twice: the second is the one that runs,
    and defining it is never a duplicate-id error."""
    done = run_python(
        """
        from graflow_nb import task
        from graflow_nb.core.workflow import current_workflow_context

        for version in (1, 2):
            @task("step")
            def step(version=version):
                print("step version", version)

        current_workflow_context().execute("step")
        print(len(current_workflow_context().graph.nodes))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["step version 2", "1"]
