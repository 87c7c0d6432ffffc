"""The async rows (issue 24): async tasks beside what a person writes with asyncio alone.

- ``async-fanout-10000``: ``source >> (m1 | ... | m10000) >> sink`` where every member is
  ``async def`` awaiting ``asyncio.sleep(1)``, built and run with ``wf.execute`` (the
  run's own loop), beside ``asyncio.run`` of ``asyncio.gather`` over the same 10,000
  coroutines (the source and sink called around it), alternating in the same run.  Peak
  threads are sampled every 2 ms while the engine runs.
- ``async-fanout-threadless-10000``: the same, run with ``asyncio.run(wf.aexecute(...))``
  on the path taken where threads can't start (Pyodide: the run driven from the
  awaiting coroutine on one thread, ``core.runtime.loop_driven``), beside the same floor.
- ``async-chain-1000``: ``t0 >> ... >> t999``, each an ``async def`` returning at once,
  built and run with ``wf.execute`` and with ``asyncio.run(wf.aexecute(...))``, beside
  ``asyncio.run`` of 1,000 plain ``await``s in a row (each result kept under its task's
  name, as ``floors.chain_floor`` does for the sync chain).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import operator
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from graflow_nb import task, workflow

ASYNC_WIDTH = 10_000
ASYNC_SLEEP = 1.0
ASYNC_CHAIN = 1000


def _noop() -> None:
    return None


async def _sleep_member() -> None:
    await asyncio.sleep(ASYNC_SLEEP)


async def _async_noop() -> None:
    return None


def _stats(values: list[float], scale: float = 1.0, digits: int = 4) -> dict[str, Any]:
    scaled = [v * scale for v in values]
    return {
        "median": round(statistics.median(scaled), digits),
        "min": round(min(scaled), digits),
        "samples": [round(v, digits) for v in scaled],
    }


class ThreadPeak:
    """The most threads this process had at once while the block ran (this sampler
    excluded), and how many were alive as it began: a thread pool an earlier workload
    left parked is not this run's doing."""

    def __init__(self, every: float = 0.002):
        self.every = every
        self.peak = 0
        self.before = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="thread-peak", daemon=True)

    def _watch(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, threading.active_count() - 1)
            self._done.wait(self.every)

    def __enter__(self) -> ThreadPeak:
        self.peak = self.before = threading.active_count()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def build_async_fanout(width: int) -> Any:
    with workflow("async-fanout") as wf:
        source = task(id="source")(_noop)
        sink = task(id="sink")(_noop)
        members = [task(id=f"m{i}")(_sleep_member) for i in range(1, width + 1)]
        source >> functools.reduce(operator.or_, members) >> sink
    return wf


def gather_floor(width: int) -> None:
    """The same source, 10,000 sleeping coroutines and sink, with asyncio alone."""

    async def main() -> None:
        _noop()
        await asyncio.gather(*(_sleep_member() for _ in range(width)))
        _noop()

    asyncio.run(main())


def _counts_once(run: Any, expected: int) -> bool:
    counts = {k: v for k, v in run.task_counts().items() if not k.startswith("ParallelGroup_")}
    return run.status == "succeeded" and len(counts) == expected and set(counts.values()) == {1}


def _threadless_aexecute(wf: Any, *args: Any, **kwargs: Any) -> Any:
    """``asyncio.run(wf.aexecute(...))`` on the path taken where threads can't start
    (Pyodide): ``sys.platform`` reads "emscripten" while it runs, as the tests set it."""
    real = sys.platform
    sys.platform = "emscripten"
    try:
        return asyncio.run(wf.aexecute(*args, **kwargs))
    finally:
        sys.platform = real


def wl_async_fanout_threadless(repeats: int, width: int = ASYNC_WIDTH) -> dict[str, Any]:
    """``async-fanout-10000`` driven from ``await wf.aexecute()`` on one thread, as in
    Pyodide (``core.runtime.loop_driven``), beside the same gather floor."""
    return wl_async_fanout(repeats, width, run=lambda wf, *a, **k: _threadless_aexecute(wf, *a, **k))


