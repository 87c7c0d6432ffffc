"""Concurrency limits, timeouts, the shared step budget and retries inside branches
(BEHAVIOURS.md items 23, 24, 35-38; reconciliations 6, 9, 14, 15)."""

from __future__ import annotations

import threading
import time

import pytest

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.errors import GroupTimeoutError, StepLimitExceededError, TaskTimeoutError


class Gauge:
    """How many instrumented tasks are inside their body at once, and the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[str] = []
        self.runs: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, name: str) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.append(name)
            self.runs[name] = self.runs.get(name, 0) + 1

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def gauged(gauge: Gauge, name: str, seconds: float):
    @task(name, inject_context=True)
    def body(ctx):
        gauge.enter(name)
        try:
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

        fetch >> parallel(*[gauged(gauge, n, 0.1) for n in names]).with_execution(max_concurrency=2) >> store

    t0 = time.perf_counter()
    assert wf.execute("fetch", session_id="S") == "done"
    elapsed = time.perf_counter() - t0

    assert gauge.peak == 2
    assert gauge.runs == {n: 1 for n in names}
    assert 0.28 <= elapsed < 0.6, elapsed


def test_thread_count_backend_config_is_the_same_limit():
    gauge = Gauge()
    with workflow("thread-count") as wf:

        @task
        def fetch():
            return None

        fetch >> parallel(*[gauged(gauge, f"m{i}", 0.03) for i in range(5)]).with_execution(
            backend="threading", backend_config={"thread_count": 2}
        )

    wf.execute("fetch", session_id="S")
    assert gauge.peak == 2


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

            # later-declared members are quicker, so a parallel run finishes in reverse
            members = [gauged(gauge, n, 0.002 * (len(names) - i)) for i, n in enumerate(names)]
            fetch >> parallel(*members).with_execution(max_concurrency=limit) >> store
        return wf, gauge

    serial_wf, serial = build(1)
    serial_result = serial_wf.execute("fetch", session_id="S")
    parallel_wf, par = build(None)
    parallel_result = parallel_wf.execute("fetch", session_id="S")

    assert serial.starts == names
    assert serial.peak == 1
    assert par.peak > 1
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

        outer = []
        for i in range(3):
            head = gauged(gauge, f"h{i}", 0.03)
            inner = parallel(*[gauged(gauge, f"l{i}{j}", 0.03) for j in range(3)])
            outer.append(head >> inner)
        fetch >> parallel(*outer) >> store

    t0 = time.perf_counter()
    assert wf.execute("fetch", session_id="S", max_concurrency=3) == "done"
    elapsed = time.perf_counter() - t0

    assert gauge.peak == 3
    assert sorted(gauge.runs) == sorted([f"h{i}" for i in range(3)] + [f"l{i}{j}" for i in range(3) for j in range(3)])
    assert set(gauge.runs.values()) == {1}
    assert elapsed >= 0.11  # 12 tasks of 30 ms, 3 at a time: at least 4 rounds

    # without the cap the same graph runs more than 3 at once
    gauge.peak = 0
    wf.execute("fetch", session_id="S")
    assert gauge.peak > 3


# -- item 38 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_task_timeout_raises_timeout_error_naming_task_and_limit():
    with workflow("task-timeout") as wf:

        @task(timeout=0.1)
        def slow():
            time.sleep(0.5)
            return "late"

    t0 = time.perf_counter()
    with pytest.raises(TimeoutError) as info:
        wf.execute("slow", session_id="S")
    elapsed = time.perf_counter() - t0

    error = info.value
    assert isinstance(error, TaskTimeoutError)
    assert error.task_id == "slow" and error.timeout == 0.1
    assert "'slow'" in str(error) and "0.1" in str(error)
    assert elapsed < 0.4
    assert wf.last_run.status == "failed"


@pytest.mark.timeout(60)
def test_task_timeout_in_a_branch_applies_the_group_policy():
    calls: list[str] = []
    with workflow("branch-timeout") as wf:

        @task
        def fetch():
            return None

        @task(timeout=0.1)
        def slow():
            time.sleep(0.5)

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
    assert isinstance(info.value.errors["slow"], TaskTimeoutError)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert calls == ["quick"]

    # under best_effort the timed-out member is a recorded failure and store runs
    wf.graph.nodes[wf.last_run.groups[-1].group_id].with_execution(policy="best_effort")
    calls.clear()
    wf.execute("fetch", session_id="S")
    assert calls == ["quick", "store"]
    failures = wf.last_run.groups[-1].failures
    assert [f["task_id"] for f in failures] == ["slow"]
    assert isinstance(failures[0]["error"], TaskTimeoutError)


@pytest.mark.timeout(60)
def test_task_timeout_retry_succeeds_and_abandoned_write_is_discarded():
    late_written = threading.Event()
    with workflow("timeout-retry") as wf:

        @task(inject_context=True, timeout=0.1, max_retries=1)
        def flaky(ctx):
            ch = ctx.get_channel()
            if ctx.retry_count == 0:
                time.sleep(0.4)
                ch.set("late", "attempt-1")  # after it was abandoned
                ch.set("winner", "attempt-1")
                late_written.set()
                return "attempt-1"
            ch.set("winner", "attempt-2")
            return "attempt-2"

        @task(inject_context=True)
        def after(ctx, flaky):
            return flaky, ctx.get_channel().get("winner")

        flaky >> after

    assert wf.execute("flaky", session_id="S") == ("attempt-2", "attempt-2")
    run = wf.last_run
    attempts = [(tr.attempt, tr.status) for tr in run.task_runs if tr.task_id == "flaky"]
    assert attempts == [(1, "failed"), (2, "succeeded")]
    assert isinstance(next(tr.error for tr in run.task_runs if tr.task_id == "flaky"), TaskTimeoutError)

    assert late_written.wait(3)
    time.sleep(0.02)
    channel = root_channel(wf)
    assert "late" not in channel
    assert channel["winner"] == "attempt-2"
    assert channel["flaky.__result__"] == "attempt-2"
    assert run.results()["flaky"] == "attempt-2"


@pytest.mark.timeout(60)
def test_abandoned_attempt_cannot_enqueue_work():
    spawned: list[str] = []
    done = threading.Event()
    with workflow("abandoned-control") as wf:

        @task
        def extra():
            spawned.append("extra")

        @task(inject_context=True, timeout=0.05)
        def slow(ctx):
            time.sleep(0.2)
            try:
                ctx.next_task(extra)
            except TimeoutError:
                spawned.append("refused")
            finally:
                done.set()

    with pytest.raises(TaskTimeoutError):
        wf.execute("slow", session_id="S")
    assert done.wait(3)
    assert spawned == ["refused"]


# -- item 37 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_group_timeout_fails_fast_keeps_finished_results_and_skips_successors():
    slow_ended = threading.Event()
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
                time.sleep(1.0)
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

    t0 = time.perf_counter()
    with pytest.raises(GroupTimeoutError) as info:
        wf.execute("fetch", session_id="S")
    elapsed = time.perf_counter() - t0

    error = info.value
    assert isinstance(error, TimeoutError)
    assert 0.18 <= elapsed < 0.8, elapsed
    assert error.timeout == 0.2 and error.unfinished == ["slow"]
    assert "quick" in str(error) and "slow" in str(error)
    run = wf.last_run
    assert run.results()["quick"] == "q"
    assert run.groups[-1].state == "failed"
    assert run.status == "failed"

    assert slow_ended.wait(3)  # the abandoned branch ends on its own ...
    time.sleep(0.05)
    assert calls == []  # ... but neither its next task nor the successor runs
    assert "slow_wrote" not in root_channel(wf)
    assert run.sessions["S_slow"].state != "merged"


@pytest.mark.timeout(60)
def test_group_timeout_discards_the_abandoned_branch_late_result():
    """Reconciliation 9 / item 38: an abandoned thread's late result is discarded and the
    task is marked failed or timed out, not succeeded after the run has failed."""
    slow_ended = threading.Event()
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
                time.sleep(0.4)
                return "late"
            finally:
                slow_ended.set()

        fetch >> (quick | slow).with_execution(timeout=0.1)

    with pytest.raises(GroupTimeoutError):
        wf.execute("fetch", session_id="S")
    run = wf.last_run
    assert slow_ended.wait(3)
    time.sleep(0.05)

    assert run.results().get("quick") == "q"
    assert "slow" not in run.results()
    assert "slow" not in run.execution_sequence()
    assert [tr.status for tr in run.task_runs if tr.task_id == "slow"] != ["succeeded"]


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
