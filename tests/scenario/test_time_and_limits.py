"""Concurrency limits, timeouts, the shared step budget and retries inside branches
(BEHAVIOURS.md items 23, 24, 35-38; reconciliations 6, 9, 14, 15)."""

from __future__ import annotations

import threading
import time

import pytest
from instruments import WAIT, EventWaiter, Gauge, wait_until

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.errors import GroupTimeoutError, StepLimitExceededError, TaskTimeoutError
from graflow_nb.core.events import EventKind


def gauged(gauge: Gauge, name: str, seconds: float = 0.0, hold: int | list[int] = 1):
    """A task that counts itself in ``gauge``, stays inside until ``hold`` bodies have
    been seen at once (see ``Gauge.hold_until``; a one-item list is read when the task
    runs, so one graph can be run twice with different holds), simulates ``seconds`` of
    work and writes which session ran it."""

    @task(name, inject_context=True)
    def body(ctx):
        gauge.enter(name)
        try:
            gauge.hold_until(hold[0] if isinstance(hold, list) else hold)
            time.sleep(seconds)
            ctx.get_channel().set(f"by_{name}", ctx.session_id)
            return f"r{name}"
        finally:
            gauge.leave()

    return body


def root_channel(wf, session_id: str = "S") -> dict:
    ch = wf.last_run.sessions[session_id].context.channel
    return {k: ch.get(k) for k in ch.keys()}


# -- item 23 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_max_concurrency_two_keeps_exactly_two_in_flight():
    gauge = Gauge()
    names = [f"m{i}" for i in range(6)]
    with workflow("limit2") as wf:

        @task
        def fetch():
            return None

        @task
        def store():
            return "done"

        members = [gauged(gauge, n, 0.01, hold=2) for n in names]
        fetch >> parallel(*members).with_execution(max_concurrency=2) >> store

    assert wf.execute("fetch", session_id="S") == "done"

    assert gauge.peak == 2  # two were seen at once (hold), never a third
    assert gauge.runs == {n: 1 for n in names}
    assert sorted(gauge.starts) == names
    assert [tr.session_id for tr in wf.last_run.finished_runs() if tr.task_id in names] == [f"S_{n}" for n in names]


def test_thread_count_backend_config_is_the_same_limit():
    gauge = Gauge()
    with workflow("thread-count") as wf:

        @task
        def fetch():
            return None

        fetch >> parallel(*[gauged(gauge, f"m{i}", 0.01, hold=2) for i in range(5)]).with_execution(
            backend="threading", backend_config={"thread_count": 2}
        )

    wf.execute("fetch", session_id="S")
    assert gauge.peak == 2
    assert gauge.runs == {f"m{i}": 1 for i in range(5)}


# -- item 24 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_max_concurrency_one_starts_in_declared_order_and_matches_parallel_results():
    names = ["d", "b", "e", "a", "c"]  # declared order is not alphabetical

    def build(limit):
        gauge = Gauge()
        with workflow("limit1") as wf:

            @task
            def fetch():
                return None

            @task(inject_context=True)
            def store(ctx):
                ch = ctx.get_channel()
                return [ctx.get_result(n) for n in names], sorted(k for k in ch.keys() if k.startswith("by_"))

            # unlimited, all five are inside at once, and later-declared ones finish first
            hold = 1 if limit == 1 else len(names)
            members = [gauged(gauge, n, 0.002 * (len(names) - i), hold=hold) for i, n in enumerate(names)]
            fetch >> parallel(*members).with_execution(max_concurrency=limit) >> store
        return wf, gauge

    serial_wf, serial = build(1)
    serial_result = serial_wf.execute("fetch", session_id="S")
    parallel_wf, par = build(None)
    parallel_result = parallel_wf.execute("fetch", session_id="S")

    assert serial.starts == names
    assert serial.peak == 1
    assert par.peak == len(names)
    serial_runs = [(tr.task_id, tr.session_id) for tr in serial_wf.last_run.task_runs if tr.task_id in names]
    assert serial_runs == [(n, f"S_{n}") for n in names]  # started one by one, in declared order
    assert serial_result == parallel_result
    assert root_channel(serial_wf) == root_channel(parallel_wf)
    assert serial_wf.last_run.execution_sequence() == parallel_wf.last_run.execution_sequence()


