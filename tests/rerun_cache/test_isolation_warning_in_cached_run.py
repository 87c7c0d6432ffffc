"""In a run with a cache a task reads the channel through the cache's recording
channel: a value that can't be isolated must still be reported at the task's line."""

from __future__ import annotations

import threading
import uuid
import warnings

from graflow_nb import IsolationWarning, task, workflow


def test_an_isolation_warning_points_at_the_task_that_read_the_value_in_a_cached_run():
    with workflow(f"warn_{uuid.uuid4().hex[:6]}") as wf:
        @task
        def source():
            return 1

        @task(inject_context=True)
        def reader(ctx, source):
            return ctx.get_channel().get("holder")["rows"]

        @task
        def other(source):
            return 2

        _ = source >> (reader | other)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wf.execute("source", initial_channel={"holder": {"lock": threading.Lock(), "rows": [1]}}, cache=True)
    told = [w for w in caught if issubclass(w.category, IsolationWarning)]
    assert len(told) == 1
    assert told[0].filename == __file__
    assert "channel key 'holder'" in str(told[0].message)
