"""The least any Python engine can do for a chain: a reference beside chain-1000's floor.

An object per task, one edge per ``>>``, and per step a dequeue, a call, the result
kept under the task's name, a run record with start and end times, and the successors
queued. No checks, no sessions, no step budget, no cancel, no contexts: nothing a
workflow engine would be trusted without. ``run.py`` times it in the same run as the
chain and its floor, so the report shows how much of the goal is reachable at all:
if this already costs about 5x the plain calls, no engine written in Python meets
chain-1000's goal of 5x.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any


class LeastTask:
    __slots__ = ("task_id", "func", "successors")

    def __init__(self, task_id: str, func: Callable[[], Any], graph: dict[str, LeastTask]):
        self.task_id = task_id
        self.func = func
        self.successors: list[LeastTask] = []
        graph[task_id] = self

    def __rshift__(self, other: LeastTask) -> LeastTask:
        self.successors.append(other)
        return other


class LeastRecord:
    __slots__ = ("task_id", "start", "end", "status")

    def __init__(self, task_id: str, start: float):
        self.task_id = task_id
        self.start = start
        self.end = 0.0
        self.status = "running"


def build_and_run(length: int, func: Callable[[], Any]) -> dict[str, Any]:
    """Build ``t0 >> ... >> t{length-1}`` one edge at a time, then run it from ``t0``."""
    graph: dict[str, LeastTask] = {}
    tasks = [LeastTask(f"t{i}", func, graph) for i in range(length)]
    for left, right in zip(tasks, tasks[1:], strict=False):
        left >> right
    queue, results, records, now = deque([tasks[0]]), {}, [], time.perf_counter
    while queue:
        task = queue.popleft()
        record = LeastRecord(task.task_id, now())
        records.append(record)
        results[task.task_id] = task.func()
        record.end = now()
        record.status = "succeeded"
        queue.extend(task.successors)
    return results
