"""Observers, gate hooks and the live view never change a run: an error in one is
reported once (an ``ObserverWarning`` naming it and the event kind, and an entry in
``run.observer_errors``), the observer is muted for the rest of the run, every other
observer still gets every event, and the run keeps its own result, error, status and
session states.  A KeyboardInterrupt or SystemExit from an observer stops the run as
the same exception from a task would.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import Counter

import pytest
from reliability_kit import Calls, raiser, states

from graflow_nb import task, workflow
from graflow_nb.core.events import EventKind, EventLog, ObserverError, ObserverWarning
from graflow_nb.core.gate import Gate
from graflow_nb.observe.live import LiveView

DIAMOND_STATES = {"S": "closed", "S_a": "merged", "S_b": "merged"}


def diamond(calls: Calls | None = None):
    """README's diamond: fetch >> (a | b) >> store returns 10."""
    calls = calls or Calls()
    with workflow("diamond") as wf:

        @task
        def fetch():
            calls.hit("fetch")
            return {"rows": 3}

        @task
        def a(fetch):
            calls.hit("a")
            return fetch["rows"] * 2

        @task
        def b(fetch):
            calls.hit("b")
            return fetch["rows"] + 1

        @task
        def store(a, b):
            calls.hit("store")
            return a + b

        _ = fetch >> (a | b) >> store
    return wf


class FailsOn:
    """Raises ``error`` on the first event of ``kind`` (every event if kind is None)."""

    def __init__(self, kind: EventKind | None, error: BaseException, task_id: str | None = None):
        self.kind = kind
        self.error = error
        self.task_id = task_id
        self.seen: list = []
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.seen.append(event)
        if (self.kind is None or event.kind == self.kind) and (self.task_id is None or event.task_id == self.task_id):
            raise self.error

    def __repr__(self) -> str:
        return f"<FailsOn {self.kind}>"


def event_keys(log: EventLog) -> Counter:
    return Counter((e.kind, e.session_id, e.task_id) for e in log.events)


def reference_events() -> Counter:
    log = EventLog()
    diamond().execute("fetch", session_id="S", observers=[log])
    return event_keys(log)


DIAMOND_KINDS = [
    EventKind.RUN_STARTED,
    EventKind.SESSION_FORKED,
    EventKind.TASK_ENQUEUED,
    EventKind.TASK_STARTED,
    EventKind.TASK_FINISHED,
    EventKind.GROUP_STARTED,
    EventKind.SESSION_CLOSED,
    EventKind.BRANCH_MERGED,
    EventKind.GROUP_FINISHED,
    EventKind.RUN_FINISHED,
]


@pytest.mark.parametrize("kind", DIAMOND_KINDS, ids=str)
def test_an_observer_raising_on_any_kind_of_event_changes_nothing(kind):
    broke = ValueError("broke")
    failing, log, calls = FailsOn(kind, broke), EventLog(), Calls()
    wf = diamond(calls)
    with pytest.warns(ObserverWarning) as warned:
        result = wf.execute("fetch", session_id="S", observers=[failing, log])
    run = wf.last_run
    assert result == 10 and run.result == 10 and run.error is None
    assert run.status == "succeeded"
    assert states(run) == DIAMOND_STATES
    assert dict(calls.counts) == {"fetch": 1, "a": 1, "b": 1, "store": 1}
    assert [t.status for t in run.task_runs] == ["succeeded"] * len(run.task_runs)
    [(observer, event, error)] = run.observer_errors
    assert isinstance(run.observer_errors[0], ObserverError)
    assert observer is failing and event.kind == kind and error is broke
    assert any(e is event for e in log.events)  # the event that broke it still reached the log
    assert event_keys(log) == reference_events()  # and so did every other one
    assert [str(w.message) for w in warned] == [
        f"observer <FailsOn {kind}> raised ValueError: broke on {kind} in run 'S'; "
        f"it is muted for the rest of the run, which goes on unchanged (see run.observer_errors)"
    ]


def test_a_failing_observer_is_called_once_then_muted():
    calls = Calls()
    failing = FailsOn(None, RuntimeError("every time"))
    with workflow("chain") as wf:
        _ = calls.task("first") >> calls.task("second") >> calls.task("third", lambda: "end")
    with pytest.warns(ObserverWarning):
        assert wf.execute("first", session_id="S", observers=[failing]) == "end"
    assert [e.kind for e in failing.seen] == [EventKind.RUN_STARTED]  # the first event of a run
    assert [(o, e.kind) for o, e, _ in wf.last_run.observer_errors] == [(failing, EventKind.RUN_STARTED)]
    assert (wf.last_run.status, states(wf.last_run), dict(calls.counts)) == (
        "succeeded",
        {"S": "closed"},
        {"first": 1, "second": 1, "third": 1},
    )


