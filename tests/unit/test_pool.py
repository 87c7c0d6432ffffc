"""The worker pool: threads only where tasks block, no deadlock when nested, exact limits."""

import threading
import time

from graflow_nb import parallel, task, workflow
from graflow_nb.core.pool import SKIPPED, ForkJoin, WorkerPool


def test_trivial_members_are_run_by_the_forking_thread_without_new_threads():
    with workflow("trivial") as wf:
        members = []
        for i in range(200):
            @task(f"t{i}")
            def t():
                return 1

            members.append(t)
        parallel(*members)
        group_id = wf.graph.get_start_nodes()[0]
        wf.execute(group_id)
    assert wf.last_run.pool.peak_threads <= 2
    assert len(wf.last_run.task_counts()) == 201


def test_blocking_members_get_a_thread_each():
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def blocking():
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1

    with workflow("blocking") as wf:
        group = parallel(*[task(f"b{i}")(blocking) for i in range(32)])
        wf.execute(group.task_id)
    assert peak == 32


def test_fork_join_respects_its_limit_and_starts_in_declaration_order_with_limit_one():
    order = []
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def job(i):
        def run():
            nonlocal in_flight, peak
            with lock:
                order.append(i)
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.01)
            with lock:
                in_flight -= 1

        return run

    pool = WorkerPool(8)
    ForkJoin(pool, [job(i) for i in range(6)], limit=2).run()
    assert peak <= 2 and sorted(order) == list(range(6))

    order.clear()
    ForkJoin(pool, [job(i) for i in range(6)], limit=1).run()
    assert order == list(range(6))
    pool.shutdown()


def test_stop_skips_members_that_have_not_started():
    ran = []
    fork = None

    def first():
        ran.append(0)
        fork.stop()

    fork = ForkJoin(None, [first, lambda: ran.append(1), lambda: ran.append(2)], limit=1)
    fork.run()
    assert ran == [0]
    assert fork.states.count(SKIPPED) == 2
