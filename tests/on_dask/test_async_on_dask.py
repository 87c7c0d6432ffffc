"""Async tasks in branch sessions on a real two-process Dask cluster: the worker runs
the branch's coroutines on a loop of its own, results merge as on threads, and a
fail-fast sibling's failure cancels an async member there at its await."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from distributed import Client

from graflow_nb import ParallelGroupError, task, workflow

from .conftest import worker_addresses

pytestmark = pytest.mark.slow


def test_async_branches_run_on_dask_workers_and_merge(client: Client):
    with workflow("async_dask") as wf:
        @task
        def fetch():
            return 3

        @task(inject_context=True)
        async def call_a(ctx, fetch):
            await asyncio.sleep(0.05)
            ctx.get_channel().set("a_pid", os.getpid())
            return fetch * 2

        @task
        async def call_b(fetch):
            await asyncio.sleep(0.05)
            return [fetch + 1, asyncio.get_running_loop().is_running()]

        @task
        async def store(call_a, call_b):
            return call_a + call_b[0]

        _ = fetch >> (call_a | call_b) >> store
    assert wf.execute("fetch", session_id="D", executor=client) == 10
    run = wf.last_run
    workers = {run.sessions[s].worker for s in ("D_call_a", "D_call_b")}
    assert workers <= worker_addresses(client) and None not in workers
    channel = run.channel()
    assert channel["a_pid"] != os.getpid()  # it ran in a worker process
    assert channel["call_b.__result__"] == [4, True]


def test_a_failing_sibling_cancels_an_async_member_on_a_worker(client: Client):
    with workflow("async_dask_cancel") as wf:
        @task(inject_context=True)
        async def slow(ctx):
            try:
                await asyncio.sleep(30)
            finally:
                ctx.get_channel().set("slow_finally", True)

        @task
        def boom():
            raise ValueError("boom")

        @task
        def src():
            return 0

        _ = src >> (slow | boom).with_execution(fail_fast=True)
    started = time.monotonic()
    with pytest.raises(ParallelGroupError, match="boom"):
        wf.execute("src", session_id="C", executor=client)
    assert time.monotonic() - started < 20  # not the 30 s await: cancelled there
    statuses = {r.task_id: r.status for r in wf.last_run.task_runs}
    assert statuses["slow"] == "cancelled"
