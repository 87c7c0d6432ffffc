"""A map in the pictures (issue 31): one folded node that counts items done while the
run goes ("items done 40/60"), every item drawn when expanded, and the session tree
folding its branch sessions."""

from __future__ import annotations

import threading

from instruments import WAIT, wait_until

from graflow_nb import task, workflow
from graflow_nb.observe.dot import graph_dot, session_tree_dot


def doc_map(name, n, gate=None):
    with workflow(name) as wf:

        @task
        def fetch():
            return list(range(n))

        @task
        def summarize(i):
            if gate is not None and i >= 40:
                gate.wait(WAIT)
            return i

        @task
        def combine(summarize):
            return len(summarize)

        fetch >> summarize.map(over="fetch").with_execution(max_concurrency=4) >> combine
    return wf


def test_a_running_map_is_one_node_counting_items_done():
    gate = threading.Event()
    wf = doc_map("live-map", 60, gate)
    runner = threading.Thread(target=wf.execute, args=("fetch",), kwargs={"session_id": "S"})
    runner.start()
    try:
        wait_until(lambda: wf.last_run is not None and sum(
            1 for tr in wf.last_run.task_runs if tr.task_id.startswith("summarize[") and tr.status == "succeeded") == 40, "40 items done")
        source = graph_dot(wf.graph, wf.last_run).source
        assert "items done 40/60" in source
        assert "summarize[3]" not in source  # folded: no node per item
    finally:
        gate.set()
        runner.join(WAIT)
    source = graph_dot(wf.graph, wf.last_run).source
    assert "items done 60/60\\n60 succeeded" in source
    assert "expand=['summarize']" in source


def test_an_expanded_map_draws_each_item_in_its_session():
    wf = doc_map("open-map", 3)
    assert "map over 'fetch'" in graph_dot(wf.graph).source  # before any run: what it maps over
    wf.execute("fetch", session_id="S")
    source = graph_dot(wf.graph, wf.last_run, expand=["summarize"]).source
    for i in range(3):
        assert f'"summarize/fork" -> "summarize[{i}]"' in source
        assert f'"summarize[{i}]" -> "summarize/join"' in source
        assert f'cluster_S_summarize[{i}]' in source
    assert "items done" not in source


def test_the_session_tree_folds_a_wide_maps_branch_sessions():
    wf = doc_map("tree-map", 60)
    wf.execute("fetch", session_id="S")
    source = session_tree_dot(wf.last_run).source
    assert "60 branch sessions\\nof summarize\\n60 merged" in source


def test_hostile_item_keys_draw_and_render():
    keys = ['a]b[c', "quote's \"q\"", "new\nline", "<b>&amp;", "back\\slash"]
    with workflow("hostile-map") as wf:

        @task
        def fetch():
            return {k: i for i, k in enumerate(keys)}

        @task
        def summarize(i):
            return i

        fetch >> summarize.map()
    wf.execute("fetch", session_id="S")
    for drawing in (graph_dot(wf.graph, wf.last_run, expand=["summarize"]), session_tree_dot(wf.last_run)):
        svg = drawing.pipe(format="svg").decode()
        assert svg.count("<g id=\"node") >= len(keys)
    svg = graph_dot(wf.graph, wf.last_run, expand=["summarize"]).pipe(format="svg").decode()
    assert "summarize[a]b[c]" in svg and "summarize[back\\slash]" in svg