def wl_async_fanout(repeats: int, width: int = ASYNC_WIDTH, run: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Engine and gather floor alternate (one untimed of each first), so drift hits both.
    ``run(wf, start, **options)`` runs the built workflow (default: ``wf.execute``)."""
    steps = {"max_steps": 2 * width + 10}
    if run is None:
        run = lambda wf, *a, **k: wf.execute(*a, **k)  # noqa: E731
    run(build_async_fanout(width), "source", session_id="W", **steps)
    gather_floor(width)
    walls, builds, runs_only, floor_s, peaks, added, ok = [], [], [], [], [], [], True
    for _ in range(repeats):
        gc.collect()
        with ThreadPeak() as peak:
            t0 = time.perf_counter()
            wf = build_async_fanout(width)
            t1 = time.perf_counter()
            run(wf, "source", session_id="S", **steps)
            t2 = time.perf_counter()
        walls.append(t2 - t0)
        builds.append(t1 - t0)
        runs_only.append(t2 - t1)
        peaks.append(peak.peak)
        added.append(peak.peak - peak.before)
        ok = ok and _counts_once(wf.last_run, width + 2)
        gc.collect()
        t0 = time.perf_counter()
        gather_floor(width)
        floor_s.append(time.perf_counter() - t0)
    per_branch = 1e6 / width
    return {
        "branches": width,
        "sleep_s": ASYNC_SLEEP,
        "wall_s": _stats(walls, digits=3),
        "run_only_s": _stats(runs_only, digits=3),
        "build_only_s": _stats(builds, digits=3),
        "gather_wall_s": _stats(floor_s, digits=3),
        "over_gather": round(statistics.median(walls) / statistics.median(floor_s), 3),
        # what each branch costs beyond the one-second sleep they all share
        "us_per_branch": _stats([w - ASYNC_SLEEP for w in walls], per_branch, 1),
        "gather_us_per_branch": _stats([f - ASYNC_SLEEP for f in floor_s], per_branch, 1),
        "peak_threads": max(added),  # threads the run added at its peak
        "peak_threads_samples": added,
        "peak_threads_process": max(peaks),  # every thread of the process, the main one included
        "ok": ok,
    }


def build_async_chain(length: int) -> Any:
    with workflow("async-chain") as wf:
        tasks = [task(id=f"t{i}")(_async_noop) for i in range(length)]
        for left, right in zip(tasks, tasks[1:], strict=False):
            left >> right
    return wf


def awaits_floor(length: int) -> None:
    """1,000 plain awaits in a row, each result kept under its task's name."""

    async def main() -> dict[str, Any]:
        names = [f"t{i}" for i in range(length)]
        results: dict[str, Any] = {}
        for name in names:
            results[name] = await _async_noop()
        return results

    asyncio.run(main())


def _timed(action: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def wl_async_chain(repeats: int, length: int = ASYNC_CHAIN) -> dict[str, Any]:
    """Build + run with ``execute``, with ``aexecute`` on a fresh ``asyncio.run`` loop, and
    the floor, in turn (one untimed round first)."""
    last: list[Any] = []

    def with_execute() -> None:
        wf = build_async_chain(length)
        wf.execute("t0", session_id="S")
        last.append(wf.last_run)

    def with_aexecute() -> None:
        async def main() -> None:
            wf = build_async_chain(length)
            await wf.aexecute("t0", session_id="A")
            last.append(wf.last_run)

        asyncio.run(main())

    actions = {"execute": with_execute, "aexecute": with_aexecute, "floor": lambda: awaits_floor(length)}
    for action in actions.values():
        action()
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            times[name].append(_timed(action))
    per_task = 1e6 / length
    return {
        "tasks": length,
        "us_per_task": _stats(times["execute"], per_task, 2),
        "us_per_task_aexecute": _stats(times["aexecute"], per_task, 2),
        "floor_us_per_task": _stats(times["floor"], per_task, 3),
        "over_floor": round(statistics.median(times["execute"]) / statistics.median(times["floor"]), 1),
        "ok": all(_counts_once(run, length) for run in last),
    }


def beside_thread_rows(workloads: dict[str, dict[str, Any]]) -> None:
    """When the thread rows ran in the same report, put their per-unit cost beside ours."""
    fanout, trivial = workloads.get("async-fanout-10000"), workloads.get("fanout-trivial-1000")
    if fanout and trivial:
        fanout["fanout_trivial_1000_us_per_branch"] = trivial["us_per_branch"]["median"]
    chain, sync_chain = workloads.get("async-chain-1000"), workloads.get("chain-1000")
    if chain and sync_chain:
        chain["chain_1000_us_per_task"] = sync_chain["us_per_task"]["median"]