def test_workflow_observers_are_guarded_too_and_a_failed_run_keeps_its_own_error():
    calls = Calls()
    boom = KeyError("the task's own error")
    with workflow("failing") as wf:
        _ = calls.task("first", raiser(boom)) >> calls.task("second")
    broken = [FailsOn(kind, ValueError(str(kind))) for kind in (EventKind.TASK_FAILED, EventKind.SESSION_CLOSED, EventKind.RUN_FINISHED)]
    wf.observers.extend(broken)
    with pytest.warns(ObserverWarning) as warned:
        with pytest.raises(KeyError) as raised:
            wf.execute("first", session_id="S")
    assert raised.value is boom
    run = wf.last_run
    assert (run.status, run.error, states(run), dict(calls.counts)) == ("failed", boom, {"S": "failed"}, {"first": 1})
    assert [(o, e.kind) for o, e, _ in run.observer_errors] == [(o, o.kind) for o in broken]
    assert len(warned) == 3


def test_one_warning_and_one_record_when_an_observer_fails_on_many_threads_at_once():
    started = threading.Barrier(8, timeout=30)
    calls = Calls()
    with workflow("wide") as wf:
        members = [calls.task(f"m{i}", started.wait) for i in range(8)]
        group = members[0]
        for member in members[1:]:
            group = group | member
        _ = calls.task("src") >> group >> calls.task("sink", lambda: "sunk")
    failing = FailsOn(EventKind.TASK_FINISHED, RuntimeError("finished?"))
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        assert wf.execute("src", session_id="W", observers=[failing]) == "sunk"
    assert [w.category for w in warned] == [ObserverWarning]
    assert len(wf.last_run.observer_errors) == 1
    assert wf.last_run.status == "succeeded"
    assert set(states(wf.last_run).values()) == {"closed", "merged"} and len(wf.last_run.sessions) == 9


def test_hostile_observer_repr_and_error_text_still_give_a_short_warning():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no repr for you")

        def __call__(self, event):
            raise Unprintable()

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no str either")

    class Loud:
        def __repr__(self):
            return "L" * 10_000

        def __call__(self, event):
            raise ValueError("x" * 10_000)

    with pytest.warns(ObserverWarning) as warned:
        diamond().execute("fetch", session_id="S", observers=[Hostile(), Loud()])
    first, second = (str(w.message) for w in warned)
    assert first == (
        "observer <Hostile (its repr raised)> raised Unprintable: <Unprintable (its str raised)> on run_started "
        "in run 'S'; it is muted for the rest of the run, which goes on unchanged (see run.observer_errors)"
    )
    assert second.startswith("observer " + "L" * 197 + "... raised ValueError: " + "x" * 197 + "... on run_started")
    assert len(second) < 600


def test_warnings_turned_into_errors_do_not_reach_the_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ObserverWarning)
        assert diamond().execute("fetch", session_id="S", observers=[FailsOn(None, ValueError("v"))]) == 10


# -- BaseException from an observer: a request to stop --------------------------------
@pytest.mark.parametrize(
    ("error", "status"),
    [(KeyboardInterrupt("ctrl-c"), "cancelled"), (SystemExit(2), "failed")],
    ids=["KeyboardInterrupt", "SystemExit"],
)
def test_a_base_exception_from_an_observer_stops_the_run_at_the_next_task(error, status):
    calls = Calls()
    with workflow("stop") as wf:
        _ = calls.task("first") >> calls.task("second") >> calls.task("third")
    failing = FailsOn(EventKind.TASK_FINISHED, error, task_id="first")
    log = EventLog()
    with pytest.warns(ObserverWarning, match="the run stops"):
        with pytest.raises(type(error)) as raised:
            wf.execute("first", session_id="S", observers=[failing, log])
    assert raised.value is error
    run = wf.last_run
    assert (run.status, run.error) == (status, error)
    assert states(run) == {"S": "cancelled"}
    assert dict(calls.counts) == {"first": 1}
    assert run.skipped == [("second", "S", "cancelled")]
    assert [(o, e.kind, x) for o, e, x in run.observer_errors] == [(failing, EventKind.TASK_FINISHED, error)]
    assert log.of_kind(EventKind.RUN_FINISHED)[0].data == {"status": status}


def test_a_system_exit_from_an_observer_in_a_branch_stops_what_comes_after_the_group():
    calls = Calls()
    error = SystemExit("from an observer")

    with workflow("branch_stop") as wf:

        @task(inject_context=True)
        def a(ctx):  # run by the forking thread: waits until the stop is in effect
            calls.hit("a")
            while not ctx.cancelled:
                time.sleep(0.001)

        _ = calls.task("fetch") >> (a | calls.task("b")) >> calls.task("store")
    failing = FailsOn(EventKind.TASK_FINISHED, error, task_id="b")
    with pytest.warns(ObserverWarning):
        with pytest.raises(SystemExit) as raised:
            wf.execute("fetch", session_id="S", observers=[failing])
    assert raised.value is error
    run = wf.last_run
    assert run.status == "failed"
    assert states(run) == {"S": "cancelled", "S_a": "merged", "S_b": "merged"}
    assert dict(calls.counts) == {"fetch": 1, "a": 1, "b": 1}
    assert run.skipped == [("store", "S", "cancelled")]


