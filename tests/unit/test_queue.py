"""A session's queue: FIFO order, counts, push-back and pickling, at any length."""

import pickle

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.queue import InMemoryTaskQueue


def _noop():
    return None


@pytest.fixture
def tasks():
    with workflow("queue"):
        return [task(f"t{i}")(_noop) for i in range(5)]


def test_fifo_order_counts_and_push_front(tasks):
    queue = InMemoryTaskQueue("S")
    for t in tasks:
        queue.enqueue(t)
    first = queue.dequeue()
    queue.push_front(first)  # it never ran: back at the head, uncounted
    assert [queue.dequeue() for _ in range(5)] == tasks
    assert queue.dequeue() is None and queue.is_empty() and len(queue) == 0
    assert queue.metrics == {"enqueued": 5, "dequeued": 5, "retries": 0, "failures": 0}


def test_a_long_queue_keeps_its_order_while_it_is_drained_and_refilled(tasks):
    """Past the point where the spent head is cut off, nothing is lost or reordered."""
    queue = InMemoryTaskQueue("S")
    n = 100_000
    for i in range(n):
        queue.enqueue(tasks[i % 5])
    taken = [queue.dequeue() for _ in range(n // 2 + 7)]
    queue.push_front(taken[-1])
    queue.enqueue(tasks[0])
    rest = queue.snapshot()
    assert len(queue) == len(rest) == n - n // 2 - 6 + 1
    assert rest[0] == taken[-1].task_id and rest[-1] == "t0"
    assert rest[1:-1] == [f"t{i % 5}" for i in range(n // 2 + 7, n)]
    assert [t.task_id for t in queue.drain()] == rest and queue.is_empty()


def test_a_queue_pickles_with_what_it_holds(tasks):
    queue = InMemoryTaskQueue("S")
    for t in tasks[:3]:
        queue.enqueue(t)
    queue.dequeue()
    copy = pickle.loads(pickle.dumps(queue))
    assert copy.snapshot() == ["t1", "t2"] and copy.metrics == queue.metrics
    copy.enqueue(tasks[4])  # its lock works after the round trip
    assert copy.snapshot() == ["t1", "t2", "t4"]


def test_a_task_passes_straight_through_only_an_empty_queue_and_is_counted_both_ways(tasks):
    queue = InMemoryTaskQueue("S")
    assert queue.pass_through(tasks[0])  # nothing waits: it is the next task, never held
    assert queue.snapshot() == [] and queue.metrics["enqueued"] == 1 and queue.metrics["dequeued"] == 1
    queue.enqueue(tasks[1])
    assert not queue.pass_through(tasks[2])  # t1 waits: t2 may not overtake it
    assert queue.enqueue_then_dequeue([tasks[2]]) is tasks[1] and queue.snapshot() == ["t2"]
    assert queue.metrics == {"enqueued": 3, "dequeued": 2, "retries": 0, "failures": 0}
    queue.enqueued = 7  # a restored checkpoint's count stands as given
    assert queue.enqueued == 7 and queue.enqueue_then_dequeue([]) is tasks[2] and queue.dequeued == 3
    copy = pickle.loads(pickle.dumps(queue))
    assert copy.metrics == queue.metrics


def test_a_chain_counts_every_task_through_each_queue_once():
    with workflow("chain") as wf:
        steps = [task(f"c{i}")(_noop) for i in range(50)]
        for left, right in zip(steps, steps[1:], strict=False):
            left >> right
    wf.execute("c0", session_id="C")
    record = wf.last_run.sessions["C"]
    assert (record.enqueued, record.dequeued, record.queued) == (50, 50, [])
    assert record.tasks_run == [f"c{i}" for i in range(50)]
    assert [t.order_key for t in wf.last_run.task_runs] == [(i,) for i in range(50)]
