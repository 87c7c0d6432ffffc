"""A newcomer's first analysis, read off a real Jupyter kernel's wire (what a front end
shows): the traceback of a failing branch under a plain ``wf.execute(...)``.

The traceback's frames are read from the ``error`` message's ``traceback`` lines (ANSI
colours removed): a frame is a line that names a file (or an IPython cell) and a line.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from kernels import kernel_in
from test_real_kernel import check_ok, run_cell, stdout_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ANSI = re.compile(r"\x1b\[[0-9;]*m")

FAILING_BRANCH = textwrap.dedent("""
    from graflow_nb import task, workflow
    with workflow("models") as wf:
        @task
        def load(): return [1, 2, 3]
        @task
        def ridge(load): return sum(load) / 0          # the user's mistake
        @task
        def forest(load): return max(load)
        @task
        def compare(ridge, forest): return ridge, forest
        load >> (ridge | forest) >> compare
""")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    with kernel_in(tmp_path_factory.mktemp("newcomer")) as (_manager, client):
        yield client


def failure(messages: list[dict]) -> str:
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1, [m["msg_type"] for m in messages]
    return ANSI.sub("", "\n".join(errors[0]["traceback"]))


def frames(text: str) -> list[str]:
    """Every frame line of an IPython traceback, in order (``File path:line`` or ``Cell In[n], line m``)."""
    return re.findall(r"^(?:File \S+:\d+|Cell In\[\d+\], line \d+).*$", text, flags=re.M)


def test_a_failing_branch_under_plain_execute_shows_the_users_frames_and_the_engines_on_request(kernel):
    messages, reply = run_cell(kernel, FAILING_BRANCH)
    check_ok(messages, reply)
    messages, _reply = run_cell(kernel, 'wf.execute("load", session_id="S")')
    text = failure(messages)
    shown = frames(text)
    # first the task's own line, then the cell's; of graflow_nb only the frame that
    # raised the run's error to the cell (IPython always shows the last frame)
    assert shown[0].startswith("Cell In[") and ", in ridge" in shown[0], shown
    assert shown[1].startswith("Cell In["), shown
    engine = [line for line in shown if "graflow_nb" in line]
    assert len(engine) <= 1 and shown[-1].startswith("File ") and "in WorkflowContext.execute" in shown[-1], shown
    assert "sum(load) / 0" in text
    assert len(text.splitlines()) < 30, text
    # the engine's last lines stay: which task failed, in which session
    assert "[graflow_nb] raised by task 'ridge' in session 'S_ridge'" in text
    assert text.rstrip().splitlines()[-1] == "[graflow_nb] raised by task 'ParallelGroup_1' in session 'S'"
    assert "ParallelGroupError: Parallel group ParallelGroup_1 failed: 1 task(s) failed: 'ridge' (session S_ridge)" in text

    # on request (the documented switch), every frame of the engine
    check_ok(*run_cell(kernel, "%env GRAFLOW_NB_ENGINE_FRAMES=1"))
    try:
        messages, _reply = run_cell(kernel, 'wf.execute("load", session_id="S")')
        shown = frames(failure(messages))
        engine = [line for line in shown if "graflow_nb/core/" in line]
        assert any("engine.py" in line for line in engine) and any("coordinator.py" in line for line in engine), shown
    finally:
        check_ok(*run_cell(kernel, "%env GRAFLOW_NB_ENGINE_FRAMES=0"))


def test_the_summary_line_of_a_run_ending_in_a_frame_shows_its_shape(kernel):
    check_ok(*run_cell(kernel, "%load_ext graflow_nb"))
    messages, reply = run_cell(
        kernel,
        "%%graflow frames --run --session-id F --no-render\n"
        "import numpy as np, pandas as pd\n"
        "def load(): return pd.DataFrame(np.zeros((442, 10)), columns=[f'c{i}' for i in range(10)])\n"
        "def describe(load): return load\n"
        "load >> describe\n",
    )
    check_ok(messages, reply)
    assert stdout_of(messages) == "frames: succeeded, 2 tasks in 1 sessions, result DataFrame 442x10\n"


def test_a_graflow_run_cells_value_is_the_runs_result(kernel):
    check_ok(*run_cell(kernel, "%load_ext graflow_nb"))
    messages, reply = run_cell(
        kernel,
        "%%graflow scores --run --session-id V --no-render\n"
        "def load(): return [3, 4]\n"
        "def total(load): return {'total': sum(load), 'rows': len(load)}\n"
        "load >> total\n",
    )
    check_ok(messages, reply)
    results = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] == "execute_result"]
    assert results == ["{'total': 7, 'rows': 2}"]
    messages, reply = run_cell(kernel, "print(_ == scores.last_run.results()['total'])")
    check_ok(messages, reply)
    assert stdout_of(messages) == "True\n"
