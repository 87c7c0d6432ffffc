"""SystemExit, KeyboardInterrupt, GeneratorExit and other BaseExceptions raised by a
task: they leave ``execute()`` as themselves (the same object), end the run
``cancelled`` (KeyboardInterrupt) or ``failed`` (the others), stop every other member
at its next task boundary, close every session, and no group policy tolerates them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from reliability_kit import POLICIES, WAIT, Calls, must_wait, raiser, states, worker_fault_group

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.core.pool import WorkerPool


class Custom(BaseException):
    """A BaseException of the user's own."""


ERRORS = {
    "SystemExit": lambda: SystemExit(3),
    "KeyboardInterrupt": lambda: KeyboardInterrupt("stop now"),
    "GeneratorExit": lambda: GeneratorExit("closed"),
    "Custom": lambda: Custom("mine"),
}

def end_state(error: BaseException) -> str:
    return "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("kind", ERRORS)
def test_a_base_exception_on_a_worker_thread_ends_the_run_as_itself(kind, policy):
    error = ERRORS[kind]()
    wf, calls = worker_fault_group(error, POLICIES[policy]())
    with pytest.raises(type(error)) as raised:
        wf.execute("src", session_id="S", max_workers=2)
    assert raised.value is error
    run = wf.last_run
    end = end_state(error)
    assert run.status == end
    assert run.error is error
    assert calls.threads["bad"] == "graflow-S-worker"
    assert states(run) == {"S": end, "S_hold": "cancelled", "S_done": "discarded", "S_bad": end}
    assert dict(calls.counts) == {"src": 1, "hold": 1, "done": 1, "bad": 1}  # no hold_next, compensation or sink
    assert run.skipped == [("hold_next", "S_hold", "cancelled")]
    assert (error.task_id, error.session_id) == ("bad", "S_bad")
    # A KeyboardInterrupt ends the run as an interrupt does: the caller stops the run's
    # other tasks before it returns, and says so in one note.
    interrupted = ["[graflow_nb] run 'S' interrupted: cancelled"] if isinstance(error, KeyboardInterrupt) else []
    assert error.__notes__ == ["[graflow_nb] raised by task 'bad' in session 'S_bad'", *interrupted]
    [bad_run] = [t for t in run.task_runs if t.task_id == "bad"]
    assert (bad_run.status, bad_run.error) == (end, error)
    assert [(g.group_id, g.state) for g in run.groups] == [("ParallelGroup_1", end)]  # as the run ends


def test_the_pool_is_whole_after_runs_whose_workers_raised_system_exit():
    for attempt in range(4):
        error = SystemExit(attempt)
        wf, calls = worker_fault_group(error)
        with pytest.raises(SystemExit) as raised:
            wf.execute("src", session_id=f"R{attempt}", max_workers=2)
        assert raised.value is error and calls.threads["bad"] == f"graflow-R{attempt}-worker"
    # Three members that can only finish together: the forking thread and two workers.
    together = threading.Barrier(3, timeout=WAIT)
    calls = Calls()
    with workflow("whole") as wf:
        members = [calls.task(f"m{i}", together.wait) for i in range(3)]
        _ = calls.task("src") >> (members[0] | members[1] | members[2])
    wf.execute("src", session_id="W", max_workers=2)
    assert wf.last_run.status == "succeeded"
    assert sorted({t.thread for t in wf.last_run.task_runs if t.task_id.startswith("m")}) == [
        "MainThread",
        "graflow-W-worker",
    ]


class _Exploding:
    """A pool job (``run_released``) that raises SystemExit on the worker."""

    def run_released(self, index: int) -> None:
        raise SystemExit(index)


