"""A paused run survives a real Jupyter kernel restart: save in the kernel, restart
it (a new process: nothing of the run is left in memory), run the defining cell
again, load, answer, resume.  Only the waiting task and what follows it run."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import pytest
from kernels import kernel_in, restart

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEFINE = """
import json, os
from graflow_nb import task, workflow
RUNS = []
with workflow("approval") as wf:
    @task
    def fetch():
        RUNS.append("fetch")
        return 21
    @task(inject_context=True)
    def approve(ctx, fetch):
        RUNS.append("approve")
        return ctx.request_approval(f"double {fetch}?")
    @task
    def count(fetch):
        RUNS.append("count")
        return fetch + 1
    @task
    def store(approve, count):
        RUNS.append("store")
        return (approve, count)
    fetch >> (approve | count) >> store
"""


def run_cell(client, code: str) -> tuple[str, dict]:
    """Execute ``code``; (its stdout, the execute reply's content)."""
    msg_id = client.execute(code)
    out = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    else:
        pytest.fail("the cell did not finish")
    reply = client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out), reply["content"]


def test_a_paused_run_is_answered_and_resumed_after_the_kernel_restarts(tmp_path):
    with kernel_in(tmp_path) as (manager, client):
        run_cell(client, DEFINE)
        out, _ = run_cell(client, f"""
paused = wf.execute("fetch", session_id="K", checkpoint_dir={str(tmp_path / "ck")!r})
print(json.dumps({{"pending": [p.session_id for p in paused.pending], "runs": sorted(RUNS), "pid": os.getpid()}}))
""")
        before = json.loads(out)
        assert before["pending"] == ["K_approve"] and before["runs"] == ["approve", "count", "fetch"]

        restart(manager, client)

        run_cell(client, DEFINE)
        out, _ = run_cell(client, f"""
result = wf.resume({str(tmp_path / "ck" / "K.pkl")!r}, answers={{"K_approve": True}})
run = wf.last_run
print(json.dumps({{"result": result, "runs": RUNS, "pid": os.getpid(), "status": run.status,
                  "counts": run.task_counts(), "tree": run.session_tree()}}))
""")
        after = json.loads(out)
        assert after["pid"] != before["pid"]  # a new kernel process
        assert after["runs"] == ["approve", "store"]  # fetch and count finished before the restart
        assert after["result"] == [True, 22] and after["status"] == "succeeded"
        assert after["counts"] == {"fetch": 1, "ParallelGroup_1": 1, "approve": 1, "count": 1, "store": 1}
        assert "K_approve  merged  enqueued 1 dequeued 1  ran - | after resume: approve" in after["tree"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # nothing else written to the cwd


SAVE = """
import json, os, sys
sys.path.insert(0, {here!r})
import ckpt_flows
wf = ckpt_flows.FLOWS[{flow!r}]()
try:
    outcome = wf.execute({start!r}, session_id="K", checkpoint_dir={folder!r})
except Exception as error:
    outcome = error
print(json.dumps({{"runs": ckpt_flows.RUNS, "status": wf.last_run.status, "pid": os.getpid()}}))
"""

RESUME = """
import json, os, sys
sys.path.insert(0, {here!r})
import ckpt_flows
wf = ckpt_flows.FLOWS[{flow!r}](fixed=True)
result = wf.resume({path!r}, answers={answers!r})
run = wf.last_run
print(json.dumps({{"runs": ckpt_flows.RUNS, "status": run.status, "result": repr(result), "pid": os.getpid()}}))
"""

# flow -> (start, answers, what runs after the restart, the result)
SCENARIOS = {
    "hitl": ("fetch", {"K_a": True, "K_b": "bob", "K_c_c2": "red"}, ["a", "b", "c2", "cm", "store"],
             repr([("a", True, 10), ("b", "bob"), "c1+red"])),
    "policy_strict": ("fetch", {}, ["m2", "m2b", "store"], repr(["m1", "m2", "m3"])),
    "policy_fail_fast": ("fetch", {}, ["m2", "m2b", "m3", "store"], repr(["m1", "m2", "m3"])),
    "policy_rollback": ("fetch", {}, ["m1", "m2", "m2b", "m3", "store"], repr(["m1", "m2", "m3"])),
    "cancel": ("fetch", {}, ["y2", "y3", "store"], repr("xy3")),
    "dynamic": ("fetch", {"K_spawner": True, "K_looper": True}, ["helper", "looper#2", "looper#3", "store"], repr(3)),
    "nested": ("a", {}, ["b2", "bm", "c", "d"], repr("b1b2c")),
}


def test_each_kind_of_stopped_run_resumes_after_a_kernel_restart(tmp_path):
    here = str(Path(__file__).parent)
    with kernel_in(tmp_path) as (manager, client):
        for flow, (start, answers, again, result) in SCENARIOS.items():
            folder = str(tmp_path / flow)
            out, _ = run_cell(client, SAVE.format(here=here, flow=flow, start=start, folder=folder))
            before = json.loads(out)
            assert before["status"] in ("paused", "failed", "cancelled"), flow
            restart(manager, client)
            out, _ = run_cell(client, RESUME.format(here=here, flow=flow, path=folder + "/K.pkl", answers=answers))
            after = json.loads(out)
            assert after["pid"] != before["pid"], flow
            assert (sorted(after["runs"]), after["status"], after["result"]) == (sorted(again), "succeeded", result), flow
