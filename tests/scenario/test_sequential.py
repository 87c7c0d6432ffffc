"""backend="sequential": a branch session per member, the members one after another on
the calling thread; and the thread-free mode it is chosen in where threads can't start
(Pyodide: ``sys.platform == "emscripten"``, where every ``Thread.start()`` raises).

The thread-free tests set ``sys.platform`` to "emscripten" and make ``Thread.start``
raise Pyodide's own error, so any thread a run still started fails the test."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from instruments import Calls

from graflow_nb import parallel, task, workflow
from graflow_nb.core.errors import ConfigError
from graflow_nb.core.events import EventKind, EventLog
from graflow_nb.core.runtime.threadless import threads_available
from graflow_nb.debug import Debugger


@pytest.fixture
def no_threads(monkeypatch):
    """This Python is Pyodide: threads can't start."""

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", refuse)


def teaching_workflow(calls: Calls, backend: str | None = "sequential"):
    """A diamond whose group holds a nested group and a member that adds a task at run
    time; every member writes the channel and records which thread ran it."""
    options = {"merge": "overwrite"} if backend is None else {"backend": backend, "merge": "overwrite"}
    with workflow("teach") as wf:

        def member(name, then=None):
            @task(name, inject_context=True)
            def body(ctx):
                calls.hit(name, ctx.session_id)
                calls.hit(f"thread:{threading.get_ident()}")
                ctx.get_channel().set("winner", name)
                ctx.get_channel().set(name, len(calls.order))
                if then is not None:
                    ctx.next_task(then)
                return name

            return body

        @task
        def fetch():
            calls.hit("fetch")
            return 1

        dynamic = member("added")
        outer_a = member("a", then=dynamic)
        inner = parallel(member("n1"), member("n2")).with_execution(**options)
        outer_b = member("b")

        @task(inject_context=True)
        def store(ctx):
            calls.hit("store")
            ch = ctx.get_channel()
            return {k: ch.get(k) for k in ("winner", "a", "added", "n1", "n2", "b")}

        fetch >> parallel(outer_a, inner, outer_b).with_execution(**options) >> store
    return wf


def test_sequential_members_run_in_declaration_order_on_the_calling_thread_in_branch_sessions():
    calls = Calls()
    wf = teaching_workflow(calls)
    log = EventLog()
    result = wf.execute("fetch", session_id="S", observers=[log])

    names = [n for n in calls.order if not n.startswith("thread:")]
    assert names == ["fetch", "a", "added", "n1", "n2", "b", "store"]
    assert {n for n in calls.order if n.startswith("thread:")} == {f"thread:{threading.get_ident()}"}
    assert calls.sessions["a"] == ["S_a"] and calls.sessions["added"] == ["S_a"]
    assert calls.sessions["b"] == ["S_b"]
    inner_session = calls.sessions["n1"][0]
    assert inner_session.endswith("_n1") and inner_session != "S_n1"  # a branch of the inner group's branch
    # Merged in declaration order: the last member declared wins "winner".
    assert result["winner"] == "b"
    assert [result[k] for k in ("a", "added", "n1", "n2", "b")] == sorted(result[k] for k in ("a", "added", "n1", "n2", "b"))
    run = wf.last_run
    assert run.task_counts()["added"] == 1 and run.task_counts()["store"] == 1
    assert run.sessions["S_a"].tasks_run == ["a", "added"]
    assert run.sessions["S_a"].state == run.sessions["S_b"].state == "merged"
    merged = [e.task_id for e in log.events if e.kind == EventKind.BRANCH_MERGED and e.data.get("parent") == "S"]
    assert len(merged) == 3 and merged[0] == "a" and merged[-1] == "b"
    forked = [e for e in log.events if e.kind == EventKind.SESSION_FORKED]
    assert len(forked) == 5  # a, inner, b, and inner's n1, n2


def test_sequential_runs_are_identical_run_after_run():
    """A deterministic teaching run: the same order, sessions, events and outputs each time."""
    seen = []
    for _ in range(5):
        calls = Calls()
        wf = teaching_workflow(calls)
        log = EventLog()
        result = wf.execute("fetch", session_id="S", observers=[log])
        events = [(e.kind.value, e.session_id, e.task_id) for e in log.events]
        seen.append((calls.order, dict(calls.sessions), result, events, wf.last_run.session_tree()))
    assert all(s == seen[0] for s in seen[1:])


def test_sequential_fail_fast_never_starts_later_members_and_best_effort_runs_them_all():
    for policy, fail_fast, ran, raises in (
        ("strict", True, ["m1", "m2"], True),
        ("best_effort", False, ["m1", "m2", "m3", "store"], False),
    ):
        calls = Calls()
        with workflow("fan") as wf:
            m1, m3 = calls.task("m1"), calls.task("m3")

            @task
            def m2(calls=calls):
                calls.hit("m2")
                raise ValueError("m2 broke")

            store = calls.task("store")
            (parallel(m1, m2, m3).with_execution(backend="sequential", policy=policy, fail_fast=fail_fast) >> store)
        if raises:
            with pytest.raises(Exception, match="m2 broke"):
                wf.execute(session_id="S")
            assert wf.last_run.sessions["S_m3"].state == "cancelled"
        else:
            wf.execute(session_id="S")
            assert wf.last_run.groups[-1].state == "degraded"
        assert calls.order == ran, policy
        assert wf.last_run.sessions["S_m2"].state == "failed"


