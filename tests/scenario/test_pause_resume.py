"""Human input inside parallel branches: a question parks its own session only, the
run reports every waiting session, and resume continues from the saved frontier with
nothing re-run (BEHAVIOURS.md items 39-41, 43; reconciliation 12).

A task that asks runs again from its start after resume (and then gets the answer),
so tests count the work a task does *after* its question.
"""

from __future__ import annotations

import threading

import pytest
from instruments import WAIT, Calls, EventWaiter, overlap, spans, wait_until

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.core.events import EventKind


@pytest.fixture(autouse=True)
def no_files_written(tmp_path, monkeypatch):
    """Pausing keeps its state in memory: nothing appears in the working directory."""
    monkeypatch.chdir(tmp_path)
    yield
    assert list(tmp_path.iterdir()) == []


def approver(calls: Calls, name: str, prompt: str):
    @task(name, inject_context=True)
    def body(ctx):
        answer = ctx.request_approval(prompt)
        calls.hit(name)  # only once an answer is there
        return answer

    return body


# -- item 39 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_branch_question_pauses_only_its_session_and_resume_finishes_the_run():
    calls = Calls()
    with workflow("hil") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        a = approver(calls, "a", "Ship it?")

        @task
        def b():
            calls.hit("b")
            return "rb"

        @task
        def store(a, b):
            calls.hit("store")
            return a, b

        fetch >> (a | b) >> store

    paused = wf.execute("fetch", session_id="S")

    assert paused.status == "paused"
    run = wf.last_run
    assert run.status == "paused"
    assert [(p.session_id, p.task_id, p.kind, p.prompt) for p in paused.pending] == [
        ("S_a", "a", "approval", "Ship it?")
    ]
    assert run.pending_inputs() == paused.pending
    assert run.results()["b"] == "rb"
    assert calls.order == ["fetch", "b"]
    assert run.sessions["S_a"].state == "paused"
    assert "store" not in run.task_counts()

    assert paused.resume("S_a", True) == (True, "rb")
    assert calls.order == ["fetch", "b", "a", "store"]
    assert run.status == "succeeded"
    assert run.pending_inputs() == []
    assert run.task_counts()["store"] == 1 and run.task_counts()["b"] == 1


# -- item 40 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_two_paused_branches_are_both_listed_and_resumed_one_at_a_time():
    calls = Calls()
    with workflow("hil2") as wf:

        @task
        def fetch():
            return None

        a = approver(calls, "a", "Approve a?")
        b = approver(calls, "b", "Approve b?")

        @task
        def store(a, b):
            calls.hit("store")
            return a, b

        fetch >> (a | b) >> store

    paused = wf.execute("fetch", session_id="S")
    assert [(p.session_id, p.prompt) for p in paused.pending] == [("S_a", "Approve a?"), ("S_b", "Approve b?")]
    assert wf.last_run.pending_inputs() == paused.pending

    again = wf.resume({"S_b": False})
    assert again.status == "paused"
    assert [p.session_id for p in again.pending] == ["S_a"]
    assert wf.last_run.status == "paused"
    assert calls.order == ["b"]

    assert again.resume("S_a", True) == (True, False)
    assert calls.order == ["b", "a", "store"]
    assert wf.last_run.status == "succeeded"


# -- item 41 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_sibling_chain_of_a_paused_branch_runs_once_and_nothing_is_lost():
    calls = Calls()
    with workflow("frontier") as wf:

        @task
        def A():
            calls.hit("A")

        H = approver(calls, "H", "Continue?")

        @task
        def C():
            calls.hit("C")

        @task
        def E():
            calls.hit("E")
            return "e"

        A >> (H | (C >> E))

    paused = wf.execute("A", session_id="S")
    assert paused.status == "paused"
    assert calls.order == ["A", "C", "E"]  # E ran before the resume ...

    paused.resume("S_H", True)
    assert calls.order == ["A", "C", "E", "H"]  # ... and not again after it
    run = wf.last_run
    assert run.status == "succeeded"
    assert {k: run.task_counts()[k] for k in ("A", "H", "C", "E")} == {"A": 1, "H": 1, "C": 1, "E": 1}
    assert run.results()["E"] == "e"
    assert run.sessions["S_C"].state == run.sessions["S_H"].state == "merged"
    assert run.skipped == []