@pytest.mark.timeout(60)
def test_run_level_max_concurrency_caps_tasks_across_nested_groups():
    gauge = Gauge()
    with workflow("run-limit") as wf:

        @task
        def fetch():
            return None

        @task
        def store():
            return "done"

        # The three heads are held until all three are inside; the nine leaves (which
        # start only after their heads ended) until ``leaves_at_once`` are.
        leaves_at_once = [3]
        outer = []
        for i in range(3):
            head = gauged(gauge, f"h{i}", hold=3)
            inner = parallel(*[gauged(gauge, f"l{i}{j}", hold=leaves_at_once) for j in range(3)])
            outer.append(head >> inner)
        fetch >> parallel(*outer) >> store

    names = [f"h{i}" for i in range(3)] + [f"l{i}{j}" for i in range(3) for j in range(3)]
    assert wf.execute("fetch", session_id="S", max_concurrency=3) == "done"

    assert gauge.peak == 3
    assert gauge.runs == {n: 1 for n in names}
    assert sorted(gauge.starts[:3]) == ["h0", "h1", "h2"]

    # without the cap all nine leaves are inside at once
    gauge.reset()
    leaves_at_once[0] = 9
    assert wf.execute("fetch", session_id="S") == "done"
    assert gauge.peak == 9
    assert gauge.runs == {n: 1 for n in names}



# -- item 38 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_task_timeout_raises_timeout_error_naming_task_and_limit():
    """The body waits for an event set only after execute returned: the run cannot
    have waited for it, so the error came from the timeout."""
    release = threading.Event()
    ended = threading.Event()
    with workflow("task-timeout") as wf:

        @task(timeout=0.1)
        def slow():
            try:
                release.wait(WAIT)
                return "late"
            finally:
                ended.set()

    with pytest.raises(TimeoutError) as info:
        wf.execute("slow", session_id="S")
    still_inside = not ended.is_set()
    release.set()

    error = info.value
    assert still_inside
    assert type(error) is TaskTimeoutError
    assert error.task_id == "slow" and error.timeout == 0.1
    assert str(error) == (
        "task 'slow' in session 'S' timed out after 0.1 s (timeout=0.1); "
        "its thread was abandoned and anything it returns later is discarded"
    )
    assert wf.last_run.status == "failed"
    assert [(tr.task_id, tr.session_id, tr.status) for tr in wf.last_run.task_runs] == [("slow", "S", "failed")]
    assert ended.wait(WAIT)
    assert wf.last_run.results() == {}


@pytest.mark.timeout(60)
def test_task_timeout_in_a_branch_applies_the_group_policy():
    calls: list[str] = []
    release = threading.Event()
    with workflow("branch-timeout") as wf:

        @task
        def fetch():
            return None

        @task(timeout=0.1)
        def slow():
            release.wait(WAIT)  # set only after each run: slow always times out

        @task
        def quick():
            calls.append("quick")
            return "q"

        @task
        def store():
            calls.append("store")

        fetch >> (slow | quick) >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")
    assert list(info.value.errors) == ["slow"]
    assert type(info.value.errors["slow"]) is TaskTimeoutError
    assert info.value.__cause__ is info.value.errors["slow"]
    assert calls == ["quick"]
    assert wf.last_run.sessions["S_slow"].state == "failed"

    # under best_effort the timed-out member is a recorded failure and store runs
    wf.graph.nodes[wf.last_run.groups[-1].group_id].with_execution(policy="best_effort")
    calls.clear()
    wf.execute("fetch", session_id="S")
    release.set()
    assert calls == ["quick", "store"]
    failures = wf.last_run.groups[-1].failures
    assert [f["task_id"] for f in failures] == ["slow"]
    assert type(failures[0]["error"]) is TaskTimeoutError


@pytest.mark.timeout(60)
def test_task_timeout_retry_succeeds_and_abandoned_write_is_discarded():
    late_written = threading.Event()
    second_done = threading.Event()
    with workflow("timeout-retry") as wf:

        @task(inject_context=True, timeout=0.1, max_retries=1)
        def flaky(ctx):
            ch = ctx.get_channel()
            if ctx.retry_count == 0:
                second_done.wait(WAIT)  # so the first attempt is late, whatever the load
                ch.set("late", "attempt-1")  # after it was abandoned
                ch.set("winner", "attempt-1")
                late_written.set()
                return "attempt-1"
            ch.set("winner", "attempt-2")
            second_done.set()
            return "attempt-2"

        @task(inject_context=True)
        def after(ctx, flaky):
            return flaky, ctx.get_channel().get("winner")

        flaky >> after

    assert wf.execute("flaky", session_id="S") == ("attempt-2", "attempt-2")
    run = wf.last_run
    attempts = [(tr.attempt, tr.status) for tr in run.task_runs if tr.task_id == "flaky"]
    assert attempts == [(1, "failed"), (2, "succeeded")]
    assert type(next(tr.error for tr in run.task_runs if tr.task_id == "flaky")) is TaskTimeoutError

    # The late attempt wrote (to its private overlay) before setting the event, so the
    # root channel below has seen all it ever will of attempt 1.
    assert late_written.wait(WAIT)
    channel = root_channel(wf)
    assert "late" not in channel
    assert channel["winner"] == "attempt-2"
    assert channel["flaky.__result__"] == "attempt-2"
    assert run.results()["flaky"] == "attempt-2"