# -- gates (the step debugger's hook) -------------------------------------------------
class BrokenGate(Gate):
    def __init__(self, hook: str, task_id: str, error: BaseException):
        self.hook, self.task_id, self.error = hook, task_id, error
        self.calls: list[tuple[str, str]] = []

    def _hit(self, hook: str, task_id: str) -> None:
        self.calls.append((hook, task_id))
        if hook == self.hook and task_id == self.task_id:
            raise self.error

    def before_task(self, ctx, task):
        self._hit("before_task", task.task_id)

    def after_task(self, ctx, task, result, error):
        self._hit("after_task", task.task_id)

    def session_ended(self, ctx):
        self._hit("session_ended", ctx.session_id)


@pytest.mark.parametrize(("hook", "where"), [("before_task", "second"), ("after_task", "second"), ("session_ended", "S")])
def test_a_gate_hook_that_raises_is_reported_and_skipped_from_then_on(hook, where):
    calls = Calls()
    with workflow("gated") as wf:
        _ = calls.task("first") >> calls.task("second", lambda: 2) >> calls.task("third", lambda: 3)
    broke = RuntimeError("gate broke")
    gate = BrokenGate(hook, where, broke)
    with pytest.warns(ObserverWarning, match=f"raised RuntimeError: gate broke on {hook} in run 'S'"):
        assert wf.execute("first", session_id="S", gate=gate) == 3
    run = wf.last_run
    assert (run.status, states(run), dict(calls.counts)) == ("succeeded", {"S": "closed"}, {"first": 1, "second": 1, "third": 1})
    assert [t.status for t in run.task_runs] == ["succeeded"] * 3
    assert run.observer_errors == [(gate, hook, broke)]
    assert gate.calls[-1] == (hook, where)  # nothing after the failing call


# -- the live view ----------------------------------------------------------------------
@pytest.mark.parametrize("hook", ["start", "finish"])
def test_a_live_view_that_breaks_keeps_the_run_and_its_error(hook, monkeypatch):
    broke = RuntimeError(f"{hook} broke")
    monkeypatch.setattr(LiveView, hook, lambda self, run: (_ for _ in ()).throw(broke))
    calls = Calls()
    boom = ValueError("the task's own")
    with workflow("live") as wf:
        _ = calls.task("ok", lambda: "fine")
    with workflow("live_failing") as failing_wf:
        _ = calls.task("bad", raiser(boom)) >> calls.task("never")
    with pytest.warns(ObserverWarning, match=f"raised RuntimeError: {hook} broke on {hook}"):
        assert wf.execute("ok", session_id="L", live=True) == "fine"
    assert wf.last_run.status == "succeeded"
    assert [(type(o), e, x) for o, e, x in wf.last_run.observer_errors] == [(LiveView, hook, broke)]
    with pytest.warns(ObserverWarning):
        with pytest.raises(ValueError) as raised:
            failing_wf.execute("bad", session_id="F", live=True)
    assert raised.value is boom
    assert (failing_wf.last_run.status, failing_wf.last_run.error) == ("failed", boom)
    assert dict(calls.counts) == {"ok": 1, "bad": 1}


# -- tracers (graflow's tracing hook) ---------------------------------------------------
class BrokenTracer:
    """Raises in ``on_task_end`` for task ``b``; records every call it gets."""

    def __init__(self, error: Exception):
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def on_task_start(self, task, ctx):
        self.calls.append(("start", task.task_id))

    def on_task_end(self, task, ctx, result=None, error=None):
        self.calls.append(("end", task.task_id))
        if task.task_id == "b":
            raise self.error

    def on_parallel_group_start(self, group_id, members, ctx):
        self.calls.append(("group_start", group_id))

    def on_parallel_group_end(self, group_id, members, ctx, results=None):
        self.calls.append(("group_end", group_id))


def test_a_tracer_that_raises_never_blames_the_task():
    broke = RuntimeError("tracer broke")
    tracer = BrokenTracer(broke)
    calls = Calls()
    with workflow("traced", tracer=tracer) as wf:
        _ = calls.task("a") >> calls.task("b", lambda: "b") >> calls.task("c", lambda: "c")
    with pytest.warns(ObserverWarning, match="raised RuntimeError: tracer broke on on_task_end in run 'T'"):
        assert wf.execute("a", session_id="T") == "c"
    run = wf.last_run
    assert (run.status, states(run), dict(calls.counts)) == ("succeeded", {"T": "closed"}, {"a": 1, "b": 1, "c": 1})
    assert [t.status for t in run.task_runs] == ["succeeded"] * 3
    assert run.observer_errors == [(tracer, "on_task_end", broke)]
    assert tracer.calls == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]  # muted after
