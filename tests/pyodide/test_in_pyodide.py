"""The engine's core scenarios inside Pyodide (CPython compiled to WebAssembly, what
JupyterLite runs), under Node, from the npm ``pyodide`` package pinned in
``package.json``: no threads (every ``Thread.start()`` raises there) and no network.

Each scenario runs in a fresh Pyodide, as each notebook gets a fresh kernel.
graflow_nb is imported from this checkout; the one package it needs at import beyond the
standard library, cloudpickle (pure Python), is mounted from this environment's
site-packages, since the npm package ships Pyodide's standard library only.
``scenarios.py`` runs inside Pyodide and reports what it saw as JSON; the tests here
check it.  ``make pyodide`` (part of ``make test``) installs the npm package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cloudpickle
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = HERE / "run_in_pyodide.mjs"
PYODIDE_PACKAGE = HERE / "node_modules" / "pyodide" / "package.json"

pytestmark = pytest.mark.slow

# scenarios.py's, each run in a fresh Pyodide (about 5 s each).
SCENARIOS = ("platform", "diamond", "nested_and_dynamic", "policies", "merges", "human_input", "checkpoint",
             "timeout_needs_threads", "step_debugger", "async_fan_out_overlaps", "async_cancel",
             "async_execute_points_to_aexecute", "async_question_and_aresume")


@pytest.fixture(scope="module")
def observed() -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("the Pyodide tests need Node.js: run `make pyodide` as root (it apt-get installs "
                    "'nodejs' and 'npm') or install them", pytrace=False)
    if not PYODIDE_PACKAGE.exists():
        pytest.fail(f"the npm package pyodide is not installed in {HERE}: run `make pyodide` "
                    "(npm ci there)", pytrace=False)
    version = json.loads(PYODIDE_PACKAGE.read_text())["version"]
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["pyodide"]
    assert version == pinned, f"node_modules has pyodide {version}, package.json pins {pinned}: run `make pyodide`"
    deps = Path(cloudpickle.__file__).parent
    done = subprocess.run(
        [node, str(RUNNER), str(ROOT), ",".join(SCENARIOS), str(deps)],
        cwd=HERE, capture_output=True, text=True, timeout=300, env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stderr[-4000:]}"
    reports = json.loads(done.stdout.strip().splitlines()[-1])
    # What the scenarios stand for: Pyodide's Python 3.14, where no thread can start.
    platform = reports["platform"]["seen"]
    assert platform == {"platform": "emscripten", "thread_start": "can't start new thread", "version": [3, 14]}, platform
    return reports


def seen(observed: dict, name: str) -> dict:
    """One scenario's report; it fails the test if the scenario raised, or if it tried to
    start a thread (each such start raised in Pyodide, whatever the engine did next)."""
    report = observed[name]
    if "traceback" in report:
        pytest.fail(f"{name} raised inside Pyodide:\n{report['traceback']}", pytrace=False)
    assert report["threads"] == [], f"{name} tried to start threads in Pyodide: {report['threads']}"
    return report["seen"]


def test_diamond_forks_a_branch_session_per_member_and_merges_them(observed):
    report = seen(observed, "diamond")
    assert report["result"] == 5
    assert report["order"] == ["fetch@S", "a@S_a", "b@S_b", "store"]
    assert report["sessions"] == {"S": "closed", "S_a": "merged", "S_b": "merged"}
    assert {k: report["counts"][k] for k in ("fetch", "a", "b", "store")} == {"fetch": 1, "a": 1, "b": 1, "store": 1}


def test_nested_groups_and_a_task_added_at_run_time_run_in_their_own_sessions(observed):
    report = seen(observed, "nested_and_dynamic")
    assert report["order"] == ["a@S_a", "added@S_a", "n1@S_ParallelGroup_1_n1", "n2@S_ParallelGroup_1_n2", "b@S_b"]
    assert report["result"] == ["a", "added", "b", "n1", "n2"]
    assert "S_ParallelGroup_1_n2  merged  enqueued 1 dequeued 1  ran n2" in report["tree"]
    assert "S_a  merged  enqueued 2 dequeued 2  ran a, added" in report["tree"]


def test_policies_best_effort_runs_every_member_and_strict_fail_fast_stops_the_rest(observed):
    report = seen(observed, "policies")
    assert report["best_effort"] == {
        "order": ["m1", "m2", "m3"], "raised": None, "group": "degraded",
        "sessions": {"S": "closed", "S_m1": "merged", "S_m2": "failed", "S_m3": "merged"},
    }
    strict = report["strict"]
    assert strict["order"] == ["m1", "m2"]
    assert strict["raised"].startswith("ParallelGroupError: Parallel group ParallelGroup_1 failed: 1 task(s) failed: 'm2' (session S_m2): ValueError: m2 broke")
    assert strict["sessions"] == {"S": "failed", "S_m1": "discarded", "S_m2": "failed", "S_m3": "cancelled"}


def test_merges_follow_declaration_order_and_a_conflict_names_its_key(observed):
    report = seen(observed, "merges")
    assert report["overwrite"] == "second" and report["keep_first"] == "first"
    assert report["None"].startswith("MergeConflictError: Merge conflict in group 'ParallelGroup_1' on channel key 'k'")


def test_a_branch_question_pauses_its_session_and_resume_finishes_the_run(observed):
    report = seen(observed, "human_input")
    assert report["status"] == "paused"
    assert report["pending"] == [["S_a", "a", "approval", "Ship it?"]]
    assert report["result"] == [True, "rb"]
    assert report["order"] == ["fetch", "b", "a", "store"]
    assert report["sessions"] == {"S": "closed", "S_a": "merged", "S_b": "merged"}


def test_a_checkpoint_saved_on_the_in_memory_file_system_resumes(observed):
    report = seen(observed, "checkpoint")
    assert report["status"] == "paused"
    assert report["files"] == ["C.meta.json", "C.pkl", "C.state.json"]
    assert report["before"] == ["fetch", "b"]
    assert report["result"] == [True, "rb"] and report["order"] == ["fetch", "b", "a", "store"]


def test_a_task_timeout_says_it_needs_a_thread(observed):
    assert seen(observed, "timeout_needs_threads") == {
        "raised": "ConfigError: task 'patient' (timeout=2s) in session 'S' needs a thread of its own, and this "
        "Python (emscripten) can't start threads: a timed attempt waits beside it on a thread; drop the "
        "timeout to run it here"
    }


def test_await_aexecute_on_the_pages_loop_overlaps_a_hundred_awaiting_members(observed):
    report = seen(observed, "async_fan_out_overlaps")
    assert report["result"] == sum(range(100)) and report["status"] == "succeeded"
    assert report["peak"] == 100  # every member was inside its await at once
    assert report["merged"] == 100
    assert report["loop"] == "WebLoop"  # Pyodide's own loop, the page's (here Node's)


def test_cancelling_the_awaiting_cell_cancels_the_run_and_runs_every_finally(observed):
    report = seen(observed, "async_cancel")
    assert report == {
        "raised": "CancelledError", "status": "cancelled", "finally_ran": sorted(f"m{i}" for i in range(10)),
        "attempts": ["cancelled"], "sessions": ["cancelled"],
    }


def test_execute_of_an_async_task_points_to_aexecute(observed):
    raised = seen(observed, "async_execute_points_to_aexecute")["raised"]
    assert raised.startswith("ConfigError: async task 'fetch' in session 'S' under wf.execute(...) needs a thread")
    assert "await wf.aexecute(...)" in raised


def test_an_async_question_pauses_on_the_pages_loop_and_aresume_finishes_the_run(observed):
    assert seen(observed, "async_question_and_aresume") == {
        "status": "paused", "pending": [["S_a", "Ship it?"]], "result": [True, "rb"], "asked": ["a", "b", "a"],
        "sessions": {"S": "closed", "S_a": "merged", "S_b": "merged"},
    }


def test_the_step_debugger_steps_a_diamond_with_a_question_and_restarts(observed):
    report = seen(observed, "step_debugger")
    assert report["threads"] is False  # chosen by itself: threads can't start here
    assert report["steps"] == [
        "S: ran fetch; now held before ParallelGroup_1",
        "S: forked S_a, S_b; now waiting for S_a, S_b",
        "S_b: ran b; now finished, not merged yet",
    ]
    assert report["state"] == [["S", "waiting", None, "ParallelGroup_1"], ["S_a", "held", "before", "a"], ["S_b", "done", None, None]]
    assert report["b_changes"] == ["b.__result__"]
    assert report["asked"].startswith("S_a: started a; now the run ended (paused")
    assert (report["paused"], report["pending"]) == ("paused", [["S_a", "double it?"]])
    assert report["result"] == 10  # 3 * 2 + 3 + 1, resumed without the debugger
    assert report["order"] == ["fetch@S", "b@S_b", "a@S_a", "a@S_a", "store", "fetch@R", "a@R_a"]
    assert report["history"] == [["S", "fetch"], ["S_b", "b"]]
    assert report["halt"] == "R_b held before b (breakpoint)"
    assert report["old_run"] == ["cancelled", {"R": "cancelled", "R_a": "paused", "R_b": "cancelled"}]
    assert report["after_restart"] == [["R", "held", "fetch"]]