@pytest.mark.timeout(60)
def test_abandoned_attempt_cannot_enqueue_work():
    spawned: list[str] = []
    done = threading.Event()
    timed_out = threading.Event()
    with workflow("abandoned-control") as wf:

        @task
        def extra():
            spawned.append("extra")

        @task(inject_context=True, timeout=0.05)
        def slow(ctx):
            timed_out.wait(WAIT)  # set once execute has raised: this attempt is abandoned
            try:
                ctx.next_task(extra)
            except TimeoutError:
                spawned.append("refused")
            finally:
                done.set()

    with pytest.raises(TaskTimeoutError):
        wf.execute("slow", session_id="S")
    timed_out.set()
    assert done.wait(WAIT)
    assert spawned == ["refused"]
    assert wf.last_run.task_counts() == {"slow": 1}


# -- item 37 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_group_timeout_fails_fast_keeps_finished_results_and_skips_successors():
    slow_ended = threading.Event()
    release = threading.Event()
    events = EventWaiter()
    calls: list[str] = []
    with workflow("group-timeout") as wf:

        @task
        def fetch():
            return None

        @task
        def quick():
            return "q"

        @task(inject_context=True)
        def slow(ctx):
            try:
                release.wait(WAIT)  # set once execute has raised: slow outlives the group
                ctx.get_channel().set("slow_wrote", True)
                return "s"
            finally:
                slow_ended.set()

        @task
        def slow_next():
            calls.append("slow_next")

        @task
        def store():
            calls.append("store")

        fetch >> (quick | (slow >> slow_next)).with_execution(timeout=0.2) >> store

    with pytest.raises(GroupTimeoutError) as info:
        wf.execute("fetch", session_id="S", observers=[events])
    slow_inside = not slow_ended.is_set()
    release.set()

    error = info.value
    assert slow_inside  # the group stopped waiting; it did not wait for slow
    assert isinstance(error, TimeoutError)
    assert error.timeout == 0.2 and error.unfinished == ["slow"]
    assert str(error) == (
        "group 'ParallelGroup_1' timed out after 0.2 s: slow had not finished (finished: quick); successors do not run"
    )
    run = wf.last_run
    assert run.results()["quick"] == "q"
    assert run.groups[-1].state == "failed"
    assert run.status == "failed"

    assert run.sessions["S_slow"].state == "abandoned"
    # the abandoned branch ends on its own: it queues slow_next, then drops it unrun
    assert events.wait_for(EventKind.TASK_SKIPPED, "S_slow", "slow_next").data["reason"] == "cancelled"
    assert calls == []  # neither its next task nor the successor ran
    assert "slow_wrote" not in root_channel(wf)
    assert [(tr.task_id, tr.status) for tr in run.task_runs if tr.session_id == "S_slow"] == [("slow", "abandoned")]
    assert run.sessions["S_slow"].state == "abandoned", events.kinds("S_slow")


@pytest.mark.timeout(60)
def test_group_timeout_discards_the_abandoned_branch_late_result():
    """Reconciliation 9 / item 38: an abandoned thread's late result is discarded and the
    task is marked failed or timed out, not succeeded after the run has failed."""
    slow_ended = threading.Event()
    release = threading.Event()
    with workflow("group-timeout-late") as wf:

        @task
        def fetch():
            return None

        @task
        def quick():
            return "q"

        @task
        def slow():
            try:
                release.wait(WAIT)  # set once execute has raised: the result is late
                return "late"
            finally:
                slow_ended.set()

        fetch >> (quick | slow).with_execution(timeout=0.1)

    with pytest.raises(GroupTimeoutError):
        wf.execute("fetch", session_id="S")
    run = wf.last_run
    release.set()
    assert slow_ended.wait(WAIT)
    # the engine marks the record once slow's body has returned on the abandoned thread
    slow_run = next(tr for tr in run.task_runs if tr.task_id == "slow")
    wait_until(lambda: slow_run.status != "running", "slow's late return to be recorded")

    assert run.results() == {"fetch": None, "quick": "q"}
    assert "slow" not in run.execution_sequence()
    assert [tr.status for tr in run.task_runs if tr.task_id == "slow"] == ["abandoned"]


