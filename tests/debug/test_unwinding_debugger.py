"""The step debugger without threads: each move runs on the calling thread and the run
is held by unwinding its sessions (``graflow_nb.debug.unwinding``).

Every test runs twice: as in Pyodide (``sys.platform`` is "emscripten" and every
``Thread.start`` raises Pyodide's error, so the debugger chooses this mode itself), and
on this CPython with ``threads=False`` while every ``Thread.start`` is counted.  Either
way a test fails if the run tried to start a single thread.
"""

from __future__ import annotations

import sys
import threading

import pytest
from instruments import Calls

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.core.channel import MISSING
from graflow_nb.core.errors import ConfigError
from graflow_nb.core.snapshot import SnapshotError
from graflow_nb.debug import Debugger, DebuggerFinished

pytestmark = pytest.mark.timeout(30)

A, B = "4821_transform_a", "4821_transform_b"


@pytest.fixture(params=["pyodide", "threads=False"])
def debug_options(request, monkeypatch):
    """How to ask for the debugger without threads; after the test, no thread started."""
    tried: list[str] = []
    start = threading.Thread.start

    if request.param == "pyodide":
        def refuse(self):
            tried.append(self.name)
            raise RuntimeError("can't start new thread")

        monkeypatch.setattr(sys, "platform", "emscripten")
        monkeypatch.setattr(threading.Thread, "start", refuse)
        options: dict = {}
    else:
        def counted(self):
            tried.append(self.name)
            start(self)

        monkeypatch.setattr(threading.Thread, "start", counted)
        options = {"threads": False}
    before = {t.ident for t in threading.enumerate()}
    yield options
    assert tried == [], f"threads were started: {tried}"
    assert {t.ident for t in threading.enumerate()} <= before


def diamond(calls: Calls, *, fail: str | None = None, ask: bool = False):
    with workflow("diamond") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            calls.hit("fetch", ctx.session_id)
            ctx.get_channel().set("rows", 3)
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            calls.hit("transform_a", ctx.session_id)
            if fail == "transform_a":
                raise ValueError("transform_a broke on 3 rows")
            ctx.get_channel().set("seen_by_a", True)
            if ask:
                return ctx.request_approval("double the rows?")
            return fetch["rows"] * 2

        @task(inject_context=True)
        def transform_b(ctx, fetch):
            calls.hit("transform_b", ctx.session_id)
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            calls.hit("store")
            return transform_a + transform_b

        fetch >> (transform_a | transform_b) >> store
    return wf


def rows(dbg: Debugger) -> list[tuple[str, str, str | None, list[str]]]:
    """(session, status, where, queue) for every live session."""
    return [
        (s["session_id"], s["status"], None if s["stop"] is None else f"{s['stop']} {s['task']}", s["queue"])
        for s in dbg.state()
    ]


