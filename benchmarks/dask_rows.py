"""The Dask backend's benchmark rows, each measured beside its floor in the same run.

    dask-overhead     16 trivial branches on the Dask backend against 16 bare
                      ``client.submit`` round trips on the same cluster (goal: within 1.5x)
    dask-fanout-64    64 branches sleeping 50 ms on a 2-worker cluster, against the same
                      fan-out on threads here
    dask-channel-1mb  a 1 MB channel value read by 64 branches: wall time, and the bytes
                      graflow_nb shipped (one pickled view per group, not one per branch)

One ``LocalCluster(processes=True, n_workers=2, threads_per_worker=32)`` serves all
three; it starts on first use (not timed) and closes when the benchmark exits.
"""

from __future__ import annotations

import atexit
import gc
import logging
import statistics
import time
from typing import Any

from graflow_nb import parallel, task, workflow

WIDTH = 16
FANOUT, FANOUT_SLEEP = 64, 0.050
CHANNEL_BYTES, CHANNEL_READERS = 1_000_000, 64
_CLIENT: list[Any] = []


def client() -> Any:
    if not _CLIENT:
        from graflow_nb.distributed import local_cluster

        c = local_cluster(2, threads_per_worker=32, silence_logs=logging.ERROR)
        _CLIENT.append(c)
        atexit.register(lambda: (c.close(), c.cluster.close()))
    return _CLIENT[0]


def _median(values: list[float], scale: float = 1.0, digits: int = 4) -> dict[str, Any]:
    scaled = [v * scale for v in values]
    return {"median": round(statistics.median(scaled), digits), "min": round(min(scaled), digits)}


def _fanout(name: str, width: int, body: Any, backend: dict[str, Any] | None) -> Any:
    with workflow(name) as wf:
        @task
        def source() -> int:
            return 0

        @task
        def sink() -> str:
            return "done"

        members = []
        for i in range(width):
            members.append(task(f"t{i}")(body))
        group = parallel(*members)
        if backend is not None:
            group.with_execution(**backend)
        _ = source >> group >> sink
    return wf


def _timed(action: Any, repeats: int) -> list[float]:
    action()  # warm-up: graph caches on the workers, pooled threads here
    walls = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        action()
        walls.append(time.perf_counter() - t0)
    return walls


def _noop() -> None:
    return None


def _runs_once(wf: Any) -> bool:
    run = wf.last_run
    counts = {k: v for k, v in run.task_counts().items() if not k.startswith("ParallelGroup_")}
    return run.status == "succeeded" and set(counts.values()) == {1}


def wl_dask_overhead(repeats: int) -> dict[str, Any]:
    c = client()
    dask = {"backend": "dask", "backend_config": {"client": c}}
    wf = _fanout("dask-overhead", WIDTH, _noop, dask)
    graflow = _timed(lambda: wf.execute("source", session_id="S"), repeats)
    bare = _timed(lambda: c.gather([c.submit(_noop, pure=False) for _ in range(WIDTH)]), repeats)
    per_branch = [w / WIDTH for w in graflow]
    per_task = [w / WIDTH for w in bare]
    return {
        "width": WIDTH,
        "us_per_branch": _median(per_branch, 1e6, 1),
        "bare_submit_us_per_task": _median(per_task, 1e6, 1),
        "ratio": round(statistics.median(per_branch) / statistics.median(per_task), 2),
        "goal_ratio": 1.5,
        "ok": _runs_once(wf),
    }


def _sleep() -> None:
    time.sleep(FANOUT_SLEEP)


def wl_dask_fanout(repeats: int) -> dict[str, Any]:
    c = client()
    remote = _fanout("dask-fanout", FANOUT, _sleep, {"backend": "dask", "backend_config": {"client": c}})
    local = _fanout("threads-fanout", FANOUT, _sleep, None)
    on_dask = _timed(lambda: remote.execute("source", session_id="S"), repeats)
    on_threads = _timed(lambda: local.execute("source", session_id="S"), repeats)
    return {
        "width": FANOUT,
        "one_sleep_s": FANOUT_SLEEP,
        "workers": len(c.scheduler_info()["workers"]),
        "dask_wall_s": _median(on_dask),
        "threads_wall_s": _median(on_threads),
        "dask_ratio": round(statistics.median(on_dask) / FANOUT_SLEEP, 2),
        "threads_ratio": round(statistics.median(on_threads) / FANOUT_SLEEP, 2),
        "ok": _runs_once(remote) and _runs_once(local),
    }


def _reader(blob: bytes) -> int:
    return len(blob)


def wl_dask_channel(repeats: int) -> dict[str, Any]:
    from graflow_nb.distributed import Shipped

    c = client()
    with workflow("dask-channel") as wf:
        members = [task(f"r{i}")(_reader) for i in range(CHANNEL_READERS)]
        parallel(*members).with_execution(backend="dask", backend_config={"client": c})
    channel = {"blob": b"x" * CHANNEL_BYTES}
    before = (Shipped.views, Shipped.view_bytes)
    walls = _timed(lambda: wf.execute("ParallelGroup_1", session_id="S", initial_channel=channel), repeats)
    views = Shipped.views - before[0]
    view_bytes = (Shipped.view_bytes - before[1]) // max(1, views)
    return {
        "readers": CHANNEL_READERS,
        "channel_bytes": CHANNEL_BYTES,
        "wall_s": _median(walls),
        "views_shipped_per_run": views / (repeats + 1),
        "bytes_shipped_per_run": view_bytes,
        "copies_sent": len(c.scheduler_info()["workers"]),  # the one pickle, broadcast: one copy per worker
        "bytes_if_one_copy_per_branch": view_bytes * CHANNEL_READERS,
        "ok": _runs_once(wf) and {v for k, v in wf.last_run.results().items() if k.startswith("r")} == {CHANNEL_BYTES},
    }
