"""Async tasks in a real Jupyter kernel, read off the wire: ``wf.execute`` in a cell
(where ipykernel's loop runs in the calling thread), ``await wf.aexecute`` in a cell, a
loop-bound client made in one cell and used by tasks in another, and ``print`` in an
async task landing in the cell that started the run."""

from __future__ import annotations

import pytest
from kernels import kernel_in
from test_real_kernel import check_ok, run_cell, stdout_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WORKFLOW = """
import asyncio, threading
from graflow_nb import task, workflow

class LoopBoundClient:
    '''Like httpx.AsyncClient: usable only on the loop it was made on.'''
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.calls = 0
    async def get(self, url):
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("used on another loop")
        self.calls += 1
        await asyncio.sleep(0.05)
        return url.upper()

with workflow("cells") as wf:
    @task
    def prompts():
        return asyncio.run(asyncio.sleep(0, result=["a", "b"]))  # a sync SDK wrapper, as root task
    @task
    def first_member(prompts):
        return asyncio.run(asyncio.sleep(0, result=prompts[0]))  # and as a group's first member
    @task
    async def call_b(prompts):
        await asyncio.sleep(0.1)
        print("async task says hi")
        return prompts[1].upper()
    @task
    async def join(first_member, call_b):
        return first_member + call_b
    prompts >> (first_member | call_b) >> join
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    with kernel_in(tmp_path_factory.mktemp("async_kernel")) as (_manager, client):
        messages, reply = run_cell(client, WORKFLOW)
        check_ok(messages, reply)
        yield client


def test_wf_execute_in_a_cell_runs_async_and_asyncio_run_tasks_and_prints_there(kernel):
    messages, reply = run_cell(kernel, "print('result', wf.execute())")
    check_ok(messages, reply)
    out = stdout_of(messages)
    assert "async task says hi" in out
    assert "result aB" in out


def test_await_aexecute_in_a_cell(kernel):
    messages, reply = run_cell(kernel, "result = await wf.aexecute()\nprint('awaited', result, wf.last_run.status)")
    check_ok(messages, reply)
    out = stdout_of(messages)
    assert "awaited aB succeeded" in out
    assert "async task says hi" in out


def test_a_client_made_in_one_cell_is_used_by_async_tasks_in_another(kernel):
    messages, reply = run_cell(kernel, "client = LoopBoundClient()")
    check_ok(messages, reply)
    code = """
with workflow("client") as wf2:
    @task
    async def fetch_a():
        return await client.get("a")
    @task
    async def fetch_b():
        return await client.get("b")
    @task
    def both(fetch_a, fetch_b):
        return fetch_a + fetch_b
    (fetch_a | fetch_b) >> both
print('with client', await wf2.aexecute(), client.calls)
"""
    messages, reply = run_cell(kernel, code)
    check_ok(messages, reply)
    assert "with client AB 2" in stdout_of(messages)
    # The same client with wf.execute: the run's own loop is not the client's, and the
    # task says so by name (nothing hangs, nothing is silently wrong).
    messages, reply = run_cell(kernel, "try:\n    wf2.execute()\nexcept Exception as e:\n    print('refused:', e)")
    check_ok(messages, reply)
    out = stdout_of(messages)
    assert "refused:" in out and "used on another loop" in out
