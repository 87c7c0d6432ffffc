"""The step debugger through its API: after every move, check which session advanced,
what is held where, each queue, and how often each task ran.

Tasks record their calls, so "the other branch stayed held" is checked by what did
*not* run, not only by what the debugger reports.
"""

from __future__ import annotations

import gc
import signal
import threading
import time

import pytest
from instruments import Calls, wait_for_main_thread_in, wait_until

from graflow_nb import MergeConflictError, ParallelGroupError, TaskWrapper, task, workflow
from graflow_nb.core.channel import MISSING
from graflow_nb.debug import Debugger, DebuggerFinished, DebuggerTimeout

pytestmark = pytest.mark.timeout(30)


def diamond(calls: Calls, *, conflict: bool = False, merge=None, fail: str | None = None):
    with workflow("diamond") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            calls.hit("fetch")
            ctx.get_channel().set("rows", 3)
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            calls.hit("transform_a")
            if fail == "transform_a":
                raise ValueError("transform_a broke")
            if conflict:
                ctx.get_channel().set("rows", 6)
            return fetch["rows"] * 2

        @task(inject_context=True)
        def transform_b(ctx, fetch):
            calls.hit("transform_b")
            if conflict:
                ctx.get_channel().set("rows", 4)
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            calls.hit("store")
            return transform_a + transform_b

        group = transform_a | transform_b
        if merge is not None:
            group.with_execution(merge=merge)
        fetch >> group >> store
    return wf


def rows(dbg: Debugger) -> list[tuple[str, str, str | None, list[str]]]:
    """(session, status, where, queue) for every live session."""
    out = []
    for s in dbg.state():
        where = None if s["stop"] is None else f"{s['stop']} {s['task']}"
        out.append((s["session_id"], s["status"], where, s["queue"]))
    return out


A, B = "4821_transform_a", "4821_transform_b"


def test_diamond_one_step_at_a_time():
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821") as dbg:
        assert rows(dbg) == [("4821", "held", "before fetch", [])]
        assert dbg.state()[0]["next_task"] == "fetch"
        assert calls.order == []

        step = dbg.step()
        assert (step.session_id, step.ran) == ("4821", ("fetch",))
        assert rows(dbg) == [("4821", "held", "before ParallelGroup_1", [])]
        assert calls.order == ["fetch"]

        step = dbg.step()
        assert step.forked == (A, B)
        assert str(step) == f"4821: forked {A}, {B}; now waiting for {A}, {B}"
        assert rows(dbg) == [
            ("4821", "waiting", None, []),
            (A, "held", "before transform_a", []),
            (B, "held", "before transform_b", []),
        ]
        assert calls.order == ["fetch"]

        step = dbg.step(B)  # only b: a stays held
        assert (step.session_id, step.ran) == (B, ("transform_b",))
        assert calls.order == ["fetch", "transform_b"]
        assert rows(dbg)[1:] == [(A, "held", "before transform_a", []), (B, "done", None, [])]
        assert dbg.pending_merge() is None

        step = dbg.step()
        assert (step.session_id, step.ran) == (A, ("transform_a",))
        assert rows(dbg)[0] == ("4821", "held", "merge ParallelGroup_1", [])
        assert dbg.run.sessions[A].state == "open"  # not merged before the merge step

        step = dbg.step()
        assert step.merged == (A, B)
        assert dbg.run.sessions[A].state == dbg.run.sessions[B].state == "merged"
        assert rows(dbg) == [("4821", "held", "before store", [])]

        step = dbg.step()
        assert step.ran == ("store",)
        assert dbg.finished and dbg.status == "succeeded" and dbg.result == 10
        assert dbg.state() == []
        assert calls.order == ["fetch", "transform_b", "transform_a", "store"]
        assert dbg.run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "transform_a": 1, "transform_b": 1, "store": 1}
        with pytest.raises(DebuggerFinished, match="succeeded, result 10"):
            dbg.step()


@pytest.mark.parametrize("first", [A, B])
def test_any_interleaving_of_two_branches_gives_the_same_merge(first):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        second = B if first == A else A
        assert dbg.step(first).session_id == first
        assert dbg.step(second).session_id == second
        assert dbg.run_to_end() == 10
    expected = ["transform_a", "transform_b"] if first == A else ["transform_b", "transform_a"]
    assert calls.order[1:3] == expected


def test_queue_shows_what_comes_after_the_held_task():
    with workflow("fan") as wf:

        @task
        def start():
            return 0

        @task
        def p():
            return 1

        @task
        def q():
            return 2

        _ = start >> p
        _ = start >> q
    with wf.debug("start", session_id="S") as dbg:
        dbg.step()
        assert rows(dbg) == [("S", "held", "before p", ["q"])]
        dbg.step()
        assert rows(dbg) == [("S", "held", "before q", [])]


