"""An ``async def`` task is refused where it is defined, naming the task.

Until tasks are awaited, calling one hands its successor an un-awaited coroutine and the
run fails later, far from the cause (or, worse, succeeds with a coroutine as a value).
Each form a user can write an async callable in is refused at once, and nothing of it
joins the workflow.
"""

from __future__ import annotations

import asyncio
import functools

import pytest

from graflow_nb import TaskWrapper, task, workflow


async def _fetch(url: str) -> str:
    await asyncio.sleep(0)
    return url


async def _stream():
    yield 1


class _AsyncClient:
    async def __call__(self) -> int:
        return 1

    async def get(self) -> int:
        return 2


def test_the_decorator_refuses_async_def_naming_the_task_and_keeps_it_out_of_the_workflow():
    with workflow("fan") as wf:
        @task
        def prompts():
            return ["a", "b"]

        with pytest.raises(TypeError) as caught:
            @task
            async def call_a(prompts):
                await asyncio.sleep(0.2)
                return prompts[0].upper()

        message = str(caught.value)
        assert message.startswith("task 'call_a' is an 'async def' function")
        assert "un-awaited coroutine" in message
        assert "plain 'def'" in message
        assert len(message) < 400
        assert "call_a" not in wf.graph.nodes
        assert list(wf.graph.nodes) == ["prompts"]
        assert wf.execute("prompts") == ["a", "b"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: task("named")(_fetch), id="task(id)"),
        pytest.param(lambda: task(id="named")(_fetch), id="task(id=)"),
        pytest.param(lambda: task("named", inject_context=True, max_retries=2)(_fetch), id="options"),
        pytest.param(lambda: TaskWrapper("named", _fetch), id="TaskWrapper"),
        pytest.param(lambda: task("named")(functools.partial(_fetch, "u")), id="partial"),
        pytest.param(lambda: task("named")(_AsyncClient()), id="callable-object"),
        pytest.param(lambda: task("named")(_AsyncClient().get), id="bound-method"),
    ],
)
def test_every_way_of_making_an_async_task_is_refused_by_name(make):
    with pytest.raises(TypeError, match=r"^task 'named' is an 'async def' function; "):
        make()


def test_an_async_generator_is_refused_as_one():
    with pytest.raises(TypeError, match=r"^task '_stream' is an async generator; .*async generator object"):
        task(_stream)


def test_an_async_compensation_is_refused_naming_the_task_it_undoes():
    @task
    def charge():
        return 1

    with pytest.raises(TypeError, match="async def"):
        charge.compensate(_fetch)
    assert charge.compensation is None


def test_a_next_task_made_at_run_time_from_an_async_function_fails_the_run_by_name():
    with workflow("dyn") as wf:
        @task(inject_context=True)
        def spawn(ctx):
            ctx.next_task(TaskWrapper("late_fetch", _fetch))

        with pytest.raises(TypeError, match="task 'late_fetch' is an 'async def' function"):
            wf.execute("spawn")
    assert wf.last_run.status == "failed"


def test_sync_functions_of_every_form_still_become_tasks():
    class Client:
        def __call__(self) -> int:
            return 3

    def add(a: int, b: int) -> int:
        return a + b

    assert task("obj")(Client()).func() == 3
    assert task("part")(functools.partial(add, 1, 2)).func() == 3
    assert task(id="lam")(lambda: 4).func() == 4
