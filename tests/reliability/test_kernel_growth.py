"""A long-lived kernel doesn't grow: 500 runs in one process keep what 50 runs keep.

Each scenario runs in a fresh subprocess (``growth_probe.py``), so nothing this suite
made is counted: 500 runs of a diamond whose tasks make 100 KB values each, measured
after run 50 and after run 500.  A workflow there keeps only its last run (``wf.runs``
keeps ``KEPT_RUNS`` by design; the probe sets it to 1, so that a run held from anywhere
else shows).  Every other run, and every session context and session record of one,
must be gone (``stray``); the counts of runs and session records must not move; and
the memory tracemalloc traces may move by well under what five leaked runs would hold.
(How many context copies the kept ``ready_parallel`` run still holds depends on which
thread took its last jobs, so that count is checked through its run, not compared.)

``dot`` is left off the PATH, except where the final picture is the point: a picture
is a string the output area gets, not something a run keeps, and 500 layouts take a
minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graflow_nb

PROBE = Path(__file__).with_name("growth_probe.py")
CODE = Path(graflow_nb.__file__).parents[1]  # the checkout under test, first on the probe's path
RUNS = 500
KEPT = 1  # growth_probe.KEPT: the runs each workflow keeps there
GROWTH_BOUND = 1_000_000  # bytes traced, run 50 -> run 500 (a leaked run is 200 KB)


def probe(scenario: str, tmp_path: Path, with_dot: bool = False) -> dict:
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"))
    env["PYTHONPATH"] = os.pathsep.join([str(CODE), env.get("PYTHONPATH", "")])
    if not with_dot:
        env["PATH"] = str(tmp_path)  # no dot (the probe is started by full path)
    else:
        assert shutil.which("dot"), "this scenario draws its final pictures with Graphviz's dot"
    proc = subprocess.run(
        [sys.executable, str(PROBE), scenario, str(RUNS)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def growth(found: dict) -> list[str]:
    """What grew, or was held beyond the kept run, between run 50 and run 500."""
    early, late = found["at"]["50"], found["at"][str(RUNS)]
    problems = [
        f"after run {n}: {point[key]} {key}"
        for n, point in found["at"].items()
        for key in ("stray", "stray_contexts", "stray_records")
        if point[key]
    ]
    if not late["runs"] == early["runs"] == KEPT:
        problems.append(f"{early['runs']} runs alive after run 50, {late['runs']} after run {RUNS}")
    if late["records"] != early["records"]:
        problems.append(f"{early['records']} session records after run 50, {late['records']} after run {RUNS}")
    if late["traced"] - early["traced"] >= GROWTH_BOUND:
        problems.append(f"traced memory {early['traced'] / 1e6:.1f} MB -> {late['traced'] / 1e6:.1f} MB")
    return problems


def test_a_live_view_in_a_shell_keeps_no_run(tmp_path):
    """wf.execute(live={"final": False}) under a real InteractiveShell: the live area
    and its closing note are published, and the note's handle is kept for a resume."""
    found = probe("shell-live", tmp_path)
    assert growth(found) == [], found
    assert found["published"] >= 2 * RUNS  # the notebook path ran: the live area, then its closing note


def test_a_restarted_debugger_keeps_only_its_current_run(tmp_path):
    """One debugger, stepped, run to the end and restarted 500 times."""
    found = probe("debugger-restart", tmp_path)
    assert growth(found) == [], found


def test_failed_runs_recorded_live_or_debugged_are_freed(tmp_path):
    """A task that fails on every run, under record(wf), with live=True and under the
    debugger: the failure's event holds the error, whose traceback holds the run."""
    found = probe("failures", tmp_path)
    assert growth(found) == [], found


def test_ready_parallel_runs_keep_only_the_last_run(tmp_path):
    """execute(ready_parallel=True): the scheduler hands every task to the run's pool and
    takes a lone one itself, so the pool's queue ends the run with stale entries, each
    reaching the run; pool workers run the others, then idle and park between runs,
    and whichever of them still holds a finished run's pool must not hold its run."""
    found = probe("ready", tmp_path)
    assert growth(found) == [], found


@pytest.mark.slow
def test_every_way_of_running_without_a_notebook_keeps_only_the_last_run(tmp_path):
    """execute() plain, with live=True outside a notebook (recorded, one summary line),
    with observers on each run, under record(wf) and under a new debugger each time
    (one restarted debugger: test_a_restarted_debugger_keeps_only_its_current_run)."""
    scenarios = ("plain", "live", "observers", "record", "debugger")
    found = {scenario: probe(scenario, tmp_path) for scenario in scenarios}
    assert {s: growth(f) for s, f in found.items()} == {s: [] for s in scenarios}, found


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario",
    [
        "magic-live",  # %graflow run grow --live: live area, closing note, final picture, summary line
        "inspector",  # TaskInspector(wf), select a task, close it
        "debugger-widget",  # DebuggerWidget(wf.debug()): step and run-to-end clicks, close it
        "magic-step",  # %graflow step grow, step and run-to-end clicks on its widget
    ],
)
def test_magics_and_widgets_keep_no_run_they_are_done_with(scenario, tmp_path):
    found = probe(scenario, tmp_path)
    assert growth(found) == [], found
    if scenario == "magic-live":
        assert found["published"] >= 3 * RUNS  # live area, closing note, final picture


@pytest.mark.slow
def test_live_runs_with_final_pictures_keep_only_the_last_run(tmp_path):
    """live=True with everything a notebook shows, the final picture laid out by
    ``dot`` (the issue's 450 runs took a kernel from 63 MB to 120 MB)."""
    found = probe("shell-live-final", tmp_path, with_dot=True)
    assert growth(found) == [], found
    assert found["published"] >= 3 * RUNS