# -- item 43 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_root_pause_then_group_runs_concurrently_after_resume():
    """x and y meet at a barrier only concurrent branches can pass."""
    calls = Calls()
    both_inside = threading.Barrier(2, timeout=WAIT)
    with workflow("root-pause") as wf:
        H = approver(calls, "H", "Start?")

        @task
        def x():
            both_inside.wait()
            calls.hit("x")
            return "x"

        @task
        def y():
            both_inside.wait()
            calls.hit("y")
            return "y"

        @task
        def z(x, y):
            calls.hit("z")
            return x + y

        H >> (x | y) >> z

    paused = wf.execute("H", session_id="S")
    assert [p.session_id for p in paused.pending] == ["S"]
    assert calls.order == []

    assert paused.resume("S", True) == "xy"

    assert calls.order[0] == "H" and sorted(calls.order[1:3]) == ["x", "y"] and calls.order[3:] == ["z"]
    run = wf.last_run
    assert overlap(*spans(run, ["x", "y"]).values())
    assert [(tr.task_id, tr.session_id) for tr in run.finished_runs() if tr.task_id in "xyz"] == [
        ("x", "S_x"), ("y", "S_y"), ("z", "S"),
    ]


# -- answers checked, defaults, answering from elsewhere ---------------------------------------
@pytest.mark.timeout(60)
def test_wrong_selection_answer_names_the_options_and_keeps_the_run_paused():
    with workflow("select") as wf:

        @task
        def fetch():
            return None

        @task(inject_context=True)
        def pick(ctx):
            return ctx.request_selection("Colour?", ["red", "green"])

        @task
        def other():
            return "o"

        @task
        def store(pick):
            return pick

        fetch >> (pick | other) >> store

    paused = wf.execute("fetch", session_id="S")
    with pytest.raises(ValueError) as info:
        paused.resume("S_pick", "blue")
    assert str(info.value) == "S_pick/pick/1: 'blue' is not one of the options ['red', 'green']"
    assert wf.last_run.status == "paused"
    assert [p.session_id for p in wf.last_run.pending_inputs()] == ["S_pick"]

    assert paused.resume("S_pick", "green") == "green"


@pytest.mark.timeout(60)
def test_question_with_default_and_timeout_takes_the_default_without_pausing():
    with workflow("default") as wf:

        @task
        def fetch():
            return None

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("Go?", default=False, timeout=0.1)

        @task
        def other():
            return "o"

        @task
        def store(ask, other):
            return ask, other

        fetch >> (ask | other) >> store

    events = EventWaiter()
    assert wf.execute("fetch", session_id="S", observers=[events]) == (False, "o")
    run = wf.last_run
    assert run.status == "succeeded"
    assert run.pending_inputs() == []
    assert events.matching(EventKind.SESSION_PAUSED) == []  # it waited in place, never parked
    assert run.sessions["S_ask"].state == "merged"
    (start, end), = spans(run, ["ask"]).values()
    assert end - start >= 0.1  # the default came after the question's timeout, not at once


@pytest.mark.timeout(60)
def test_answer_from_another_thread_unblocks_a_waiting_default_question_early():
    with workflow("answer-early") as wf:

        @task
        def fetch():
            return None

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_text_input("Name?", default="nobody", timeout=10)

        @task
        def other():
            return "o"

        @task
        def store(ask):
            return ask

        fetch >> (ask | other) >> store

    asked = []

    def answer_when_asked():
        run = wait_until(lambda: wf.last_run if wf.last_run and wf.last_run.pending_inputs() else None, "the question")
        asked.extend((p.session_id, p.kind, p.prompt) for p in run.pending_inputs())
        run.answer("S_ask", "Ada")

    helper = threading.Thread(target=answer_when_asked)
    helper.start()
    result = wf.execute("fetch", session_id="S")
    helper.join(WAIT)

    assert asked == [("S_ask", "text", "Name?")]
    assert result == "Ada"  # the answer, not the default: it came before the 10 s timeout
    assert wf.last_run.status == "succeeded"
    assert wf.last_run.pending_inputs() == []


