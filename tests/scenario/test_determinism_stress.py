"""Determinism under random timings, and bookkeeping under load: every task runs
exactly once or is recorded as cancelled/failed; nothing is lost or run twice
(BEHAVIOURS.md items 12, 25, 26, 29, 31, 34; reconciliation 4)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from graflow_nb import ParallelGroupError, parallel, task, workflow


class Runs:
    """A thread-safe Counter of task executions."""

    def __init__(self) -> None:
        self.counter: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, name: str) -> None:
        with self._lock:
            self.counter[name] += 1


class Boom(Exception):
    pass


# -- item 12 at scale --------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_merged_channel_identical_over_200_runs_with_random_timings():
    names = ["p", "q", "r", "s"]
    with workflow("determinism") as wf:

        @task
        def fetch():
            return None

        def make(index, name):
            @task(name, inject_context=True)
            def body(ctx):
                ch = ctx.get_channel()
                time.sleep(random.uniform(0, 0.003))
                ch.set("shared", name)  # every branch: last declared wins
                ch.set(f"pair{index // 2}", name)  # p/q and r/s overlap
                ch.append("log", name)
                time.sleep(random.uniform(0, 0.003))
                ch.atomic_add("count", index + 1)
                ch.set(f"own_{name}", index)

            return body

        @task(inject_context=True)
        def store(ctx):
            ch = ctx.get_channel()
            return {k: ch.get(k) for k in sorted(ch.keys()) if not k.endswith(".__result__")}

        fetch >> parallel(*[make(i, n) for i, n in enumerate(names)]).with_execution(merge="overwrite") >> store

    expected = {
        "shared": "s",
        "pair0": "q",
        "pair1": "s",
        "log": ["p", "q", "r", "s"],
        "count": 100 + 1 + 2 + 3 + 4,
        "own_p": 0,
        "own_q": 1,
        "own_r": 2,
        "own_s": 3,
    }
    finish_orders = set()
    for _ in range(200):
        assert wf.execute("fetch", session_id="S", initial_channel={"count": 100}) == expected
        ends = {tr.task_id: tr.end for tr in wf.last_run.task_runs if tr.task_id in names}
        finish_orders.add(tuple(sorted(names, key=ends.__getitem__)))
    assert len(finish_orders) > 1  # the timings really did vary


# -- item 26 with merging ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(60)
def test_thousand_wide_group_runs_each_member_once_and_merges_in_declared_order():
    runs = Runs()

    @task(inject_context=True)
    def leaf(ctx, i):
        runs.hit(ctx.task_id)
        ch = ctx.get_channel()
        ch.append("seen", i)
        ch.atomic_add("total", i)
        return i

    with workflow("wide") as wf:

        @task
        def source():
            runs.hit("source")

        @task(inject_context=True)
        def sink(ctx):
            runs.hit("sink")
            ch = ctx.get_channel()
            return ch.get("seen"), ch.get("total")

        source >> parallel(*[leaf(task_id=f"w{i}", i=i) for i in range(1000)]) >> sink

    seen, total = wf.execute("source", session_id="S", max_workers=16)

    assert seen == list(range(1000))
    assert total == sum(range(1000))
    assert runs.counter == Counter({t: 1 for t in ["source", *(f"w{i}" for i in range(1000)), "sink"]})
    run = wf.last_run
    assert run.groups[-1].state == "succeeded"
    assert sum(1 for s in run.sessions.values() if s.state == "merged") == 1000


# -- item 25 with failures -------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(60)
def test_depth_five_nesting_on_two_workers_with_random_failures_under_best_effort():
    rng = random.Random(1234)
    runs = Runs()
    raised: dict[str, BaseException] = {}
    lock = threading.Lock()

    @task(inject_context=True)
    def step(ctx, fail=False):
        runs.hit(ctx.task_id)
        time.sleep(0.0005)
        if fail:
            error = Boom(ctx.task_id)
            with lock:
                raised[ctx.task_id] = error
            raise error

    expected: list[str] = []
    failing: set[str] = set()

    def node(path: str, depth: int):
        tid = f"t{path}"
        expected.append(tid)
        if depth == 0:
            if rng.random() < 0.3:
                failing.add(tid)
            return step(task_id=tid, fail=tid in failing)
        head = step(task_id=tid)
        return head >> (node(path + "0", depth - 1) | node(path + "1", depth - 1))

    with workflow("deep-fail") as wf:
        root = step(task_id="root")
        sink = step(task_id="sink")
        root >> (node("0", 4) | node("1", 4)) >> sink

    wf.execute("root", session_id="S", max_workers=2, default_policy="best_effort")  # a deadlock trips the timeout

    assert runs.counter == Counter({t: 1 for t in [*expected, "root", "sink"]})
    run = wf.last_run
    assert max(s.depth for s in run.sessions.values()) == 5
    recorded = {f["task_id"]: f["error"] for g in run.groups for f in g.failures}
    assert recorded == raised  # every failure raised is recorded, once, as the very object
    assert all(recorded[t] is raised[t] for t in raised)
    assert sorted(raised) == sorted(t for t in expected if t in failing)
    assert sum(len(g.failures) for g in run.groups) == len(raised)
    assert run.status == "succeeded"
    assert [g.state for g in run.groups] == ["degraded" if g.failures else "succeeded" for g in run.groups]
    assert len(run.groups) == 2**5 - 1


# -- items 29, 31, 34 with 64 members ---------------------------------------------------------
def random_fanout(seed: int, policy: str, limit: int | None):
    rng = random.Random(seed)
    runs = Runs()
    raised: dict[str, BaseException] = {}
    lock = threading.Lock()
    ids = [f"m{i:02d}" for i in range(64)]
    failing = {i for i in ids if rng.random() < 0.3}
    delays = {i: rng.uniform(0, 0.002) for i in ids}

    @task(inject_context=True)
    def member(ctx):
        runs.hit(ctx.task_id)
        time.sleep(delays[ctx.task_id])
        if ctx.task_id in failing:
            error = Boom(ctx.task_id)
            with lock:
                raised[ctx.task_id] = error
            raise error
        return ctx.task_id

    with workflow("fan64") as wf:

        @task
        def fetch():
            runs.hit("fetch")

        @task
        def store():
            runs.hit("store")

        (
            fetch
            >> parallel(*[member(task_id=i) for i in ids]).with_execution(policy=policy, max_concurrency=limit)
            >> store
        )
    return wf, runs, raised, ids, failing


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sixty_four_random_failures_under_best_effort_are_all_accounted_for(seed):
    wf, runs, raised, ids, failing = random_fanout(seed, "best_effort", None)
    wf.execute("fetch", session_id="S")

    assert failing and len(failing) < 64
    assert runs.counter == Counter({t: 1 for t in [*ids, "fetch", "store"]})
    run = wf.last_run
    outcome = run.groups[-1]
    assert outcome.state == "degraded"
    assert [f["task_id"] for f in outcome.failures] == sorted(failing)  # declared order
    assert {f["task_id"]: f["error"] for f in outcome.failures} == raised
    assert outcome.cancelled == []
    results = run.results()
    assert sorted(i for i in ids if i in results) == sorted(set(ids) - failing)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sixty_four_random_failures_under_fail_fast_nothing_lost_or_run_twice(seed):
    wf, runs, raised, ids, failing = random_fanout(seed, "fail_fast", 8)
    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    error = info.value
    ran = {t for t in ids if runs.counter[t]}
    assert all(runs.counter[t] == 1 for t in ran)  # nothing ran twice
    assert runs.counter["store"] == 0
    cancelled = set(error.cancelled_tasks)
    assert ran | cancelled == set(ids)  # nothing lost: it ran, or is recorded cancelled
    assert not (cancelled - ran) & set(raised)  # a member that never started did not fail
    assert set(error.errors) == set(raised)  # failures recorded == failures raised
    assert list(error.errors) == sorted(raised)  # in declared order
    assert error.__cause__ is raised[min(raised)]
    run = wf.last_run
    outcome = run.groups[-1]
    assert [f["task_id"] for f in outcome.failures] == sorted(raised)
    assert set(outcome.cancelled) == cancelled
    never_started = cancelled - ran
    assert never_started, "with 8 at a time some members should not have started"
    for t in never_started:
        assert run.sessions[f"S_{t}"].state == "cancelled"
        assert (t, f"S_{t}", "cancelled") in run.skipped
    for t in ran - set(raised):
        assert run.sessions[f"S_{t}"].state in ("cancelled", "discarded")


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("limit", [None, 8])
def test_sixty_four_random_failures_under_strict_every_member_runs_and_every_failure_is_listed(seed, limit):
    wf, runs, raised, ids, failing = random_fanout(seed, "strict", limit)
    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    error = info.value
    assert runs.counter == Counter({t: 1 for t in [*ids, "fetch"]})  # every member, once; no store
    assert [t for t, _ in error.failed_tasks] == sorted(failing)  # every failure, declared order
    assert [m for _, m in error.failed_tasks] == [str(raised[t]) for t in sorted(failing)]
    assert error.successful_tasks == [t for t in ids if t not in failing]
    assert error.cancelled_tasks == []
    assert error.__cause__ is raised[min(failing)]
