"""One branch session as a value: its spec goes to a fresh process, runs there, and
its outcome comes back and folds into the live branch it stands for (what the Dask
executor does, here with a plain subprocess)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import ckpt_flows

from graflow_nb.core.channel import Change
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.events import EventKind, EventLog
from graflow_nb.core.snapshot import apply_outcome, branch_spec

HERE = Path(__file__).parent


def run_elsewhere(flow: str, spec) -> object:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(HERE / "branch_main.py"), flow], input=pickle.dumps(spec), capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return pickle.loads(done.stdout)


def test_a_branch_runs_in_another_process_and_its_outcome_folds_back():
    wf = ckpt_flows.shipped()
    log = EventLog()
    root = ExecutionContext.create(
        wf.graph, session_id="R", workflow=wf, observers=[log],
        initial_channel={"base": "x", "total": 1, "gone": 0, "log": ["root"], "fetch.__result__": 1},
    )
    branch = root.create_branch_context("a", group_id="ParallelGroup_2", order_key=(1, 0))
    spec = branch_spec(branch)
    assert spec.parent_view["base"] == "x" and spec.session_id == "R_a" and spec.member_id == "a"

    outcome = run_elsewhere("shipped", spec)

    assert outcome.error is None
    assert outcome.results == {"a": 2, "ParallelGroup_1": None, "a1": 20, "a2": 200}  # nested ones merged into it
    assert outcome.changes["seen"] == Change("set", "x!")
    assert outcome.changes["total"].kind == "ops" and outcome.changes["total"].ops == (("add", 5),)
    assert outcome.changes["gone"] == Change("delete")
    assert [s.session_id for s in outcome.sessions] == ["R_a", "R_a_a1", "R_a_a2"]
    assert sorted((tr.task_id, tr.session_id) for tr in outcome.task_runs if not tr.task_id.startswith("Parallel")) == [
        ("a", "R_a"), ("a1", "R_a_a1"), ("a2", "R_a_a2")
    ]

    finished = {(e.task_id, e.session_id) for e in outcome.events if e.kind == EventKind.TASK_FINISHED}
    assert {("a", "R_a"), ("a1", "R_a_a1"), ("a2", "R_a_a2")} <= finished
    log.events.clear()

    apply_outcome(outcome, branch)

    run = root.run
    assert run.children("R_a")[0].session_id == "R_a_a1" and run.sessions["R_a_a2"].state == "merged"
    assert branch.record.tasks_run == ["a", "ParallelGroup_1"]
    assert branch.channel.get("a1.__result__") == 20 and branch.channel.get("a2.__result__") == 200
    assert branch.channel.get("log") == ["root", "a2"]
    assert root.channel.get("total") == 1  # nothing reaches the parent before its group merges
    changes = branch.channel.changes()
    assert changes["total"].ops == (("add", 5),) and changes["gone"].kind == "delete"
    assert {(e.task_id, e.session_id) for e in log.of_kind(EventKind.TASK_FINISHED)} == finished  # re-emitted here
    assert run.steps == 4 and run.task_counts()["a2"] == 1  # a, its group node, a1, a2


def test_a_branch_that_fails_elsewhere_brings_back_its_error_and_records():
    wf = ckpt_flows.shipped()
    root = ExecutionContext.create(wf.graph, session_id="R", workflow=wf, initial_channel={"fetch.__result__": 1})
    branch = root.create_branch_context("a", group_id="ParallelGroup_2", order_key=(1, 0))
    outcome = run_elsewhere("shipped", branch_spec(branch))  # no "base": a fails on None + "!"
    assert isinstance(outcome.error, TypeError) and outcome.error.session_id == "R_a"
    assert [(tr.task_id, tr.status) for tr in outcome.task_runs] == [("a", "failed")]
    assert outcome.sessions[0].state == "failed"