def test_a_diamond_stepped_task_by_task(debug_options):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        assert not dbg.threads
        assert rows(dbg) == [("4821", "held", "before fetch", [])]
        assert (dbg.status, calls.order) == ("running", [])

        step = dbg.step()
        assert (step.session_id, step.ran, str(step)) == ("4821", ("fetch",), "4821: ran fetch; now held before ParallelGroup_1")
        assert dbg.channel("4821") == {"rows": 3, "fetch.__result__": {"rows": 3}}

        step = dbg.step()
        assert step.forked == (A, B) and step.ran == ()
        assert rows(dbg) == [
            ("4821", "waiting", None, []),
            (A, "held", "before transform_a", []),
            (B, "held", "before transform_b", []),
        ]
        assert calls.order == ["fetch"]  # forking ran nothing

        step = dbg.step(B)  # only b; a stays held
        assert (step.session_id, step.ran) == (B, ("transform_b",))
        assert calls.order == ["fetch", "transform_b"]
        assert rows(dbg)[1:] == [(A, "held", "before transform_a", []), (B, "done", None, [])]
        assert dbg.changes(B)["transform_b.__result__"].value == 4
        assert "transform_b.__result__" not in dbg.channel(A)  # each branch sees only its own
        assert dbg.pending_merge() is None

        step = dbg.step(A)
        assert (step.session_id, step.ran) == (A, ("transform_a",))
        assert rows(dbg)[0] == ("4821", "held", "merge ParallelGroup_1", [])
        preview = dbg.pending_merge()
        assert (preview.group_id, preview.parent_session, preview.conflict) == ("ParallelGroup_1", "4821", None)
        assert [(b.session_id, b.status) for b in preview.branches] == [(A, "succeeded"), (B, "succeeded")]
        assert preview.changed == {
            "seen_by_a": (MISSING, True), "transform_a.__result__": (MISSING, 6), "transform_b.__result__": (MISSING, 4),
        }
        assert "seen_by_a" not in dbg.channel("4821")  # nothing merged before the merge step
        assert dbg.run.sessions[A].state == "open"

        step = dbg.step()
        assert step.merged == (A, B)
        assert dbg.channel("4821")["seen_by_a"] is True
        assert rows(dbg) == [("4821", "held", "before store", [])]

        assert dbg.step().ran == ("store",)
        assert dbg.finished and (dbg.status, dbg.result) == ("succeeded", 10)
        with pytest.raises(DebuggerFinished, match="succeeded, result 10"):
            dbg.step()
    run = dbg.run
    assert dbg.history == [
        ("4821", "fetch", None), (B, "transform_b", None), (A, "transform_a", None),
        ("4821", "ParallelGroup_1", None), ("4821", "store", None),
    ]
    assert calls.order == ["fetch", "transform_b", "transform_a", "store"]
    assert calls.sessions == {"fetch": ["4821"], "transform_a": [A], "transform_b": [B], "store": [""]}
    # Held and resumed six times, the run's record is that of one run: one attempt per
    # task (the group node's included), its steps counted once.
    assert [(t.task_id, t.session_id, t.attempt, t.status) for t in run.task_runs] == [
        ("fetch", "4821", 1, "succeeded"), ("ParallelGroup_1", "4821", 1, "succeeded"),
        ("transform_b", B, 1, "succeeded"), ("transform_a", A, 1, "succeeded"), ("store", "4821", 1, "succeeded"),
    ]
    assert run.steps == 5 and run.status == "succeeded" and run.gate is None
    assert {sid: r.state for sid, r in run.sessions.items()} == {"4821": "closed", A: "merged", B: "merged"}


@pytest.fixture(scope="module")
def executed() -> tuple[object, list[str]]:
    """The diamond's result and execution sequence from a plain ``execute``."""
    wf = diamond(Calls())
    return wf.execute("fetch", session_id="4821"), wf.last_run.execution_sequence()


def test_run_to_end_gives_what_execute_gives(executed, debug_options):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        dbg.step()
        assert dbg.run_to_end() == executed[0] == 10
    assert calls.order == ["fetch", "transform_a", "transform_b", "store"]  # members in declaration order
    assert dbg.run.execution_sequence() == executed[1]


def test_breakpoints_and_continue(debug_options):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", halt_before="store", **debug_options) as dbg:
        halt = dbg.continue_()
        assert halt.held == ("4821",) and halt.reason == "4821 held before store (breakpoint)"
        assert halt.ran == (("4821", "fetch"), (A, "transform_a"), (B, "transform_b"), ("4821", "ParallelGroup_1"))
        assert dbg.continue_().reason == "the run ended (succeeded, result 10)"

    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", halt_after="transform_a", **debug_options) as dbg:
        dbg.continue_()
        held = [s for s in dbg.state() if s["status"] == "held"]
        # All-stop: the hit holds every session at its next gate call, b before its task.
        assert [(s["session_id"], s["stop"], s["task"]) for s in held] == [(A, "after", "transform_a"), (B, "before", "transform_b")]
        assert calls.order == ["fetch", "transform_a"]
        step = dbg.step(A)  # from after its last task: the branch ends
        assert step.ran == () and step.now == "finished, not merged yet"
        assert rows(dbg)[2] == (B, "held", "before transform_b", [])
        dbg.clear_breakpoints()
        dbg.break_at_merge("ParallelGroup_1")
        halt = dbg.continue_()
        assert halt.reason == "4821 held at merge of ParallelGroup_1 (breakpoint)"
        assert calls.order == ["fetch", "transform_a", "transform_b"]
        dbg.clear_breakpoints()
        assert dbg.run_to_end() == 10


def test_a_stop_after_a_task_shows_the_successors_already_queued(debug_options):
    with workflow("chain") as wf:
        first = task("first")(lambda: 1)
        second = task("second")(lambda: 2)
        _ = first >> second
    with wf.debug("first", session_id="C", halt_after="first", **debug_options) as dbg:
        dbg.continue_()
        assert rows(dbg) == [("C", "held", "after first", ["second"])]
        assert dbg.step().now == "held before second"
        assert dbg.step().ran == ("second",) and dbg.result == 2


