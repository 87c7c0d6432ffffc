"""A map's items on a real two-process Dask cluster (issue 31): each item's branch
session is one future, carrying its own item; results come back in item order, as
on threads."""

from __future__ import annotations

import os

import pytest

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.distributed.executor import Shipped


def doc_map(name, docs, backend, *, key=None, policy=None):
    with workflow(name) as wf:

        @task
        def fetch():
            return docs

        @task
        def summarize(doc):
            if doc == "bad":
                raise ValueError("unreadable")
            return (doc.upper(), os.getpid())

        @task
        def combine(summarize):
            return summarize

        node = summarize.map(over="fetch", key=key)
        if backend is not None:
            node.with_execution(**backend)
        if policy is not None:
            node.with_execution(**(backend or {}), policy=policy)
        fetch >> node >> combine
    return wf


def test_items_run_on_workers_and_come_back_in_order(client):
    docs = [f"doc{i}" for i in range(12)]
    wf = doc_map("map-dask", docs, {"backend": "dask", "backend_config": {"client": client}})
    result = wf.execute("fetch", session_id="S")
    assert [r[0] for r in result] == [d.upper() for d in docs]
    assert {pid for _, pid in result} - {os.getpid()}  # they ran in worker processes
    run = wf.last_run
    ids = [s for s, rec in run.sessions.items() if rec.group_id == "summarize"]
    assert ids == [f"S_summarize[{i}]" for i in range(12)]
    assert all(run.sessions[s].worker for s in ids)
    assert run.sessions["S_summarize[4]"].tasks_run == ["summarize[4]"]
    assert run.root_context.channel.get("summarize[4].__result__")[0] == "DOC4"


def test_a_keyed_map_with_a_failing_item_on_dask(client):
    docs = {"a": "x", "b": "bad", "c": "z"}
    backend = {"backend": "dask", "backend_config": {"client": client}}
    wf = doc_map("map-dask-keyed", docs, backend)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("fetch", session_id="S")
    assert [t for t, _ in caught.value.failed_tasks] == ["summarize[b]"]
    assert "unreadable" in str(caught.value.errors["summarize[b]"])
    wf = doc_map("map-dask-best", docs, backend, policy="best_effort")
    result = wf.execute("fetch", session_id="S")
    assert {k: v[0] for k, v in result.items()} == {"a": "X", "c": "Z"}



def test_each_item_travels_alone_and_the_whole_list_stays_home(client):
    docs = ["x" * 20_000 + str(i) for i in range(100)]  # 2 MB in all
    with workflow("map-dask-ship") as wf:

        @task
        def fetch():
            return docs

        @task(inject_context=True)
        def summarize(ctx, doc):
            channel = ctx.get_channel()
            return len(doc), channel.get("fetch.__result__") is None, channel.get("setting")

        fetch >> summarize.map(over="fetch").with_execution(backend="dask", backend_config={"client": client})
    before = Shipped.view_bytes
    result = wf.execute("fetch", session_id="S", initial_channel={"setting": "on"})
    assert result == [(20_001 if i < 10 else 20_002, True, "on") for i in range(100)]
    assert Shipped.view_bytes - before < 50_000  # the parent's view went without the 2 MB list
