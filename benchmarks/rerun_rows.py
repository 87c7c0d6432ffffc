"""The re-run cache's row (``rerun-cached``): what a run with ``cache=`` costs.

For chain-1000 and fanout-trivial-1000 (built once, run many times):

- ``plain``: the run without a cache;
- ``miss``: ``cache=`` a new empty store each time: every task is keyed, called and
  kept, and nothing hits (the key cost; goal: under 10% over plain);
- ``hit``: ``cache=`` a store that holds the whole run: every task is replayed.

Runs alternate plain / miss / hit so drift hits all three alike.  ``miss_cost_us_per_task``
is what keying and keeping add to each task (miss minus plain, chain-1000),
``work_miss_cost_us_per_task`` the same on ``chain-1000-work`` (more: the caches are
cold after a task that did work), and ``ten_pct_at_work_us`` ten times the larger: the
work per task above which a run that hits nothing costs under 10% more.

``chain-1000-work``: the same three runs of a chain whose every task does about
``WORK_US`` of pure-Python arithmetic (calibrated on this machine first) and returns
an int: the issue's goal, keys under 10% of a run that hits nothing, measured on tasks
that do something (``work_miss_over_plain``).

Then the time to fingerprint a 100 MB root frame (``initial_channel``): 4 float64
columns and a RangeIndex, 3.125 M rows.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from graflow_nb import task, workflow
from graflow_nb.core.cache.fingerprint import fingerprint
from graflow_nb.core.cache.store import MemoryStore

WORK_US = 50.0


def _times(repeats: int, actions: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    for action in actions.values():
        action()  # warm-up
    out: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            gc.collect()
            t0 = time.perf_counter()
            action()
            out[name].append(time.perf_counter() - t0)
    return out


def _one(wf: Any, start: str, tasks: int, repeats: int) -> dict[str, Any]:
    warm = MemoryStore("warm")
    wf.execute(start, session_id="R", cache=warm)
    times = _times(repeats, {
        "plain": lambda: wf.execute(start, session_id="R"),
        "miss": lambda: wf.execute(start, session_id="R", cache=MemoryStore("cold")),
        "hit": lambda: wf.execute(start, session_id="R", cache=warm),
    })
    hits = sum(1 for d in wf.last_run.cache.decisions.values() if d.cached)
    plain = statistics.median(times["plain"])
    per_task = 1e6 / tasks
    return {
        "tasks": tasks,
        "plain_us_per_task": round(plain * per_task, 2),
        "miss_us_per_task": round(statistics.median(times["miss"]) * per_task, 2),
        "hit_us_per_task": round(statistics.median(times["hit"]) * per_task, 2),
        "miss_over_plain": round(statistics.median(times["miss"]) / plain, 3),
        "hit_over_plain": round(statistics.median(times["hit"]) / plain, 3),
        "hit_tasks_replayed": hits,
        "samples_s": {name: [round(v, 4) for v in values] for name, values in times.items()},
    }


def _work(rounds: int) -> Callable[[], int]:
    def work() -> int:
        total = 0
        for i in range(rounds):
            total += i * i % 7
        return total

    return work


def calibrated_work(target_us: float) -> tuple[Callable[[], int], float]:
    """A task body that takes about ``target_us`` here, and what it measured: the best
    of 15 rounds of 100 calls, so a busy moment of the machine doesn't set the size."""
    def best(body: Callable[[], int]) -> float:
        samples = []
        for _ in range(15):
            t0 = time.perf_counter()
            for _ in range(100):
                body()
            samples.append((time.perf_counter() - t0) / 100 * 1e6)
        return min(samples)

    rounds = 1000
    for _ in range(2):  # a second step corrects the first's fixed costs
        rounds = max(1, round(rounds * target_us / best(_work(rounds))))
    body = _work(rounds)
    return body, best(body)


def build_work_chain(name: str, length: int, body: Callable[[], int]) -> Any:
    with workflow(name) as wf:
        tasks = [task(id=f"t{i}")(body) for i in range(length)]
        for left, right in zip(tasks, tasks[1:], strict=False):
            left >> right
    return wf


def frame_fingerprint(repeats: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rows = 3_125_000
    frame = pd.DataFrame({f"c{i}": np.random.default_rng(i).random(rows) for i in range(4)})
    megabytes = frame.memory_usage(index=True, deep=True).sum() / 1e6
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fingerprint(frame)
        samples.append(time.perf_counter() - t0)
    median = statistics.median(samples)
    return {"mb": round(megabytes, 1), "ms": round(median * 1000, 1), "mb_per_s": round(megabytes / median)}


def wl_rerun_cached(repeats: int, build_chain: Callable[..., Any], build_fanout: Callable[..., Any],
                    body: Callable[[], None], length: int, width: int) -> dict[str, Any]:
    chain = _one(build_chain("rerun-chain", length), "t0", length, repeats)
    fanout = _one(build_fanout("rerun-fanout", width, body), "source", width + 2, repeats)
    work, work_us = calibrated_work(WORK_US)
    worked = _one(build_work_chain("rerun-chain-work", length, work), "t0", length, repeats)
    worked["work_us"] = round(work_us, 1)
    cost = chain["miss_us_per_task"] - chain["plain_us_per_task"]
    work_cost = worked["miss_us_per_task"] - worked["plain_us_per_task"]
    return {
        "chain-1000": chain,
        "fanout-trivial-1000": fanout,
        "chain-1000-work": worked,
        "miss_over_plain": max(chain["miss_over_plain"], fanout["miss_over_plain"]),
        "miss_cost_us_per_task": round(cost, 2),
        "work_miss_cost_us_per_task": round(work_cost, 2),
        "ten_pct_at_work_us": round(10 * max(cost, work_cost), 1),
        "work_plain_us_per_task": worked["plain_us_per_task"],
        "work_miss_us_per_task": worked["miss_us_per_task"],
        "work_miss_over_plain": worked["miss_over_plain"],
        "frame_100mb_fingerprint": frame_fingerprint(max(3, repeats // 2)),
    }