def test_continue_one_branch_while_the_other_stays_held(debug_options):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        dbg.step()
        dbg.step()
        halt = dbg.continue_(B)
        assert halt.ran == ((B, "transform_b"),) and halt.held == (A,)
        assert rows(dbg)[0][1] == "waiting"
        halt = dbg.continue_(A)
        assert halt.held == ("4821",) and "at merge of ParallelGroup_1" in halt.reason  # the parent was not freed
        assert dbg.run_to_end() == 10


def test_restart_cancels_the_held_run_and_starts_again(debug_options):
    calls = Calls()
    wf = diamond(calls)
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        dbg.step()
        dbg.step()
        old = dbg.run
        state = dbg.restart()
        assert [(s["session_id"], s["status"], s["next_task"]) for s in state] == [("4821", "held", "fetch")]
        assert old.status == "cancelled" and old is not dbg.run and old.cancel_event.is_set()
        assert {sid: r.state for sid, r in old.sessions.items()} == {"4821": "cancelled", A: "cancelled", B: "cancelled"}
        assert [(t.task_id, t.status) for t in old.task_runs] == [("fetch", "succeeded"), ("ParallelGroup_1", "cancelled")]
        assert sorted(old.skipped) == [("transform_a", A, "cancelled"), ("transform_b", B, "cancelled")]
        assert calls.order == ["fetch"]
        assert dbg.run_to_end() == 10
        assert calls.order == ["fetch", "fetch", "transform_a", "transform_b", "store"]


def test_a_failing_stepped_task_leaves_everything_inspectable(debug_options):
    calls = Calls()
    wf = diamond(calls, fail="transform_a")
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        dbg.step()
        dbg.step()
        step = dbg.step(A)
        assert step.failed == ("transform_a",) and str(step).startswith(f"{A}: ran transform_a; failed in transform_a")
        assert dbg.run.sessions[A].state == "failed"
        assert rows(dbg) == [("4821", "waiting", None, []), (B, "held", "before transform_b", [])]
        failure = dbg.run.task_runs[-1]
        assert (failure.task_id, failure.status, str(failure.error)) == ("transform_a", "failed", "transform_a broke on 3 rows")
        assert dbg.channel("4821") == {"rows": 3, "fetch.__result__": {"rows": 3}}
        with pytest.raises(ParallelGroupError) as raised:
            dbg.run_to_end()
        error = raised.value.errors["transform_a"]
        assert type(error) is ValueError and str(error) == "transform_a broke on 3 rows"
        assert dbg.error is raised.value and dbg.status == "failed"
    run = dbg.run
    # strict lets the sibling finish, as with threads; the failed group discards it
    assert {sid: r.state for sid, r in run.sessions.items()} == {"4821": "failed", A: "failed", B: "discarded"}
    assert calls.order == ["fetch", "transform_a", "transform_b"]


def test_a_question_in_a_stepped_branch_pauses_it_and_resume_finishes_the_run(debug_options):
    calls = Calls()
    wf = diamond(calls, ask=True)
    with wf.debug("fetch", session_id="4821", **debug_options) as dbg:
        dbg.step()
        dbg.step()
        step = dbg.step(A)  # a asks: its branch pauses, b stays held
        assert step.ran == () and not dbg.finished
        assert [(p.session_id, p.prompt) for p in dbg.run.pending_inputs()] == [(A, "double the rows?")]
        assert dbg.run.sessions[A].state == "paused"
        assert rows(dbg) == [("4821", "waiting", None, []), (B, "held", "before transform_b", [])]
        paused = dbg.run_to_end()  # b runs; then the run waits for the answer
        assert paused.status == "paused" and dbg.finished and dbg.run.gate is None
        assert calls.order == ["fetch", "transform_a", "transform_b"]
    assert dbg.run.sessions[B].state == "open"  # finished, waiting for its sibling to merge
    assert wf.resume({A: True}) == 5  # True + 4, without the debugger
    assert calls.order == ["fetch", "transform_a", "transform_b", "transform_a", "store"]
    assert wf.last_run.status == "succeeded"