def test_merge_explainer_shows_changes_strategy_and_the_parent_to_be():
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821") as dbg:
        for _ in range(4):
            dbg.step()
        preview = dbg.pending_merge()
        assert preview.group_id == "ParallelGroup_1" and preview.parent_session == "4821"
        assert preview.strategy.startswith("error")
        assert [(b.session_id, b.status, list(b.changes)) for b in preview.branches] == [
            (A, "succeeded", ["transform_a.__result__"]),
            (B, "succeeded", ["transform_b.__result__"]),
        ]
        assert preview.changed == {"transform_a.__result__": (MISSING, 6), "transform_b.__result__": (MISSING, 4)}
        assert preview.after["transform_a.__result__"] == 6 and preview.after["rows"] == 3
        assert "transform_a.__result__" not in dbg.channel("4821")  # nothing merged yet
        text = str(preview)
        assert "set transform_a.__result__ = 6" in text and "rows = 3  (unchanged)" in text
        assert "<table>" in preview._repr_html_()


def test_merge_explainer_predicts_a_conflict_and_the_strategy_that_resolves_it():
    wf = diamond(Calls(), conflict=True)
    with wf.debug("fetch", session_id="4821") as dbg:
        for _ in range(4):
            dbg.step()
        preview = dbg.pending_merge("4821")
        assert isinstance(preview.conflict, MergeConflictError) and preview.after is None
        assert "the merge will fail: MergeConflictError" in str(preview)
        assert dbg.changes(A)["rows"].value == 6 and dbg.changes(B)["rows"].value == 4
        assert dbg.channel("4821")["rows"] == 3
        step = dbg.step()
        assert step.failed == ("ParallelGroup_1",) and step.merged == ()
        assert dbg.finished and isinstance(dbg.error, MergeConflictError)
        with pytest.raises(MergeConflictError):
            dbg.run_to_end()

    wf = diamond(Calls(), conflict=True, merge="overwrite")
    with wf.debug("fetch", session_id="4821") as dbg:
        for _ in range(4):
            dbg.step()
        preview = dbg.pending_merge()
        assert preview.conflict is None and preview.changed["rows"] == (3, 4)
        assert "overwrite" in preview.strategy
        assert dbg.run_to_end() == 10


def test_breakpoints_halt_a_free_run_before_and_after_tasks():
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", halt_before=["store"]) as dbg:
        halt = dbg.continue_()
        assert halt.held == ("4821",) and "4821 held before store (breakpoint)" in str(halt)
        assert calls.order.count("store") == 0 and len(calls.order) == 3
        assert dbg.run_to_end() == 10

    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", halt_after="transform_a") as dbg:
        halt = dbg.continue_()
        stop = next(s for s in dbg.state() if s["session_id"] == A)
        assert (stop["status"], stop["stop"], stop["task"]) == ("held", "after", "transform_a")
        assert "store" not in calls.order
        dbg.clear_breakpoints()
        assert dbg.continue_().reason == "the run ended (succeeded, result 10)"


def test_halt_at_merge_and_breakpoint_validation():
    wf = diamond(Calls())
    with wf.debug("fetch", session_id="4821", halt_at_merge=True) as dbg:
        halt = dbg.continue_()
        assert halt.held == ("4821",) and "at merge of ParallelGroup_1" in halt.reason
        preview = dbg.pending_merge()
        assert (preview.group_id, preview.parent_session, preview.conflict) == ("ParallelGroup_1", "4821", None)
        assert [(b.member, b.session_id, b.status) for b in preview.branches] == [
            ("transform_a", A, "succeeded"), ("transform_b", B, "succeeded"),
        ]
        assert preview.after == {"rows": 3, "fetch.__result__": {"rows": 3}, "transform_a.__result__": 6,
                                 "transform_b.__result__": 4}
        with pytest.raises(ValueError, match="no task 'nope'"):
            dbg.break_before("nope")
        dbg.set_breakpoints(before=["store"])
        assert dbg.halt_before == {"store"} and dbg.halt_at_merge == frozenset()
        assert "before store" in dbg.continue_().reason


def test_continue_one_branch_while_the_other_stays_held():
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        halt = dbg.continue_(A)
        assert ("4821_transform_a", "transform_a") in halt.ran
        assert "transform_b" not in calls.order
        assert rows(dbg)[0][1] == "waiting" and rows(dbg)[2] == (B, "held", "before transform_b", [])
        halt = dbg.continue_(B)
        assert halt.held == ("4821",) and "at merge of ParallelGroup_1" in halt.reason  # the parent was not freed
        assert dbg.run_to_end() == 10


