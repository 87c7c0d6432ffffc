"""execute(ready_parallel=True): tasks start when their predecessors are done (BEHAVIOURS 27-28, 45)."""

import threading
import time

import pytest
from instruments import WAIT, EventWaiter

from graflow_nb import task, workflow
from graflow_nb.core.errors import MergeConflictError
from graflow_nb.core.events import EventKind

pytestmark = pytest.mark.timeout(60)


def test_independent_path_does_not_wait_for_a_slow_sibling():
    """B ends only after E ran: with a level barrier E would wait for B for ever."""
    e_ran = threading.Event()
    with workflow("dag") as wf:
        @task
        def A():
            return "a"

        @task
        def B():
            assert e_ran.wait(WAIT), "E did not run while B was still running"

        @task
        def C():
            return "c"

        @task
        def E():
            e_ran.set()
            return "e"

        A >> B
        A >> C
        C >> E
        wf.execute("A", ready_parallel=True, session_id="D")
    runs = {r.task_id: r for r in wf.last_run.task_runs}
    assert runs["E"].start < runs["B"].end
    assert runs["E"].start >= runs["C"].end
    assert wf.last_run.task_counts() == {"A": 1, "B": 1, "C": 1, "E": 1}


def test_fan_in_runs_once_with_every_input_and_canonical_order_is_stable():
    sink_calls = []
    v_done = threading.Event()
    with workflow("fanin") as wf:
        @task
        def f():
            return 1

        @task
        def a(f):
            assert v_done.wait(WAIT)  # v's input arrives first, a's last
            return f + 1

        @task
        def v(f):
            v_done.set()
            return f + 2

        @task
        def c(a, v):
            sink_calls.append((a, v))
            return a + v

        f >> a >> c
        f >> v >> c
        sequences = set()
        for _ in range(10):
            v_done.clear()
            assert wf.execute("f", ready_parallel=True) == 5
            sequences.add(tuple(wf.last_run.execution_sequence()))
    assert sink_calls == [(2, 3)] * 10
    assert sequences == {("f", "a", "v", "c")}


def test_sink_of_sixteen_concurrent_predecessors_sees_all_inputs_once():
    barrier = threading.Barrier(16, timeout=10)
    seen = []
    with workflow("sixteen") as wf:
        @task
        def src():
            return 0

        preds = []
        for i in range(16):
            def body(i=i):
                barrier.wait()
                return i

            preds.append(task(f"p{i}")(body))

        @task(inject_context=True)
        def sink(ctx):
            seen.append(sorted(ctx.get_result(f"p{i}") for i in range(16)))

        for p in preds:
            src >> p
            p >> sink
        wf.execute("src", ready_parallel=True)
    assert seen == [list(range(16))]


def test_two_tasks_running_together_writing_one_key_differently_is_a_conflict():
    together = threading.Barrier(2, timeout=WAIT)
    with workflow("conflict") as wf:
        @task
        def s():
            pass

        @task(inject_context=True)
        def w1(ctx):
            together.wait()
            ctx.get_channel().set("k", 1)

        @task(inject_context=True)
        def w2(ctx):
            together.wait()
            ctx.get_channel().set("k", 2)

        s >> w1
        s >> w2
        with pytest.raises(MergeConflictError, match="'k'.*'w1'.*'w2'|'k'.*'w2'.*'w1'"):
            wf.execute("s", ready_parallel=True)


def test_counters_and_lists_add_up_across_concurrent_tasks():
    with workflow("aggregate") as wf:
        @task
        def s():
            pass

        members = []
        for i in range(5):
            def body(ctx, i=i):
                time.sleep(0.005 * (5 - i))
                ctx.get_channel().atomic_add("n", 10)
                ctx.get_channel().append("seen", i)

            members.append(task(f"m{i}", inject_context=True)(body))
        for m in members:
            s >> m
        _, ctx = wf.execute("s", ready_parallel=True, ret_context=True)
    assert ctx.channel.get("n") == 50
    assert sorted(ctx.channel.get("seen")) == [0, 1, 2, 3, 4]


def test_first_failure_stops_new_starts_and_is_raised():
    ran = []
    events = EventWaiter()
    with workflow("failfast") as wf:
        @task
        def s():
            pass

        @task
        def bad():
            raise ValueError("bad input")

        @task
        def slow():
            events.wait_for(EventKind.TASK_FAILED, task_id="bad")  # still running when bad fails
            ran.append("slow")

        @task
        def after_slow():
            ran.append("after_slow")

        s >> bad
        s >> slow >> after_slow
        with pytest.raises(ValueError, match="bad input"):
            wf.execute("s", ready_parallel=True, observers=[events])
    assert ran == ["slow"]
    assert wf.last_run.status == "failed"
    assert [(tr.task_id, tr.status) for tr in wf.last_run.finished_runs()] == [
        ("s", "succeeded"), ("bad", "failed"), ("slow", "succeeded"),
    ]


def test_groups_and_dynamic_tasks_work_in_ready_mode():
    calls = []
    with workflow("mixed") as wf:
        @task(inject_context=True)
        def start(ctx):
            @task
            def extra():
                calls.append("extra")

            ctx.next_task(extra)

        @task
        def a():
            calls.append("a")

        @task
        def b():
            calls.append("b")

        @task
        def end():
            calls.append("end")

        start >> (a | b) >> end
        wf.execute("start", ready_parallel=True, session_id="M")
    assert sorted(calls) == ["a", "b", "end", "extra"]
    assert {"M", "M_a", "M_b"} == set(wf.last_run.sessions)
