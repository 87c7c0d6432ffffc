"""The "Events" page (docs/reference/events.md): every kind in ``EventKind`` is emitted by some run, with the fields
its docstring names; ``branch_merged`` carries what the branch changed; with no
observer no event object is built at all."""

from __future__ import annotations

import pytest

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.core import events as events_module
from graflow_nb.core.events import Event, EventBus, EventKind, EventLog


def flat(log: EventLog) -> list[tuple]:
    """Each event as (kind, session, task, data), an exception as (type name, message)."""
    out = []
    for event in log.events:
        data = {k: (type(v).__name__, str(v)) if isinstance(v, BaseException) else v for k, v in event.data.items()}
        out.append((event.kind.value, event.session_id, event.task_id, data))
    return out


def branching_workflow():
    """fetch >> (a | b) >> store, members one at a time (declaration order, so the event
    order is fixed): a fails once and retries, b spawns a dynamic task; both prepend."""
    with workflow("events") as wf:
        @task(inject_context=True)
        def fetch(ctx):
            ctx.get_channel().set("seen", [1])

        @task(inject_context=True, max_retries=1)
        def a(ctx):
            if ctx.retry_count == 0:
                raise RuntimeError("first try")
            ctx.get_channel().set("x", 1)
            ctx.get_channel().prepend("seen", "a")

        @task(inject_context=True)
        def b(ctx):
            @task
            def extra():
                return "e"

            ctx.next_task(extra)
            ctx.get_channel().prepend("seen", "b")

        @task
        def store():
            return "done"

        fetch >> (a | b).with_execution(max_concurrency=1) >> store
    return wf


def test_a_run_with_a_retry_a_dynamic_task_and_merges_emits_exactly_these_events():
    log = EventLog()
    wf = branching_workflow()
    assert wf.execute("fetch", session_id="E", observers=[log]) == "done"
    group = "ParallelGroup_1"
    assert flat(log) == [
        # every event of a run follows run_started, the start task's queueing too
        ("run_started", "E", None, {"workflow": "events"}),
        ("task_enqueued", "E", "fetch", {}),
        ("task_started", "E", "fetch", {"attempt": 1}),
        ("task_finished", "E", "fetch", {"attempt": 1}),
        ("task_enqueued", "E", group, {}),
        ("task_started", "E", group, {"attempt": 1}),
        ("session_forked", "E_a", "a", {"parent": "E", "group": group, "member": "a"}),
        ("task_enqueued", "E_a", "a", {}),
        ("session_forked", "E_b", "b", {"parent": "E", "group": group, "member": "b"}),
        ("task_enqueued", "E_b", "b", {}),
        ("group_started", "E", group, {"members": ["a", "b"]}),
        ("task_started", "E_a", "a", {"attempt": 1}),
        ("task_failed", "E_a", "a", {"attempt": 1, "error": ("RuntimeError", "first try"), "will_retry": True}),
        ("task_retried", "E_a", "a", {"attempt": 2}),
        ("task_started", "E_a", "a", {"attempt": 2}),
        ("task_finished", "E_a", "a", {"attempt": 2}),
        ("task_started", "E_b", "b", {"attempt": 1}),
        ("dynamic_task_added", "E_b", "extra", {"spawned_by": "b"}),
        ("task_enqueued", "E_b", "extra", {}),
        ("task_finished", "E_b", "b", {"attempt": 1}),
        ("task_started", "E_b", "extra", {"attempt": 1}),
        ("task_finished", "E_b", "extra", {"attempt": 1}),
        ("session_closed", "E_a", None, {"state": "merged", "parent": "E", "enqueued": 1, "dequeued": 1}),
        ("branch_merged", "E_a", "a", {
            "group": group, "member": "a", "parent": "E",
            # what the parent holds after this branch's merge: a's prepend on fetch's list
            "changes": {"a.__result__": None, "x": 1, "seen": ["a", 1]},
        }),
        ("session_closed", "E_b", None, {"state": "merged", "parent": "E", "enqueued": 2, "dequeued": 2}),
        ("branch_merged", "E_b", "b", {
            "group": group, "member": "b", "parent": "E",
            # b's prepend lands on top of a's: prepends add up across branches
            "changes": {"b.__result__": None, "extra.__result__": "e", "seen": ["b", "a", 1]},
        }),
        ("group_finished", "E", group, {"state": "succeeded"}),
        ("task_finished", "E", group, {"attempt": 1}),
        ("task_enqueued", "E", "store", {}),
        ("task_started", "E", "store", {"attempt": 1}),
        ("task_finished", "E", "store", {"attempt": 1}),
        ("session_closed", "E", None, {"state": "closed", "parent": None, "enqueued": 2, "dequeued": 2}),
        ("run_finished", "E", None, {"status": "succeeded"}),
    ]


def failing_workflow():
    with workflow("fails") as wf:
        @task
        def bad():
            raise ValueError("no")

        @task
        def never():
            return 1

        @task
        def after():
            return 2

        (bad | never).with_execution(max_concurrency=1, fail_fast=True) >> after
    return wf


