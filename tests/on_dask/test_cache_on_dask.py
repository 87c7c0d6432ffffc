"""``execute(cache=True)`` with a group on a real Dask cluster: the branches run on the
workers, uncached (the cache stays in the process that started the run), and the
tasks around the group are replayed; the run's outcome and channel are the same."""

from __future__ import annotations

import uuid

import pytest

from graflow_nb import task, workflow


def diamond(name, client):
    with workflow(name) as wf:
        @task
        def fetch():
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            ctx.get_channel().set("a_saw", fetch["rows"])
            return fetch["rows"] * 2

        @task
        def transform_b(fetch):
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            return transform_a + transform_b

        group = transform_a | transform_b
        group.with_execution("dask", backend_config={"client": client})
        _ = fetch >> group >> store
    return wf


@pytest.mark.slow
def test_a_cached_run_with_dask_branches(client):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    wf = diamond(name, client)
    assert wf.execute("fetch", session_id="D1", cache=True) == 10
    wf = diamond(name, client)
    assert wf.execute("fetch", session_id="D2", cache=True) == 10
    run = wf.last_run
    assert run.why("fetch") == "cached from run D1"
    assert run.why("store") == "cached from run D1"
    assert run.channel()["a_saw"] == 3
    tasks = run.frames.tasks().set_index("task_id")
    assert tasks.loc["fetch", "cached"] and tasks.loc["store", "cached"]
    assert not tasks.loc["transform_a", "cached"]  # ran on a worker