def test_restart_cancels_the_run_and_starts_it_again():
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        old = dbg.run
        state = dbg.restart()
        assert [(s["session_id"], s["status"], s["next_task"]) for s in state] == [("4821", "held", "fetch")]
        assert old.status == "cancelled" and old is not dbg.run
        assert {old.sessions[A].state, old.sessions[B].state} == {"cancelled"}
        # restart waited for the old run's threads: its record is final
        assert [(tr.task_id, tr.session_id) for tr in old.task_runs] == [("fetch", "4821"), ("ParallelGroup_1", "4821")]
        assert sorted(old.skipped) == [("transform_a", A, "cancelled"), ("transform_b", B, "cancelled")]
        assert calls.order == ["fetch"]  # the old run's branches never ran their tasks
        assert dbg.run_to_end() == 10
        assert calls.order == ["fetch", "fetch", "transform_a", "transform_b", "store"]


def test_a_failing_task_is_reported_by_step_and_raised_by_run_to_end():
    calls = Calls()
    wf = diamond(calls, fail="transform_a")
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        step = dbg.step(A)
        assert step.failed == ("transform_a",) and "failed in transform_a" in str(step)
        assert dbg.run.sessions[A].state == "failed"  # closed, so no longer among the live sessions
        assert rows(dbg) == [("4821", "waiting", None, []), (B, "held", "before transform_b", [])]
        with pytest.raises(ParallelGroupError) as info:
            dbg.run_to_end()
        assert type(info.value.errors["transform_a"]) is ValueError
        assert dbg.status == "failed"


def test_nested_groups_step_to_the_end_one_session_at_a_time():
    with workflow("nested") as wf:
        names = ["a", "b", "b1", "b2", "bm", "c", "d"]
        t = {}
        for name in names:
            t[name] = task(name)(lambda: None)
        _ = t["a"] >> ((t["b"] >> (t["b1"] | t["b2"]) >> t["bm"]) | t["c"]) >> t["d"]
    with wf.debug("a", session_id="N") as dbg:
        seen = []
        while not dbg.finished:
            step = dbg.step()
            seen.append(step.session_id)
            statuses = {s["session_id"]: s["status"] for s in dbg.state()}
            assert "running" not in statuses.values()
            if "N_b_b1" in statuses and statuses.get("N_b_b1") == "held":
                assert statuses["N_b"] == "waiting" and statuses["N"] == "waiting"
        assert dbg.result is None and dbg.status == "succeeded"
        assert dbg.run.task_counts() == {n: 1 for n in names} | {"ParallelGroup_1": 1, "ParallelGroup_2": 1}
        # a plain step() moves the first held session in tree order
        assert seen == ["N", "N", "N_b", "N_b", "N_b_b1", "N_b_b2", "N_b", "N_b", "N_c", "N", "N"]


def test_throttled_branches_show_as_pending():
    with workflow("throttled") as wf:

        @task
        def src():
            return 1

        @task
        def a():
            return 1

        @task
        def b():
            return 2

        _ = src >> (a | b).with_execution(max_concurrency=1)
    with wf.debug("src", session_id="T") as dbg:
        dbg.step()
        dbg.step()
        assert rows(dbg) == [
            ("T", "waiting", None, []),
            ("T_a", "held", "before a", []),
            ("T_b", "pending", None, ["b"]),
        ]
        dbg.step()
        assert rows(dbg)[1:] == [("T_a", "done", None, []), ("T_b", "held", "before b", [])]
        assert dbg.run_to_end() is None


def test_a_task_that_does_not_finish_times_out_with_a_clear_message():
    release = threading.Event()
    with workflow("slow") as wf:

        @task
        def slow():
            release.wait(10)
            return "late"

    dbg = Debugger(wf, "slow", session_id="W", timeout=0.3)
    try:
        with pytest.raises(DebuggerTimeout, match="session 'W' is still running 'slow'"):
            dbg.step()
        assert rows(dbg) == [("W", "running", None, [])]
    finally:
        release.set()
    assert dbg.run_to_end() == "late"


def test_more_held_sessions_than_workers_times_out_and_close_still_stops_the_run():
    with workflow("wide") as wf:
        members = [task(f"m{i}")(lambda: None) for i in range(3)]

        @task
        def src():
            return 0

        _ = src >> (members[0] | members[1] | members[2])
    dbg = wf.debug("src", session_id="X", max_workers=1, timeout=0.5)
    dbg.step()
    with pytest.raises(DebuggerTimeout, match="max_workers"):
        dbg.step()
    dbg.close()
    assert dbg.finished and dbg.run.status == "cancelled"