@pytest.mark.timeout(60)
def test_default_timeout_is_none():
    with workflow("no-timeout") as wf:

        @task
        def fetch():
            return None

        @task
        def slow():
            time.sleep(0.3)
            return "slow"

        @task
        def quick():
            return "quick"

        @task
        def store(slow, quick):
            return slow + quick

        group = slow | quick
        fetch >> group >> store

    assert group.timeout is None and slow.timeout is None
    assert wf.execute("fetch", session_id="S") == "slowquick"


# -- item 36, reconciliation 15 ---------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["best_effort", "continue"])
def test_step_budget_exhausted_in_one_branch_wins_over_policy(policy):
    calls: list[str] = []
    worker_done = threading.Event()
    with workflow("budget") as wf:

        @task
        def fetch():
            return "f"

        @task
        def worker():
            calls.append("worker")
            worker_done.set()
            return "worked"

        @task(inject_context=True)
        def looper(ctx):
            assert worker_done.wait(5)
            time.sleep(0.001)
            ctx.next_task(looper(task_id=f"loop_{ctx.execution_context.steps}"))

        @task
        def store():
            calls.append("store")

        fetch >> (worker | looper).with_execution(policy=policy) >> store

    with pytest.raises(StepLimitExceededError) as info:
        wf.execute("fetch", session_id="S", max_steps=40)

    error = info.value
    assert error.max_steps == 40 and error.session_id == "S_looper"
    assert error.results["worker"] == "worked"
    assert error.results["fetch"] == "f"
    assert calls == ["worker"]
    assert wf.last_run.steps == 40
    assert wf.last_run.status == "failed"


@pytest.mark.timeout(60)
def test_step_budget_is_shared_by_every_session_not_per_branch():
    def build():
        with workflow("shared-budget") as wf:

            @task
            def fetch():
                return None

            @task
            def store():
                return "done"

            def two(name):
                first = task(f"{name}1")(lambda: None)
                second = task(f"{name}2")(lambda: None)
                return first >> second

            fetch >> (two("a") | two("b") | two("c")) >> store
        return wf

    # fetch, the group node, 3 x 2 branch tasks, store
    wf = build()
    assert wf.execute("fetch", session_id="S", max_steps=9) == "done"
    run = wf.last_run
    assert run.steps == 9
    assert max(len(run.sessions[s].tasks_run) for s in ("S_a1", "S_b1", "S_c1")) == 2

    # one step fewer: no branch used more than 2, yet the run is over budget
    with pytest.raises(StepLimitExceededError):
        build().execute("fetch", session_id="S", max_steps=8)
    # branches are out of budget too when their sum exceeds it
    wf = build()
    with pytest.raises(StepLimitExceededError):
        wf.execute("fetch", session_id="S", max_steps=5)
    assert wf.last_run.steps == 5
    assert "store" not in wf.last_run.task_counts()


# -- item 35 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_retries_in_a_branch_are_counted_in_that_branch_only():
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def note(name):
        with lock:
            attempts[name] = attempts.get(name, 0) + 1
            return attempts[name]

    with workflow("retries") as wf:

        @task
        def fetch():
            return None

        @task(max_retries=2)
        def flaky():
            if note("flaky") < 3:
                raise ConnectionError("try again")
            return "finally"

        @task(max_retries=2)
        def steady():
            note("steady")
            return "steady"

        @task(max_retries=2)
        def once_flaky():
            if note("once_flaky") < 2:
                raise ConnectionError("once")
            return "second time"

        @task
        def store(flaky, steady, once_flaky):
            return flaky, steady, once_flaky

        fetch >> (flaky | steady | once_flaky) >> store

    assert wf.execute("fetch", session_id="S") == ("finally", "steady", "second time")
    assert attempts == {"flaky": 3, "steady": 1, "once_flaky": 2}
    run = wf.last_run
    by_task = {}
    for tr in run.task_runs:
        by_task.setdefault(tr.task_id, []).append((tr.session_id, tr.attempt, tr.status))
    assert by_task["flaky"] == [("S_flaky", 1, "failed"), ("S_flaky", 2, "failed"), ("S_flaky", 3, "succeeded")]
    assert by_task["steady"] == [("S_steady", 1, "succeeded")]
    assert by_task["once_flaky"] == [("S_once_flaky", 1, "failed"), ("S_once_flaky", 2, "succeeded")]
    assert run.sessions["S_flaky"].queue.retries == 2
    assert run.sessions["S_steady"].queue.retries == 0
    assert run.sessions["S_once_flaky"].queue.retries == 1
    assert run.task_counts()["flaky"] == 1
