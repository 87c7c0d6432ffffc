"""Canonical order, run records, the event stream and branch errors
(BEHAVIOURS.md items 45-47, plus how a failing branch surfaces)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.events import EventKind, EventLog


def diamond(b_first: bool = False):
    """``fetch >> (a | b) >> store``; with ``b_first`` a finishes only after b has."""
    b_done = threading.Event()
    with workflow("diamond") as wf:

        @task
        def fetch():
            return 1

        @task
        def a(fetch):
            if b_first:
                assert b_done.wait(5), "b never finished while a was running"
                time.sleep(0.01)
            return fetch + 1

        @task
        def b(fetch):
            b_done.set()
            return fetch + 2

        @task
        def store(a, b):
            b_done.clear()
            return a + b

        fetch >> (a | b) >> store
    return wf


# -- item 45 ---------------------------------------------------------------------------
def test_execution_sequence_is_canonical_when_b_finishes_first():
    wf = diamond(b_first=True)
    sequences = []
    finish_order = []
    for _ in range(20):
        wf.execute("fetch", session_id="S")
        run = wf.last_run
        sequences.append(run.execution_sequence())
        ends = {tr.task_id: tr.end for tr in run.task_runs if tr.task_id in ("a", "b")}
        finish_order.append("b" if ends["b"] < ends["a"] else "a")
    assert sequences == [["fetch", "a", "b", "store"]] * 20
    assert finish_order.count("b") == 20  # the raw record keeps the real timing


def test_raw_event_log_keeps_timestamps_threads_and_sessions():
    log = EventLog()
    wf = diamond(b_first=True)
    before = time.time()
    wf.execute("fetch", session_id="S", observers=[log])
    after = time.time()

    finished = {e.task_id: e for e in log.of_kind(EventKind.TASK_FINISHED)}
    assert finished["b"].time < finished["a"].time  # raw log: real completion order
    assert all(before <= e.time <= after for e in log.events)
    assert finished["a"].session_id == "S_a" and finished["b"].session_id == "S_b"
    assert finished["fetch"].session_id == "S" and finished["store"].session_id == "S"
    assert all(isinstance(e.thread, str) and e.thread for e in log.events)
    assert finished["fetch"].thread == threading.current_thread().name


# -- item 46 ---------------------------------------------------------------------------
def test_fanout_64_has_exactly_one_record_per_task():
    @task
    def leaf():
        return 1

    with workflow("fan64") as wf:

        @task
        def src():
            return None

        @task
        def sink():
            return "done"

        ids = [f"w{i}" for i in range(64)]
        src >> parallel(*[leaf(task_id=i) for i in ids]) >> sink

    wf.execute("src", session_id="S")
    run = wf.last_run

    per_task = Counter(tr.task_id for tr in run.task_runs)
    for task_id in [*ids, "src", "sink"]:
        assert per_task[task_id] == 1, task_id
    by_id = {tr.task_id: tr for tr in run.task_runs}
    for task_id in ids:
        tr = by_id[task_id]
        assert tr.status == "succeeded"
        assert tr.session_id == f"S_{task_id}"
        assert tr.attempt == 1
        assert tr.start is not None and tr.end is not None and tr.end >= tr.start
    assert run.execution_sequence() == ["src", *ids, "sink"]


# -- item 47 ---------------------------------------------------------------------------
def test_diamond_event_stream():
    log = EventLog()
    wf = diamond()
    wf.execute("fetch", session_id="S", observers=[log])

    forked = log.of_kind(EventKind.SESSION_FORKED)
    assert sorted(e.session_id for e in forked) == ["S_a", "S_b"]
    assert all(e.data["parent"] == "S" for e in forked)

    merged = log.of_kind(EventKind.BRANCH_MERGED)
    assert sorted(e.session_id for e in merged) == ["S_a", "S_b"]
    assert all(e.data["parent"] == "S" for e in merged)

    closed = log.of_kind(EventKind.SESSION_CLOSED)
    branch_closed = [e for e in closed if e.session_id != "S"]
    assert sorted(e.session_id for e in branch_closed) == ["S_a", "S_b"]
    assert all(e.data["parent"] == "S" for e in branch_closed)
    assert [e.session_id for e in closed].count("S") == 1

    started = Counter(e.task_id for e in log.of_kind(EventKind.TASK_STARTED))
    finished = Counter(e.task_id for e in log.of_kind(EventKind.TASK_FINISHED))
    for name in ("fetch", "a", "b", "store"):
        assert started[name] == 1 and finished[name] == 1, name
    assert set(started.values()) == {1} and set(finished.values()) == {1}


def test_observer_can_be_attached_to_the_workflow():
    log = EventLog()
    wf = diamond()
    wf.observers.append(log)
    wf.execute("fetch", session_id="S")
    assert len(log.of_kind(EventKind.SESSION_FORKED)) == 2
    assert log.events[-1].kind == EventKind.RUN_FINISHED


# -- errors from branches ----------------------------------------------------------------
class BranchBoom(Exception):
    pass


def test_branch_exception_surfaces_with_original_object():
    raised: list[BaseException] = []
    ran: list[str] = []
    with workflow("boom") as wf:

        @task
        def fetch():
            return None

        @task
        def a():
            error = BranchBoom("a broke")
            raised.append(error)
            raise error

        @task
        def b():
            return "fine"

        @task
        def store():
            ran.append("store")

        fetch >> (a | b) >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    error = info.value
    assert error.errors["a"] is raised[0]
    assert isinstance(error.errors["a"], BranchBoom)
    assert error.__cause__ is raised[0]
    message = str(error)
    assert "a" in error.errors and "'a'" in message
    assert "S_a" in message
    assert "a broke" in message
    assert ran == []


def test_first_failure_in_declared_order_is_the_cause():
    both_running = threading.Barrier(2, timeout=5)
    with workflow("two-fail") as wf:

        @task
        def fetch():
            return None

        @task
        def a():
            both_running.wait()
            time.sleep(0.05)  # fails last
            raise ValueError("a failed")

        @task
        def b():
            both_running.wait()
            raise KeyError("b failed")

        fetch >> (a | b)

    for _ in range(3):
        with pytest.raises(ParallelGroupError) as info:
            wf.execute("fetch", session_id="S")
        error = info.value
        assert list(error.errors) == ["a", "b"]
        assert isinstance(error.errors["a"], ValueError)
        assert isinstance(error.errors["b"], KeyError)
        assert error.__cause__ is error.errors["a"]


def test_failed_run_stays_inspectable():
    with workflow("failed-run") as wf:

        @task
        def fetch():
            return None

        @task
        def a():
            raise RuntimeError("nope")

        @task
        def b():
            return "ok"

        @task
        def store():
            return None

        fetch >> (a | b) >> store

    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="S")

    run = wf.last_run
    assert run is not None
    assert run.status == "failed"
    assert isinstance(run.error, ParallelGroupError)
    assert set(run.sessions) == {"S", "S_a", "S_b"}
    assert run.sessions["S"].state == "failed"
    assert run.sessions["S_a"].state == "failed"
    assert run.sessions["S_b"].state not in ("open", "merged")
    assert "store" not in run.task_counts()
    failed = [tr for tr in run.task_runs if tr.task_id == "a"]
    assert len(failed) == 1 and failed[0].status == "failed"
    assert isinstance(failed[0].error, RuntimeError)
    assert "S_a" in run.session_tree()