@pytest.mark.timeout(60)
def test_resume_of_a_finished_run_is_refused():
    calls = Calls()
    with workflow("finished") as wf:
        approver(calls, "a", "ok?")

    paused = wf.execute("a", session_id="S")
    assert paused.resume("S", True) is True
    with pytest.raises(RuntimeError, match="not paused"):
        paused.resume("S", True)
    assert calls.order == ["a"]


# -- pauses in nested groups, with limits and with failing siblings ----------------------------
@pytest.mark.timeout(60)
def test_pause_in_a_nested_group_resumes_only_that_branch():
    calls = Calls()
    with workflow("nested-pause") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        @task
        def a():
            calls.hit("a")
            return "a"

        @task(inject_context=True)
        def b(ctx):
            calls.hit("b")
            ctx.get_channel().set("from_b", 1)

        h = approver(calls, "h", "Deep?")

        @task(inject_context=True)
        def k(ctx):
            calls.hit("k")
            ctx.get_channel().set("from_k", 2)

        @task
        def bm():
            calls.hit("bm")

        @task(inject_context=True)
        def store(ctx, h, a):
            calls.hit("store")
            ch = ctx.get_channel()
            return h, a, ch.get("from_b"), ch.get("from_k")

        fetch >> (a | (b >> (h | k) >> bm)) >> store

    paused = wf.execute("fetch", session_id="S")
    assert [p.session_id for p in paused.pending] == ["S_b_h"]
    assert sorted(calls.order) == ["a", "b", "fetch", "k"]

    assert paused.resume("S_b_h", True) == (True, "a", 1, 2)
    assert sorted(calls.order) == ["a", "b", "bm", "fetch", "h", "k", "store"]
    run = wf.last_run
    assert run.status == "succeeded"
    assert {s: run.sessions[s].state for s in ("S_a", "S_b", "S_b_h", "S_b_k")} == dict.fromkeys(
        ("S_a", "S_b", "S_b_h", "S_b_k"), "merged"
    )


@pytest.mark.timeout(60)
def test_pause_under_max_concurrency_one_lets_later_members_start():
    calls = Calls()
    with workflow("pause-limit") as wf:

        @task
        def fetch():
            return None

        a = approver(calls, "a", "First?")

        @task
        def b():
            calls.hit("b")

        @task
        def c():
            calls.hit("c")

        @task
        def store():
            calls.hit("store")
            return "done"

        fetch >> (a | b | c).with_execution(max_concurrency=1) >> store

    paused = wf.execute("fetch", session_id="S")
    assert paused.status == "paused"
    assert calls.order == ["b", "c"]  # the pause held no slot
    assert paused.resume("S_a", True) == "done"
    assert calls.order == ["b", "c", "a", "store"]


@pytest.mark.timeout(60)
def test_best_effort_failure_beside_a_pause_is_recorded_after_resume():
    calls = Calls()
    with workflow("pause-best-effort") as wf:

        @task
        def fetch():
            return None

        h = approver(calls, "h", "ok?")

        @task
        def bad():
            calls.hit("bad")
            raise ValueError("bad")

        @task
        def store():
            calls.hit("store")
            return "done"

        fetch >> (h | bad).with_execution(policy="best_effort") >> store

    paused = wf.execute("fetch", session_id="S")
    assert paused.status == "paused"
    assert paused.resume("S_h", True) == "done"
    assert calls.order == ["bad", "h", "store"]
    outcome = wf.last_run.groups[-1]
    assert outcome.state == "degraded"
    assert [f["task_id"] for f in outcome.failures] == ["bad"]


@pytest.mark.timeout(60)
def test_strict_failure_beside_a_pause_fails_the_run_instead_of_asking():
    """Items 29/39 with reconciliations 5 and 12: under fail_fast a sibling's failure fails
    the group at the barrier; the run must not ask a person a question for a run that has
    already failed (and then report the asking branch as "not run")."""
    calls = Calls()
    with workflow("pause-strict") as wf:

        @task
        def fetch():
            return None

        h = approver(calls, "h", "ok?")

        @task
        def bad():
            calls.hit("bad")
            raise ValueError("bad")

        @task
        def store():
            calls.hit("store")

        fetch >> (h | bad) >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")
    assert list(info.value.errors) == ["bad"]
    assert wf.last_run.status == "failed"
    assert calls.order == ["bad"]
