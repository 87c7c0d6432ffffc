"""Runs with async tasks are saved and resumed like any other; the step debugger steps
async tasks one at a time.  A task that was parked on its coroutine (or asked for input
from it) runs again from its start on resume."""

from __future__ import annotations

import asyncio

import pytest
from instruments import wait_until

from graflow_nb import ParallelGroupError, task, workflow

pytestmark = pytest.mark.timeout(60)


def flaky_fanout(calls: list[str], fail: dict[str, bool]):
    with workflow("async_ckpt") as wf:
        @task
        def fetch():
            calls.append("fetch")
            return 3

        @task
        async def call_a(fetch):
            calls.append("call_a")
            await asyncio.sleep(0.01)
            return fetch * 2

        @task
        async def call_b(fetch):
            calls.append("call_b")
            await asyncio.sleep(0.01)
            if fail["b"]:
                raise ConnectionError("b is down")
            return fetch + 1

        @task
        async def store(call_a, call_b):
            calls.append("store")
            return call_a + call_b

        _ = fetch >> (call_a | call_b) >> store
    return wf


def test_a_failed_async_run_resumes_from_its_checkpoint_running_only_what_did_not_succeed(tmp_path):
    calls: list[str] = []
    fail = {"b": True}
    wf = flaky_fanout(calls, fail)
    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="A", checkpoint_dir=tmp_path)
    saved = wf.last_run.checkpoints[-1]
    assert sorted(calls) == ["call_a", "call_b", "fetch"]
    calls.clear()
    fail["b"] = False
    assert wf.resume(saved) == 10
    assert sorted(calls) == ["call_b", "store"]  # fetch and call_a succeeded before: not again


def test_an_async_task_that_asked_for_input_is_saved_paused_and_reruns_from_its_start(tmp_path):
    runs: list[str] = []
    with workflow("async_ask") as wf:
        @task(inject_context=True)
        async def ask(ctx):
            runs.append("ask")
            await asyncio.sleep(0)
            return ctx.request_text_input("name?")

        @task
        def other():
            return 0

        _ = ask | other
    paused = wf.execute(session_id="Q", checkpoint_dir=tmp_path)
    saved = wf.last_run.checkpoints[-1]
    assert [q.prompt for q in paused.pending] == ["name?"]
    key = paused.pending[0].key
    wf.resume(saved, answers={key: "Ada"})
    assert runs == ["ask", "ask"]
    assert wf.last_run.status == "succeeded"
    assert wf.last_run.channel()["ask.__result__"] == "Ada"


def test_the_debugger_steps_async_tasks_one_at_a_time():
    calls: list[str] = []
    wf = flaky_fanout(calls, {"b": False})
    with wf.debug("fetch", session_id="D") as dbg:
        assert dbg.step().ran == ("fetch",)
        step = dbg.step()
        assert step.forked == ("D_call_a", "D_call_b")
        step = dbg.step("D_call_b")
        assert (step.session_id, step.ran) == ("D_call_b", ("call_b",))
        assert calls == ["fetch", "call_b"]  # call_a stays held
        step = dbg.step("D_call_a")
        assert step.ran == ("call_a",)
        assert dbg.step().merged == ("D_call_a", "D_call_b")
        assert dbg.step().ran == ("store",)
        wait_until(lambda: dbg.finished, "the run's thread to return")  # it closes the run's loop first
        assert dbg.finished and dbg.status == "succeeded" and dbg.result == 10
