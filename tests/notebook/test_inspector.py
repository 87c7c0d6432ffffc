"""The task inspector: what a picked task received, returned, where and how long."""

from __future__ import annotations

import pytest

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.notebook import TaskInspector, task_details

pytestmark = pytest.mark.timeout(60)


def diamond(fail: bool = False):
    with workflow("diamond") as wf:

        @task
        def fetch():
            return {"rows": 3}

        @task
        def transform_a(fetch):
            if fail:
                raise ValueError("bad rows")
            return fetch["rows"] * 2

        @task(inject_context=True)
        def transform_b(ctx, fetch, scale=10):
            return fetch["rows"] * scale

        @task
        def store(transform_a, transform_b):
            return transform_a + transform_b

        fetch >> (transform_a | transform_b) >> store
    return wf


def test_details_of_a_task_after_a_run():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    details = task_details(wf, wf.last_run, "transform_b")
    assert details["task_id"] == "transform_b" and details["kind"] == "task"
    (entry,) = details["runs"]
    assert entry["session"] == "4821_transform_b" and entry["status"] == "succeeded"
    assert entry["inputs"] == {"fetch": {"rows": 3}}  # the injected context is not an input
    assert entry["result"] == 30 and entry["error"] is None
    (attempt,) = entry["attempts"]
    assert attempt["attempt"] == 1 and attempt["duration"] >= 0 and attempt["start"] >= 0
    assert task_details(wf, wf.last_run, "store")["runs"][0]["inputs"] == {"transform_a": 6, "transform_b": 30}
    assert task_details(wf, wf.last_run, "ParallelGroup_1")["kind"] == "group"


def test_a_failed_task_shows_its_error():
    wf = diamond(fail=True)
    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="F")
    entry = task_details(wf, wf.last_run, "transform_a")["runs"][0]
    assert entry["status"] == "failed" and isinstance(entry["error"], ValueError)
    assert task_details(wf, wf.last_run, "store")["runs"] == []


def test_the_picker_beside_the_graph():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    inspector = TaskInspector(wf)
    assert "<svg" in inspector.picture.value
    assert inspector.picker.options == ("fetch", "transform_a", "transform_b", "store", "ParallelGroup_1")
    inspector.picker.value = "transform_a"
    html = inspector.details.value
    assert "4821_transform_a" in html and "fetch = <code>{&#x27;rows&#x27;: 3}</code>" in html and "result: <code>6</code>" in html
    assert inspector.select("store")["runs"][0]["result"] == 36


def test_closing_the_inspector_closes_every_part_and_lets_the_run_go():
    import gc
    import weakref

    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    inspector = TaskInspector(wf, pictures=False)
    inspector.select("transform_a")
    assert len(set(_instances) - before) >= 5  # the box, the picture, the picker, the details, their layouts
    run = weakref.ref(wf.last_run)
    wf.runs.clear()
    inspector.close()
    assert set(_instances) == before
    del inspector
    gc.collect()
    assert run() is None  # the picker's callback no longer reaches the inspector and its run
