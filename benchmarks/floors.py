"""The hand-written floor for each workload: what a person gets without graflow_nb.

A chain is plain calls (each result kept under its task's name, as the engine keeps
results).  A group is a long-lived ``concurrent.futures.ThreadPoolExecutor`` of the
group's width, created and warmed before anything is timed (every thread already
started, as a notebook's pool would be after its first cell): the source runs, the
members are submitted and waited for, then the sink runs.  A nested group uses a pool
of its own width inside the outer member, as one would write it by hand.

``run.py`` times each floor in the same run as the engine, alternating with it, so
drift on a busy machine hits both alike; targets are ratios to these numbers.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any


class FanoutFloor:
    """``source(); [pool.submit(body) x width]; wait; sink()`` on a warmed pool of ``width``."""

    def __init__(self, width: int, body: Callable[[], None], source: Callable[[], None], threads: int | None = None):
        self.width = width
        self.body = body
        self.source = source
        threads = threads or width  # fewer for a group with max_concurrency
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="floor")
        warm = threading.Barrier(threads)  # every thread blocked at once: all of them get started
        list(self.pool.map(lambda _: warm.wait(), range(threads)))

    def run(self) -> None:
        self.source()
        futures = [self.pool.submit(self.body) for _ in range(self.width)]
        for future in futures:
            future.result()
        self.source()  # the sink

    def close(self) -> None:
        self.pool.shutdown()


class NestedFloor:
    """``a >> ((b >> (b1 | b2) >> bm) | c) >> d`` by hand: a pool of 2 for each group."""

    def __init__(self, body: Callable[[], None]):
        self.body = body
        self.outer = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="floor-outer")
        self.inner = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="floor-inner")
        for pool in (self.outer, self.inner):
            warm = threading.Barrier(2)
            list(pool.map(lambda _, w=warm: w.wait(), range(2)))

    def _b_branch(self) -> None:
        self.body()  # b
        for future in [self.inner.submit(self.body) for _ in range(2)]:  # b1 | b2
            future.result()
        self.body()  # bm

    def run(self) -> None:
        self.body()  # a
        for future in [self.outer.submit(self._b_branch), self.outer.submit(self.body)]:  # (b ...) | c
            future.result()
        self.body()  # d

    def close(self) -> None:
        self.outer.shutdown()
        self.inner.shutdown()


def chain_floor(functions: list[tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
    """Plain calls in order, each result kept under its task's name."""
    results: dict[str, Any] = {}
    for name, function in functions:
        results[name] = function()
    return results


def fanout_memory_floor(width: int, body: Callable[[], None]) -> None:
    """The trivial fan-out's floor for peak memory: the pool is part of what it costs."""
    with concurrent.futures.ThreadPoolExecutor(width, thread_name_prefix="floor") as pool:
        for future in [pool.submit(body) for _ in range(width)]:
            future.result()
