"""A failed map resumed from its checkpoint runs again only the items that did not
succeed (issue 31); the items' results and branch sessions are those of one run."""

from __future__ import annotations

import glob
import threading
from collections import Counter

import pytest

from graflow_nb import ParallelGroupError, task, workflow


def flaky_map(name, broken, calls, keyed=False):
    lock = threading.Lock()
    with workflow(name) as wf:

        @task
        def fetch():
            return {f"k{i}": i for i in range(8)} if keyed else list(range(8))

        @task
        def summarize(n):
            with lock:
                calls[n] += 1
            if n in broken:
                raise RuntimeError(f"item {n} broke")
            return n * 10

        @task
        def combine(summarize):
            return summarize

        fetch >> summarize.map(over="fetch").with_execution(max_concurrency=2) >> combine
    return wf


@pytest.mark.parametrize("keyed", [False, True])
def test_resume_after_a_failure_runs_only_the_failed_items(tmp_path, keyed):
    calls: Counter = Counter()
    broken = {2, 5}
    wf = flaky_map(f"map-resume-{keyed}", broken, calls, keyed)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("fetch", session_id="S", checkpoint_dir=tmp_path)
    label = (lambda i: f"k{i}") if keyed else str
    assert [t for t, _ in caught.value.failed_tasks] == [f"summarize[{label(2)}]", f"summarize[{label(5)}]"]
    assert calls == Counter(dict.fromkeys(range(8), 1))
    (path,) = glob.glob(f"{tmp_path}/*.pkl")
    broken.clear()  # the fix
    result = wf.resume(path)
    expected = {f"k{i}": i * 10 for i in range(8)} if keyed else [i * 10 for i in range(8)]
    assert result == expected
    assert calls == Counter({0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1})
    run = wf.last_run
    ids = [s for s, rec in run.sessions.items() if rec.group_id == "summarize"]
    assert ids == [f"S_summarize[{label(i)}]" for i in range(8)]
    assert all(run.sessions[s].state == "merged" for s in ids)


def test_an_item_waiting_for_input_resumes_from_its_checkpoint_file(tmp_path):
    calls: Counter = Counter()
    lock = threading.Lock()
    with workflow("map-ask-file") as wf:

        @task
        def fetch():
            return ["a", "b", "c"]

        @task(inject_context=True)
        def review(ctx, doc):
            with lock:
                calls[doc] += 1
            if doc == "b":
                return ctx.request_text_input(f"note for {doc}?")
            return doc.upper()

        fetch >> review.map(over="fetch")
    paused = wf.execute("fetch", session_id="S", checkpoint_dir=tmp_path)
    assert [q.session_id for q in paused.pending] == ["S_review[1]"]
    (path,) = glob.glob(f"{tmp_path}/*.pkl")
    assert wf.resume(path, answers={paused.pending[0].key: "fine"}) == ["A", "fine", "C"]
    assert calls == {"a": 1, "b": 2, "c": 1}


def test_a_failed_map_of_maps_resumes_only_the_failed_inner_item(tmp_path):
    calls: Counter = Counter()
    broken = {3}
    lock = threading.Lock()
    with workflow("map-of-maps-resume") as wf:

        @task
        def matrix():
            return [[1, 2], [3, 4]]

        @task
        def cell(v):
            with lock:
                calls[v] += 1
            if v in broken:
                raise ValueError(f"cell {v} broke")
            return v * 10

        matrix >> cell.map().map(over="matrix")
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("matrix", session_id="S", checkpoint_dir=tmp_path)
    assert [t for t, _ in caught.value.failed_tasks] == ["cell[1]"]
    assert [t for t, _ in caught.value.errors["cell[1]"].failed_tasks] == ["cell[1][0]"]
    (path,) = glob.glob(f"{tmp_path}/*.pkl")
    broken.clear()
    assert wf.resume(path) == [[10, 20], [30, 40]]
    assert calls == {1: 1, 2: 1, 3: 2, 4: 1}
    assert wf.last_run.sessions["S_cell[1]_cell[1][0]"].state == "merged"