def test_dynamic_tasks_are_held_like_any_other():
    with workflow("dyn") as wf:

        @task(inject_context=True)
        def first(ctx):
            ctx.next_task(TaskWrapper("later", lambda: "done", register_to_context=False))
            return 1

    with wf.debug("first", session_id="D") as dbg:
        dbg.step()
        assert rows(dbg) == [("D", "held", "before later", [])]
        assert dbg.step().ran == ("later",)
        assert dbg.result == "done"


def test_ready_parallel_runs_step_one_dispatch_at_a_time():
    with workflow("ready") as wf:

        @task
        def f():
            return 1

        @task
        def a(f):
            return f + 1

        @task
        def b(f):
            return f + 2

        @task
        def s(a, b):
            return a + b

        _ = f >> a >> s
        _ = f >> b >> s
    with wf.debug("f", session_id="R", ready_parallel=True) as dbg:
        assert dbg.step().ran == ("f",)
        assert rows(dbg) == [("R", "held", "before a", ["b"])]
        assert str(dbg.step()) == "R: started a; now held before b"
        assert set(dbg.step().ran) == {"a", "b"}
        assert rows(dbg) == [("R", "held", "before s", [])]
        assert dbg.run_to_end() == 5


def test_wrong_session_ids_say_what_is_held():
    wf = diamond(Calls())
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        with pytest.raises(ValueError, match="'4821' is waiting, not held; held sessions: 4821_transform_a"):
            dbg.step("4821")
        with pytest.raises(KeyError, match="no session 'zzz'"):
            dbg.step("zzz")
        with pytest.raises(TypeError, match="gate"):
            Debugger(wf, "fetch", gate=object())


def test_a_bad_start_node_raises_at_once():
    wf = diamond(Calls())
    with pytest.raises(KeyError, match="nope"):
        wf.debug("nope")


def test_restart_while_a_branch_waits_for_input_leaves_the_old_run_cancelled():
    with workflow("asking") as wf:

        @task
        def fetch():
            return 1

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_text_input("name?")

        @task
        def other():
            return 2

        fetch >> (ask | other)
    with wf.debug("fetch", session_id="Q") as dbg:
        dbg.step()
        dbg.step()
        dbg.step("Q_ask")
        assert rows(dbg) == [("Q", "waiting", None, []), ("Q_other", "held", "before other", [])]
        old = dbg.run
        dbg.restart()
        assert old.status == "cancelled"  # the engine alone would call it paused


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_close_after_an_interrupted_run_to_end_waits_for_the_run():
    calls = Calls()
    with workflow("interrupted") as wf:

        @task(inject_context=True)
        def slow(ctx):
            wait_for_main_thread_in("wait_finished")  # run_to_end is waiting for the run
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C in the kernel
            wait_until(lambda: ctx.cancelled, "close() to cancel the run")
            time.sleep(0.3)  # simulated work still finishing after the cancel
            calls.hit("slow")

    dbg = wf.debug("slow", session_id="K")
    with pytest.raises(KeyboardInterrupt):
        dbg.run_to_end()
    dbg.close()
    assert dbg.finished and calls.order == ["slow"] and dbg.status == "cancelled"


def test_a_dropped_debugger_cancels_its_run():
    calls = Calls()
    wf = diamond(calls)
    dbg = wf.debug("fetch", session_id="4821")
    dbg.step()
    dbg.step()
    run = dbg.run
    del dbg
    gc.collect()
    wait_until(lambda: run.status != "running", "the dropped debugger's run to end")
    assert run.cancel_event.is_set() and run.status == "cancelled"
    assert {s: r.state for s, r in run.sessions.items()} == {"4821": "cancelled", A: "cancelled", B: "cancelled"}
    assert calls.order == ["fetch"]


def test_state_and_debugger_render_as_text_and_html():
    wf = diamond(Calls())
    with wf.debug("fetch", session_id="4821") as dbg:
        dbg.step()
        dbg.step()
        text = str(dbg.state())
        assert text.splitlines()[1].startswith("  4821_transform_a  held     before transform_a")
        assert "<table>" in dbg._repr_html_() and "4821_transform_b" in dbg._repr_html_()
        assert repr(dbg) == "<Debugger 'diamond' running, held: 4821_transform_a, 4821_transform_b>"


def test_the_debugger_imports_no_notebook_or_drawing_library():
    import subprocess
    import sys

    code = (
        "import sys, graflow_nb.debug; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'IPython', 'ipywidgets', 'graphviz'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.timeout(30)
def test_a_run_that_paused_under_the_debugger_resumes_without_it():
    with workflow("ask_under_debugger") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go on?")

        @task
        def after(ask):
            return f"approved={ask}"

        ask >> after
        dbg = wf.debug("ask", session_id="Q")
        paused = dbg.run_to_end()
        assert paused.status == "paused"
        assert paused.resume("Q", True) == "approved=True"
    assert wf.last_run.status == "succeeded"