def test_a_failing_group_emits_failure_skip_and_closing_events():
    log = EventLog()
    wf = failing_workflow()
    with pytest.raises(ParallelGroupError) as raised:
        wf.execute(session_id="F", observers=[log])
    group_error = (
        "ParallelGroupError",
        "Parallel group ParallelGroup_1 failed: 1 task(s) failed: 'bad' (session F_bad): ValueError: no; "
        "not run (cancelled): never",
    )
    assert (type(raised.value).__name__, str(raised.value)) == group_error
    group = "ParallelGroup_1"
    assert flat(log)[2:] == [
        ("task_started", "F", group, {"attempt": 1}),
        ("session_forked", "F_bad", "bad", {"parent": "F", "group": group, "member": "bad"}),
        ("task_enqueued", "F_bad", "bad", {}),
        ("session_forked", "F_never", "never", {"parent": "F", "group": group, "member": "never"}),
        ("task_enqueued", "F_never", "never", {}),
        ("group_started", "F", group, {"members": ["bad", "never"]}),
        ("task_started", "F_bad", "bad", {"attempt": 1}),
        ("task_failed", "F_bad", "bad", {"attempt": 1, "error": ("ValueError", "no"), "will_retry": False}),
        ("session_closed", "F_bad", None, {"state": "failed", "parent": "F", "enqueued": 1, "dequeued": 1}),
        ("session_closed", "F_never", None, {"state": "cancelled", "parent": "F", "enqueued": 1, "dequeued": 0}),
        ("task_skipped", "F_never", "never", {"reason": "cancelled"}),
        ("group_finished", "F", group, {"state": "failed"}),
        ("task_failed", "F", group, {"attempt": 1, "error": group_error, "will_retry": False}),
        ("session_closed", "F", None, {"state": "failed", "parent": None, "enqueued": 0, "dequeued": 0}),
        ("run_finished", "F", None, {"status": "failed"}),
    ]
    assert log.of_kind(EventKind.TASK_FAILED)[0].data["error"] is raised.value.errors["bad"]


def asking_workflow():
    with workflow("asks") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("ok?")

        @task
        def done(ask):
            return ask

        ask >> done
    return wf


def test_a_pause_and_its_resume_emit_input_requested_session_paused_and_task_resumed():
    log = EventLog()
    wf = asking_workflow()
    paused = wf.execute(session_id="P", observers=[log])
    assert flat(log) == [
        ("run_started", "P", None, {"workflow": "asks"}),
        ("task_enqueued", "P", "ask", {}),
        ("task_started", "P", "ask", {"attempt": 1}),
        ("input_requested", "P", "ask", {"key": "P/ask/1", "feedback_type": "approval"}),
        ("session_paused", "P", None, {"waiting": "P/ask/1"}),
    ]
    log.events.clear()
    assert paused.resume("P", True) is True
    assert flat(log) == [
        ("task_started", "P", "ask", {"attempt": 1}),
        ("task_resumed", "P", "ask", {"key": "P/ask/1", "answer": True}),
        ("task_finished", "P", "ask", {"attempt": 1}),
        ("task_enqueued", "P", "done", {}),
        ("task_started", "P", "done", {"attempt": 1}),
        ("task_finished", "P", "done", {"attempt": 1}),
        ("session_closed", "P", None, {"state": "closed", "parent": None, "enqueued": 2, "dequeued": 2}),
        ("run_finished", "P", None, {"status": "succeeded"}),
    ]


def test_every_event_kind_is_emitted_by_one_of_these_scenarios():
    """A new EventKind needs a scenario (and its fields pinned) here."""
    log = EventLog()
    branching_workflow().execute("fetch", observers=[log])
    with pytest.raises(ParallelGroupError):
        failing_workflow().execute(observers=[log])
    paused = asking_workflow().execute(session_id="K", observers=[log])
    paused.resume("K", True)
    assert {e.kind for e in log.events} == set(EventKind)


def test_with_no_observer_no_event_object_is_built(monkeypatch):
    built: list[Event] = []
    emitted: list[EventKind] = []
    real_emit = EventBus.emit

    class CountedEvent(Event):
        __slots__ = ()

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    def counted_emit(self, kind, *args, **kwargs):
        emitted.append(kind)
        return real_emit(self, kind, *args, **kwargs)

    monkeypatch.setattr(events_module, "Event", CountedEvent)
    monkeypatch.setattr(EventBus, "emit", counted_emit)

    def every_path() -> None:
        wf = branching_workflow()
        assert wf.execute("fetch", session_id="N") == "done"
        paused = asking_workflow().execute(session_id="Q")
        assert paused.resume("Q", False) is False
        with pytest.raises(ParallelGroupError):
            failing_workflow().execute(session_id="R")

    every_path()
    assert (built, emitted) == ([], [])
    # the same runs with an observer do build events, through the patched class
    log = EventLog()
    wf = branching_workflow()
    wf.execute("fetch", session_id="N", observers=[log])
    assert len(built) == len(emitted) == len(log.events) == 33
    assert all(type(e) is CountedEvent for e in log.events)
