"""Save a run in this process, resume it in a fresh Python process: finished work
never runs again, and what runs again runs under the session ids it had.

The oracle is what the fresh process reports: the tasks that started there
(``RUNS``), the task attempts recorded after the resume (task, session, status),
and the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import ckpt_flows
import pytest

from graflow_nb.core.errors import GraflowWorkflowCanceledError, ParallelGroupError


@pytest.fixture(autouse=True)
def fresh_runs():
    """``ckpt_flows.RUNS`` empty around each test: what a resume ran again is read off it."""
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()

HERE = Path(__file__).parent


def resume_elsewhere(flow: str, path: str, answers: dict | None = None, checkpoint_dir: Path | None = None) -> dict:
    """Resume ``path`` with ``ckpt_flows.FLOWS[flow](fixed=True)`` in a new interpreter."""
    args = [sys.executable, str(HERE / "resume_main.py"), flow, path, json.dumps(answers or {})]
    if checkpoint_dir is not None:
        args.append(str(checkpoint_dir))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, cwd=HERE)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def tasks_after(report: dict, status: str | None = None) -> list[tuple[str, str]]:
    """(task, session) of each attempt after the resume, group nodes left out."""
    return [(t, s) for t, s, st in report["after"] if not t.startswith("ParallelGroup_") and status in (None, st)]


def test_a_paused_run_with_three_waiting_sessions_resumes_in_another_process_twice(tmp_path):
    wf = ckpt_flows.hitl()
    paused = wf.execute("fetch", session_id="S", checkpoint_dir=tmp_path)
    assert [p.session_id for p in paused.pending] == ["S_a", "S_b", "S_c_c2"]
    assert sorted(ckpt_flows.RUNS) == ["a", "b", "c", "c1", "c2", "fetch"]
    path = str(tmp_path / "S.pkl")
    assert wf.last_run.checkpoints == [path]

    # Two answers: the third session still waits, and its checkpoint is written again.
    again = tmp_path / "again"
    first = resume_elsewhere("hitl", path, {"S_a": True, "S_c_c2": "blue"}, again)
    assert sorted(first["runs"]) == ["a", "c2", "cm"]  # only the answered tasks, and what follows c2
    assert first["status"] == "paused" and first["pending"] == ["S_b"]
    assert sorted(tasks_after(first, "succeeded")) == [("a", "S_a"), ("c2", "S_c_c2"), ("cm", "S_c")]
    assert first["checkpoints"] == [str(again / "S.pkl")]

    last = resume_elsewhere("hitl", str(again / "S.pkl"), {"S_b": "bob"})
    assert last["runs"] == ["b", "store"]
    assert last["status"] == "succeeded"
    assert last["outcome"] == repr([("a", True, 10), ("b", "bob"), "c1+blue"])
    assert set(last["sessions"].values()) == {"closed", "merged"}
    assert "after resume: b" in last["tree"]


# policy -> (members that succeeded and are kept, members that run again)
POLICIES = {
    "strict": (["m1", "m3"], ["m2", "m2b"]),  # every member ran; only m2 failed
    "fail_fast": (["m1"], ["m2", "m2b", "m3"]),  # m3 never started (one member at a time)
    "rollback": ([], ["m1", "m2", "m2b", "m3"]),  # m1 was undone by its compensation
    "continue": ([], ["m1", "m2", "m2b", "m3"]),  # every member failed
    "at_least_n": (["m1"], ["m2", "m2b", "m3"]),
    "critical": (["m1", "m3"], ["m2", "m2b"]),  # m2 is critical; m3 ran and succeeded
}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_a_failed_group_resumes_running_only_what_did_not_succeed(tmp_path, policy):
    kept, again = POLICIES[policy]
    wf = ckpt_flows.policy_flow(policy)
    with pytest.raises(ParallelGroupError) as failed:
        wf.execute("fetch", session_id="P", checkpoint_dir=tmp_path)
    path = str(tmp_path / "P.pkl")
    assert f"checkpoint written to {path}" in failed.value.__notes__[-1]
    before = list(ckpt_flows.RUNS)
    assert before[0] == "fetch" and "store" not in before
    frontier = json.loads((tmp_path / "P.state.json").read_text())["frontier"]  # what a resume starts with
    assert frontier == {"P": ["ParallelGroup_1"], **{f"P_{m}": [m] for m in ("m1", "m2", "m3") if m in again}}

    report = resume_elsewhere(f"policy_{policy}", path)
    assert report["status"] == "succeeded", report["outcome"]
    assert report["runs"] == [*again, "store"]
    assert not set(kept) & set(report["runs"])  # succeeded members are not run again
    sessions = dict(tasks_after(report, "succeeded"))
    expected = {"m1": "P_m1", "m2": "P_m2", "m2b": "P_m2", "m3": "P_m3", "store": "P"}
    assert sessions == {t: expected[t] for t in [*again, "store"]}  # the same session ids
    assert report["outcome"] == repr(["m1", "m2", "m3"])  # every member's change reached the root
    assert not any("#" in sid for sid in report["sessions"])  # no re-fork


def test_a_cancelled_run_resumes_where_each_session_stopped(tmp_path):
    wf = ckpt_flows.cancel_flow()
    with pytest.raises(GraflowWorkflowCanceledError):
        wf.execute("fetch", session_id="C", checkpoint_dir=tmp_path)
    assert wf.last_run.status == "cancelled"
    assert ckpt_flows.RUNS == ["fetch", "x", "y1", "y2"]

    report = resume_elsewhere("cancel", str(tmp_path / "C.pkl"))
    assert report["runs"] == ["y2", "y3", "store"]
    assert tasks_after(report) == [("y2", "C_y1"), ("y3", "C_y1"), ("store", "C")]
    assert report["outcome"] == repr("xy3")


def test_dynamic_tasks_and_loops_in_branches_continue_without_starting_over(tmp_path):
    wf = ckpt_flows.dynamic_flow()
    paused = wf.execute("fetch", session_id="D", checkpoint_dir=tmp_path)
    assert sorted(p.session_id for p in paused.pending) == ["D_looper", "D_spawner"]
    assert ckpt_flows.RUNS == ["fetch", "spawner", "helper", "looper#1", "looper#2"]

    report = resume_elsewhere("dynamic", str(tmp_path / "D.pkl"), {"D_spawner": True, "D_looper": True})
    # helper was made at run time: found again by its function's name; the loop goes
    # on from its second lap, not from its first.
    assert report["runs"] == ["helper", "looper#2", "looper#3", "store"]
    assert report["outcome"] == repr(3)
    assert [s for t, s, _ in report["after"] if t == "helper"] == ["D_spawner"]


def test_nested_groups_resume_inside_the_inner_group(tmp_path):
    wf = ckpt_flows.nested_flow()
    with pytest.raises(ParallelGroupError):
        wf.execute("a", session_id="N", checkpoint_dir=tmp_path)
    assert ckpt_flows.RUNS == ["a", "b", "b1", "b2"]  # c never started: b failed first

    report = resume_elsewhere("nested", str(tmp_path / "N.pkl"))
    assert report["runs"] == ["b2", "bm", "c", "d"]  # a, b and b1 ran once, before
    assert tasks_after(report) == [("b2", "N_b_b2"), ("bm", "N_b"), ("c", "N_c"), ("d", "N")]
    assert report["outcome"] == repr("b1b2c")


def test_in_place_changes_to_frames_and_arrays_in_branches_survive_the_checkpoint(tmp_path):
    wf = ckpt_flows.frames()
    wf.execute("load", session_id="F", checkpoint_dir=tmp_path)
    assert sorted(ckpt_flows.RUNS) == ["edit", "scale", "wait"]
    assert wf.last_run.root_context.channel.get("table")["x"].tolist() == [1, 2, 3]  # not merged yet

    report = resume_elsewhere("frames", str(tmp_path / "F.pkl"), {"F_wait": True})
    assert report["runs"] == ["wait", "report"]
    assert report["outcome"] == repr(([99, 2, 3], [7.0, 7.0, 7.0]))


def test_a_question_withdrawn_by_a_cancel_is_asked_again_after_the_resume(tmp_path):
    wf = ckpt_flows.cancel_while_waiting()
    with pytest.raises(GraflowWorkflowCanceledError):
        wf.execute("start", session_id="W", checkpoint_dir=tmp_path)
    assert wf.last_run.pending_inputs() == []

    first = resume_elsewhere("cancel_waiting", str(tmp_path / "W.pkl"), {}, tmp_path / "again")
    assert first["status"] == "paused" and first["pending"] == ["W_asker"]
    assert first["runs"] == ["asker", "stopper"]
    last = resume_elsewhere("cancel_waiting", str(tmp_path / "again" / "W.pkl"), {"W_asker": "because"})
    assert last["runs"] == ["asker", "end"] and last["outcome"] == repr("because/stopped")


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_a_run_stopped_by_ctrl_c_resumes_with_the_task_it_interrupted(tmp_path):
    started = threading.Event()
    wf = ckpt_flows.interrupted(started=started)

    def interrupt_once() -> None:
        assert started.wait(20)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt_once, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        wf.execute("fetch", session_id="I", checkpoint_dir=tmp_path)
    assert wf.last_run.status == "cancelled" and ckpt_flows.RUNS == ["fetch", "done", "spin"]

    report = resume_elsewhere("interrupted", str(tmp_path / "I.pkl"))
    assert report["runs"] == ["spin", "after", "end"]
    assert tasks_after(report) == [("spin", "I_spin"), ("after", "I_spin"), ("end", "I")]
    assert report["outcome"] == repr("done+spun!")


def test_a_group_in_a_loop_keeps_counting_its_forks_after_the_resume(tmp_path):
    wf = ckpt_flows.group_loop()
    paused = wf.execute("start", session_id="L", checkpoint_dir=tmp_path)
    assert [p.session_id for p in paused.pending] == ["L_y#2"]

    report = resume_elsewhere("group_loop", str(tmp_path / "L.pkl"), {"L_y#2": True})
    runs = report["runs"]  # x and y of one round run side by side, in either order
    assert runs[:2] == ["y@L_y#2", "check2"] and sorted(runs[2:4]) == ["x@L_x#3", "y@L_y#3"] and runs[4:] == ["check3"]
    assert sorted(report["sessions"]) == ["L", "L_x", "L_x#2", "L_x#3", "L_y", "L_y#2", "L_y#3"]
    assert report["outcome"] == repr(3)
