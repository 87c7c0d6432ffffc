"""Branches really run concurrently, nest without deadlock and stay bounded
(BEHAVIOURS.md items 22, 25-27)."""

from __future__ import annotations

import threading
import time

import pytest
from instruments import WAIT, overlap, spans

from graflow_nb import parallel, task, workflow


class Recorder:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.peak_threads = 0
        self._lock = threading.Lock()

    def hit(self, name: str) -> None:
        active = threading.active_count()
        with self._lock:
            self.order.append(name)
            self.peak_threads = max(self.peak_threads, active)


# -- item 22 ---------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_two_branches_run_at_the_same_time():
    """Each branch waits at a barrier only the other can open: run one after the other,
    the first would wait for ever (BrokenBarrierError).  How fast is benchmarks' job."""
    both_inside = threading.Barrier(2, timeout=WAIT)
    threads: dict[str, str] = {}
    with workflow("overlap") as wf:

        @task
        def fork():
            return None

        @task
        def a():
            both_inside.wait()
            threads["a"] = threading.current_thread().name
            return "a"

        @task
        def b():
            both_inside.wait()
            threads["b"] = threading.current_thread().name
            return "b"

        @task
        def sink(a, b):
            return a + b

        fork >> (a | b) >> sink

    result = wf.execute("fork", session_id="S")
    assert result == "ab"
    run = wf.last_run
    assert overlap(*spans(run, ["a", "b"]).values())
    assert threads["a"] != threads["b"]
    ran = {tr.task_id: (tr.session_id, tr.thread) for tr in run.task_runs if tr.task_id in ("a", "b")}
    assert ran == {"a": ("S_a", threads["a"]), "b": ("S_b", threads["b"])}
    assert run.execution_sequence() == ["fork", "a", "b", "sink"]


# -- item 25 ---------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_nested_groups_five_deep_on_two_workers_complete():
    rec = Recorder()
    baseline = threading.active_count()

    @task(inject_context=True)
    def step(ctx):
        rec.hit(ctx.task_id)
        time.sleep(0.001)

    expected: list[str] = []

    def node(path: str, depth: int):
        t = step(task_id=f"t{path}")
        expected.append(f"t{path}")
        if depth == 0:
            return t
        return t >> (node(path + "0", depth - 1) | node(path + "1", depth - 1))

    with workflow("deep") as wf:
        root = step(task_id="root")
        sink = step(task_id="sink")
        expected += ["root", "sink"]
        # groups nested 5 deep: root's group, then one per level below t0/t1
        root >> (node("0", 4) | node("1", 4)) >> sink

    wf.execute("root", session_id="S", max_workers=2)  # a deadlock trips the 30 s timeout

    assert wf.last_run.status == "succeeded"
    counts = wf.last_run.task_counts()
    assert {t: n for t, n in counts.items() if not t.startswith("ParallelGroup_")} == {t: 1 for t in expected}
    assert sorted(rec.order) == sorted(expected)
    assert len(expected) == 2 + 2 * (2**5 - 1)
    assert rec.order[-1] == "sink"
    depth = max(s.depth for s in wf.last_run.sessions.values())
    assert depth == 5
    assert rec.peak_threads <= baseline + 2 + 1, (rec.peak_threads, baseline)


@pytest.mark.timeout(30)
def test_nested_groups_with_thread_count_two_complete():
    rec = Recorder()

    @task(inject_context=True)
    def step(ctx):
        rec.hit(ctx.task_id)

    def level(path: str, depth: int):
        t = step(task_id=f"t{path}")
        if depth == 0:
            return t
        group = node_group(path, depth - 1)
        return t >> group

    def node_group(path: str, depth: int):
        return (level(path + "0", depth) | level(path + "1", depth)).with_execution(
            backend="threading", backend_config={"thread_count": 2}
        )

    with workflow("deep-threadcount") as wf:
        root = step(task_id="root")
        root >> node_group("", 4)

    wf.execute("root", session_id="S", max_workers=2)
    assert len(rec.order) == len(set(rec.order)) == 1 + 2 * (2**5 - 1)


# -- item 26 ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_thousand_branches_bounded_threads_sink_once():
    rec = Recorder()
    baseline = threading.active_count()

    @task(inject_context=True)
    def leaf(ctx):
        rec.hit(ctx.task_id)
        time.sleep(0.0005)
        return 1

    with workflow("wide") as wf:

        @task
        def source():
            rec.hit("source")

        @task(inject_context=True)
        def sink(ctx):
            rec.hit("sink")
            return sum(ctx.get_result(f"w{i}") for i in range(1000))

        source >> parallel(*[leaf(task_id=f"w{i}") for i in range(1000)]) >> sink

    result = wf.execute("source", session_id="S", max_workers=8)

    assert result == 1000
    assert rec.order.count("sink") == 1
    assert rec.order[-1] == "sink"
    assert len(rec.order) == 1002 and len(set(rec.order)) == 1002
    assert rec.peak_threads <= baseline + 8 + 2, (rec.peak_threads, baseline)


# -- item 27 ---------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_sink_fed_by_sixteen_concurrent_predecessors_sees_all_inputs():
    rec = Recorder()
    all_in = threading.Barrier(16, timeout=10)

    @task(inject_context=True)
    def pred(ctx):
        all_in.wait()  # all 16 finish at the same moment
        rec.hit(ctx.task_id)
        return int(ctx.task_id[1:])

    with workflow("fan16") as wf:

        @task
        def source():
            return None

        @task(inject_context=True)
        def sink(ctx):
            rec.hit("sink")
            return [ctx.get_result(f"p{i}") for i in range(16)]

        source >> parallel(*[pred(task_id=f"p{i}") for i in range(16)]) >> sink

    result = wf.execute("source", session_id="S")

    assert result == list(range(16))
    assert rec.order.count("sink") == 1
    assert rec.order[-1] == "sink"
