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