def test_sequential_group_with_a_timeout_is_refused_when_declared():
    with workflow("t"):
        a, b = task("a")(lambda: 1), task("b")(lambda: 2)
        with pytest.raises(ValueError, match=r"group .*: a timeout needs members on threads of their own; backend 'sequential'"):
            parallel(a, b).with_execution(backend="sequential", timeout=5)


def test_threads_available_is_false_only_on_emscripten(monkeypatch):
    assert threads_available("emscripten") is False
    assert threads_available("linux") is True and threads_available("win32") is True
    assert threads_available() is True
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert threads_available() is False


def test_without_threads_a_threading_group_runs_sequentially_in_branch_sessions(no_threads):
    calls = Calls()
    wf = teaching_workflow(calls, backend=None)  # the default backend: threading
    result = wf.execute("fetch", session_id="S")
    assert [n for n in calls.order if not n.startswith("thread:")] == ["fetch", "a", "added", "n1", "n2", "b", "store"]
    assert result["winner"] == "b"
    assert wf.last_run.status == "succeeded"
    assert wf.last_run.sessions["S_a"].state == "merged"


def test_without_threads_a_ready_parallel_run_and_a_map_run_one_task_at_a_time(no_threads):
    calls = Calls()
    with workflow("ready") as wf:
        start = calls.task("start")
        x, y = calls.task("x"), calls.task("y")

        @task
        def items():
            return [1, 2, 3]

        @task
        def double(item):
            calls.hit(f"double:{item}")
            return item * 2

        start >> x
        start >> y
        items >> double.map(over="items")
    wf.execute("start", session_id="S", ready_parallel=True)
    assert calls.order == ["start", "x", "y"]
    calls.order.clear()
    assert wf.execute("items", session_id="M") == [2, 4, 6]
    assert calls.order == ["double:1", "double:2", "double:3"]


def test_without_threads_a_task_timeout_fails_with_one_error_naming_the_task(no_threads):
    with workflow("slow") as wf:
        @task(timeout=2)
        def patient():
            return 1
    with pytest.raises(ConfigError) as raised:
        wf.execute(session_id="S")
    message = str(raised.value)
    assert "task 'patient' (timeout=2s) in session 'S' needs a thread of its own" in message
    assert "emscripten" in message and len(message.splitlines()) == 1
    assert wf.last_run.status == "failed"


def test_without_threads_a_task_timeout_is_not_retried(no_threads):
    with workflow("slow") as wf:
        @task(timeout=2, max_retries=3)
        def patient():
            return 1
    with pytest.raises(ConfigError, match="task 'patient' .* needs a thread of its own"):
        wf.execute(session_id="S")
    assert wf.last_run.task_counts()["patient"] == 1


def test_without_threads_a_group_timeout_fails_with_one_error_naming_the_group(no_threads):
    calls = Calls()
    with workflow("g") as wf:
        group = parallel(calls.task("a"), calls.task("b")).with_execution(timeout=3)
    with pytest.raises(ConfigError, match=rf"group {group.task_id!r} \(timeout=3s\) needs a thread of its own"):
        wf.execute(session_id="S")
    assert calls.order == []  # nothing started
    assert all(r.state == "cancelled" for sid, r in wf.last_run.sessions.items() if sid != "S")


def test_without_threads_the_step_debugger_steps_the_run_on_this_thread(no_threads):
    with workflow("dbg") as wf:
        task("a")(lambda: 1)
    dbg = Debugger(wf, session_id="S")
    assert not dbg.threads and dbg.held() == ["S"]
    assert dbg.step().ran == ("a",) and dbg.result == 1


def test_without_threads_a_question_with_a_timeout_does_not_wait_for_an_answer_nobody_can_give(no_threads):
    """No other thread could answer while the asking task waited: the timeout runs out
    at once, the question takes its default, or pauses its session for resume()."""
    with workflow("asks") as wf:
        @task(inject_context=True)
        def with_default(ctx):
            return ctx.request_text_input("colour?", timeout=30, default="blue")

        @task(inject_context=True)
        def without(ctx):
            return ctx.request_text_input("size?", timeout=30)

        @task
        def both(with_default, without):
            return f"{with_default} {without}"

        (with_default | without) >> both
    started = time.monotonic()
    paused = wf.execute(session_id="S")
    assert time.monotonic() - started < 5  # not the 30 s of either timeout
    assert [(p.session_id, p.prompt, p.timed_out) for p in paused.pending] == [("S_without", "size?", True)]
    assert paused.resume({"S_without": "large"}) == "blue large"