class _Meeting:
    """Pool jobs that only return once ``parties`` of them run at the same time."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=WAIT)
        self.met = threading.Semaphore(0)

    def run_released(self, index: int) -> None:
        self.barrier.wait()
        self.met.release()


def test_a_worker_killed_by_its_job_does_not_count_against_max_workers(monkeypatch):
    died: list[tuple[str, BaseException]] = []
    dead = threading.Event()

    def thread_died(args) -> None:  # the worker's last word, on the dying thread
        died.append((args.thread.name, args.exc_value))
        dead.set()

    monkeypatch.setattr(threading, "excepthook", thread_died)
    pool = WorkerPool(2, name="graflow-killed")
    pool.submit(_Exploding(), 0)
    must_wait(dead, "the worker to die")
    assert [(name, type(error), error.code) for name, error in died] == [("graflow-killed-worker", SystemExit, 0)]
    meeting = _Meeting(2)
    pool.submit_many(meeting, (0, 1))  # needs two workers at once: the dead one must not count
    assert meeting.met.acquire(timeout=WAIT) and meeting.met.acquire(timeout=WAIT)
    pool.shutdown()


def test_inline_member_raising_stops_the_group_in_declaration_order():
    calls = Calls()
    error = KeyboardInterrupt("inline")
    with workflow("inline") as wf:
        group = (calls.task("bad", raiser(error)) | calls.task("other")).with_execution(max_concurrency=1, policy="best_effort")
        _ = calls.task("src") >> group >> calls.task("sink")
    with pytest.raises(KeyboardInterrupt) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is error
    assert wf.last_run.status == "cancelled"
    assert states(wf.last_run) == {"S": "cancelled", "S_bad": "cancelled", "S_other": "cancelled"}
    assert dict(calls.counts) == {"src": 1, "bad": 1}
    assert wf.last_run.skipped == [("other", "S_other", "cancelled")]


def test_run_wide_max_concurrency_1_releases_its_slot_after_a_system_exit():
    calls = Calls()
    error = SystemExit("slot")
    with workflow("slots") as wf:
        _ = calls.task("src") >> (calls.task("bad", raiser(error)) | (calls.task("o1") >> calls.task("o2")))
    with pytest.raises(SystemExit) as raised:
        wf.execute("src", session_id="S", max_concurrency=1)
    assert raised.value is error
    assert wf.last_run.status == "failed"
    assert states(wf.last_run) == {"S": "failed", "S_bad": "failed", "S_o1": "cancelled"}
    assert calls["o2"] == 0  # o1 may have started before the exit; nothing after it did
    with workflow("after") as again:
        _ = calls.task("x") >> (calls.task("y") | calls.task("z"))
    again.execute("x", session_id="T", max_concurrency=1)
    assert again.last_run.status == "succeeded"


def test_a_system_exit_in_a_nested_group_ends_the_run_and_stops_the_outer_sibling():
    calls = Calls()
    error = SystemExit(7)
    c_started, b1_done, b2_raised = threading.Event(), threading.Event(), threading.Event()

    def b2_body():
        must_wait(b1_done, "b1")
        must_wait(c_started, "c to start")
        b2_raised.set()
        raise error

    with workflow("nested") as wf:

        @task(inject_context=True)
        def c(ctx):
            calls.hit("c")
            c_started.set()
            must_wait(b2_raised, "b2 to raise")
            while not ctx.cancelled:  # a long task polling for the stop, as the README says
                b2_raised.wait(0.001)

        inner = calls.task("b1", b1_done.set) | calls.task("b2", b2_body)
        _ = calls.task("a") >> ((calls.task("b") >> inner >> calls.task("bm")) | (c >> calls.task("c2"))) >> calls.task("d")
    with pytest.raises(SystemExit) as raised:
        wf.execute("a", session_id="S", max_workers=2)
    assert raised.value is error
    run = wf.last_run
    assert run.status == "failed"
    assert states(run) == {
        "S": "failed",
        "S_b": "failed",
        "S_c": "cancelled",
        "S_b_b1": "discarded",
        "S_b_b2": "failed",
    }
    assert dict(calls.counts) == {"a": 1, "b": 1, "b1": 1, "b2": 1, "c": 1}
    assert run.skipped == [("c2", "S_c", "cancelled")]


def ready_pair(calls: Calls, first: Callable[[], Any], second: Callable[[], Any]):
    """``f >> a``, ``f >> b``, ``a >> s``, ``b >> s`` as separate edges (ready-node scheduling)."""
    with workflow("ready") as wf:
        f, a, b, s = calls.task("f"), calls.task("a", first), calls.task("b", second), calls.task("s")
        for edge in ((f, a), (f, b), (a, s), (b, s)):
            _ = edge[0] >> edge[1]
    return wf


def test_ready_parallel_system_exit_on_a_worker():
    calls = Calls()
    error = SystemExit(9)
    b_raised = threading.Event()

    def b_body():
        b_raised.set()
        raise error

    wf = ready_pair(calls, lambda: must_wait(b_raised, "b to raise"), b_body)
    with pytest.raises(SystemExit) as raised:
        wf.execute("f", session_id="S", ready_parallel=True, max_workers=2)
    assert raised.value is error
    assert wf.last_run.status == "failed"
    assert states(wf.last_run) == {"S": "failed"}
    assert dict(calls.counts) == {"f": 1, "a": 1, "b": 1}
    assert calls.threads["b"] == "graflow-S-worker"


def test_ready_parallel_keyboard_interrupt_outranks_an_earlier_ordinary_failure():
    calls = Calls()
    interrupt = KeyboardInterrupt("ready")
    b_raised = threading.Event()

    def a_body():  # declared first, so its failure is committed first
        must_wait(b_raised, "b to raise")
        raise ValueError("a broke")

    def b_body():
        b_raised.set()
        raise interrupt

    wf = ready_pair(calls, a_body, b_body)
    with pytest.raises(KeyboardInterrupt) as raised:
        wf.execute("f", session_id="S", ready_parallel=True)
    assert raised.value is interrupt
    assert wf.last_run.status == "cancelled"
    assert states(wf.last_run) == {"S": "cancelled"}
    assert dict(calls.counts) == {"f": 1, "a": 1, "b": 1}


def test_at_the_root_a_system_exit_stops_the_chain():
    calls = Calls()
    error = SystemExit(0)
    with workflow("root") as wf:
        _ = calls.task("first", raiser(error)) >> calls.task("second")
    with pytest.raises(SystemExit) as raised:
        wf.execute("first", session_id="S")
    assert raised.value is error
    assert (wf.last_run.status, states(wf.last_run), dict(calls.counts)) == ("failed", {"S": "failed"}, {"first": 1})


def test_a_base_exception_is_never_retried_and_keeps_its_identity_through_a_timed_attempt():
    calls = Calls()
    error = GeneratorExit("timed")
    with workflow("timed") as wf:
        _ = calls.task("src") >> (calls.task("bad", raiser(error), timeout=WAIT, max_retries=3) | calls.task("ok"))
    with pytest.raises(GeneratorExit) as raised:
        wf.execute("src", session_id="S")
    assert raised.value is error and not isinstance(raised.value, ParallelGroupError)
    assert calls["bad"] == 1
    assert wf.last_run.status == "failed"
    assert states(wf.last_run)["S_bad"] == "failed"


def test_a_system_exit_thirty_groups_deep_reaches_execute_as_itself():
    calls = Calls()
    error = SystemExit("deep")
    with workflow("deep") as wf:
        inner = calls.task("bottom", raiser(error)) | calls.task("sibling_0")
        for level in range(1, 30):
            inner = (calls.task(f"head_{level}") >> inner) | calls.task(f"sibling_{level}")
        _ = calls.task("top") >> inner >> calls.task("after")
    with pytest.raises(SystemExit) as raised:
        wf.execute("top", session_id="D", max_workers=2)
    assert raised.value is error
    run = wf.last_run
    assert run.status == "failed" and calls["after"] == 0
    chain = ["D"]
    for level in range(29, 0, -1):
        chain.append(f"{chain[-1]}_head_{level}")
    chain.append(f"{chain[-1]}_bottom")
    ended = states(run)
    assert [sid for sid, state in ended.items() if state == "failed"] == chain  # the path the exit took
    siblings = {sid: state for sid, state in ended.items() if sid not in chain}
    assert sorted(sid.rsplit("_", 2)[-2:][1] for sid in siblings) == sorted(str(i) for i in range(30))
    # a sibling either finished before the exit (its changes discarded) or was stopped
    assert set(siblings.values()) - {"discarded", "cancelled"} == set()