def test_nested_groups_step_to_the_end_one_session_at_a_time(debug_options):
    names = ["a", "b", "b1", "b2", "bm", "c", "d"]
    with workflow("nested") as wf:
        t = {name: task(name)(lambda: None) for name in names}
        _ = t["a"] >> ((t["b"] >> (t["b1"] | t["b2"]) >> t["bm"]) | t["c"]) >> t["d"]
    with wf.debug("a", session_id="N", **debug_options) as dbg:
        seen = []
        while not dbg.finished:
            seen.append(dbg.step().session_id)
            statuses = {s["session_id"]: s["status"] for s in dbg.state()}
            assert "running" not in statuses.values()
            if statuses.get("N_b_b1") == "held":
                assert statuses["N_b"] == "waiting" and statuses["N"] == "waiting"
        assert dbg.status == "succeeded"
        assert dbg.run.task_counts() == {n: 1 for n in names} | {"ParallelGroup_1": 1, "ParallelGroup_2": 1}
        assert seen == ["N", "N", "N_b", "N_b", "N_b_b1", "N_b_b2", "N_b", "N_b", "N_c", "N", "N"]
        assert len(dbg.run.task_runs) == 9  # one attempt each, however often the run was held


def test_a_direct_group_is_stepped_member_by_member(debug_options):
    with workflow("direct") as wf:
        out = []
        m1 = task("m1")(lambda: out.append("m1"))
        m2 = task("m2")(lambda: out.append("m2"))
        last = task("last")(lambda: "end")
        _ = (m1 | m2).with_execution(backend="direct") >> last
    with wf.debug(session_id="D", **debug_options) as dbg:
        assert rows(dbg) == [("D", "held", "before ParallelGroup_1", [])]
        dbg.step()
        assert rows(dbg) == [("D", "held", "before m1", [])] and out == []
        dbg.step()
        assert rows(dbg) == [("D", "held", "before m2", [])] and out == ["m1"]
        dbg.step()
        assert rows(dbg) == [("D", "held", "before last", [])] and out == ["m1", "m2"]
        assert dbg.run_to_end() == "end"


def test_what_needs_a_thread_is_refused_before_the_run_starts(debug_options):
    with workflow("needs") as wf:
        @task
        async def fetch():
            return 1

    with pytest.raises(ConfigError, match=r"the step debugger of workflow 'needs' \(async task 'fetch'\) needs a thread"):
        wf.debug(**debug_options)
    with workflow("ready") as wf:
        task("only")(lambda: 1)
    with pytest.raises(ConfigError, match="with ready_parallel=True needs a thread of its own"):
        wf.debug(ready_parallel=True, **debug_options)
    with pytest.raises(ConfigError, match="the live view of the step debugger of workflow 'ready' needs a thread"):
        wf.debug(live=True, **debug_options)
    assert wf.last_run is None  # nothing started


def test_a_task_timeout_in_a_debugged_run_says_why_it_has_no_thread(debug_options):
    with workflow("slow") as wf:
        task("patient", timeout=2)(lambda: 1)
    with wf.debug(session_id="S", **debug_options) as dbg:
        step = dbg.step()
        assert step.failed == ("patient",) and isinstance(dbg.error, ConfigError)
        why = "this run starts none (threads=False)" if debug_options else "this Python (emscripten) can't start threads"
        assert str(dbg.error).startswith(f"task 'patient' (timeout=2s) in session 'S' needs a thread of its own, and {why}")


def test_threads_true_where_threads_cannot_start_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "platform", "emscripten")
    with workflow("dbg") as wf:
        task("a")(lambda: 1)
    with pytest.raises(ConfigError, match=r"wf.debug\(threads=True\) of workflow 'dbg' needs a thread of its own"):
        wf.debug(threads=True)
    with pytest.raises(TypeError, match="takes True, False or None"):
        wf.debug(threads="no")


def test_a_held_run_is_not_saved_but_a_run_it_paused_is(debug_options, tmp_path):
    wf = diamond(Calls(), ask=True)
    with wf.debug("fetch", session_id="4821", checkpoint_dir=tmp_path, **debug_options) as dbg:
        dbg.step()
        with pytest.raises(SnapshotError, match="run '4821' is held by a step debugger that steps it without threads"):
            dbg.run.save(tmp_path / "now")
        assert list(tmp_path.iterdir()) == []  # nor saved by itself while held
        paused = dbg.run_to_end()
    assert paused.status == "paused" and sorted(p.name for p in tmp_path.iterdir()) == [
        "4821.meta.json", "4821.pkl", "4821.state.json",
    ]
    assert wf.resume(str(tmp_path / "4821.pkl"), answers={A: False}) == 4  # False + 4


def test_threads_true_and_the_default_run_the_threaded_debugger_where_threads_exist():
    for options in ({"threads": True}, {}):
        with workflow("dbg") as wf:
            task("a")(lambda: threading.current_thread().name)
        with wf.debug(session_id="S", **options) as dbg:
            assert dbg.threads is True
            assert dbg.run_to_end() == "graflow-debug-dbg"  # the debugger's own thread ran it
