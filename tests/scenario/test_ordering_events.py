"""Canonical order, run records, the event stream and branch errors
(BEHAVIOURS.md items 45-47, plus how a failing branch surfaces)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from instruments import WAIT, EventWaiter

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.events import EventKind, EventLog


def diamond(b_first: bool = False):
    """``fetch >> (a | b) >> store``; with ``b_first`` a finishes only after the engine
    has announced b finished (b's record is complete by then)."""
    events = EventWaiter()
    with workflow("diamond") as wf:

        @task
        def fetch():
            events.clear()  # each run waits for its own b
            return 1

        @task
        def a(fetch):
            if b_first:
                events.wait_for(EventKind.TASK_FINISHED, "S_b", "b")
            return fetch + 1

        @task
        def b(fetch):
            return fetch + 2

        @task
        def store(a, b):
            return a + b

        fetch >> (a | b) >> store
    if b_first:
        wf.observers.append(events)
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
    assert sorted(e.session_id for e in log.of_kind(EventKind.SESSION_FORKED)) == ["S_a", "S_b"]
    assert [(e.session_id, e.data) for e in log.of_kind(EventKind.RUN_STARTED)] == [("S", {"workflow": "diamond"})]
    assert (log.events[-1].kind, log.events[-1].data) == (EventKind.RUN_FINISHED, {"status": "succeeded"})


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
    assert type(error.errors["a"]) is BranchBoom
    assert error.__cause__ is raised[0]
    message = str(error)
    assert "a" in error.errors and "'a'" in message
    assert "S_a" in message
    assert "a broke" in message
    assert ran == []


def test_first_failure_in_declared_order_is_the_cause():
    both_running = threading.Barrier(2, timeout=WAIT)
    events = EventWaiter()
    with workflow("two-fail") as wf:

        @task
        def fetch():
            return None

        @task
        def a():
            both_running.wait()
            events.wait_for(EventKind.TASK_FAILED, "S_b", "b")  # a fails last
            raise ValueError("a failed")

        @task
        def b():
            both_running.wait()
            raise KeyError("b failed")

        fetch >> (a | b)

    for _ in range(3):
        events.clear()
        with pytest.raises(ParallelGroupError) as info:
            wf.execute("fetch", session_id="S", observers=[events])
        error = info.value
        failed = [e.task_id for e in events.matching(EventKind.TASK_FAILED) if e.task_id in ("a", "b")]
        assert failed == ["b", "a"]  # completion order ...
        assert list(error.errors) == ["a", "b"]  # ... is not the reported order
        assert type(error.errors["a"]) is ValueError and str(error.errors["a"]) == "a failed"
        assert type(error.errors["b"]) is KeyError
        assert error.__cause__ is error.errors["a"]


def test_failed_run_stays_inspectable():
    events = EventWaiter()
    with workflow("failed-run") as wf:

        @task
        def fetch():
            return None

        @task
        def a():
            events.wait_for(EventKind.TASK_FINISHED, "S_b", "b")  # b succeeded before a fails
            raise RuntimeError("nope")

        @task
        def b():
            return "ok"

        @task
        def store():
            return None

        fetch >> (a | b) >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S", observers=[events])

    run = wf.last_run
    assert run.status == "failed"
    assert run.error is info.value
    assert {s: r.state for s, r in run.sessions.items()} == {"S": "failed", "S_a": "failed", "S_b": "discarded"}
    assert [(tr.task_id, tr.session_id, tr.status) for tr in run.finished_runs()] == [
        ("fetch", "S", "succeeded"), ("ParallelGroup_1", "S", "failed"), ("a", "S_a", "failed"),
        ("b", "S_b", "succeeded"),
    ]
    failed = next(tr for tr in run.task_runs if tr.task_id == "a")
    assert type(failed.error) is RuntimeError and str(failed.error) == "nope"
    assert run.results() == {"fetch": None, "b": "ok"}  # b's result is kept, though not merged
    assert run.session_tree().splitlines() == [
        "S  failed  enqueued 1 dequeued 1  ran fetch, ParallelGroup_1",
        "├── S_a  failed  enqueued 1 dequeued 1  ran a",
        "└── S_b  discarded  enqueued 1 dequeued 1  ran b",
    ]
