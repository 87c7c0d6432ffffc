"""``execute(cache=True)`` with groups on a real Dask cluster: each branch plans,
replays and keeps its tasks on its worker, with the entries its group carries there,
and what it kept comes back to the run's store.

Task bodies count their calls with a file each in a folder (``calls``), so a call in
a worker process counts as one in this one; the file holds the process id."""

from __future__ import annotations

import os
import re
import uuid

import pandas as pd
import pytest

from graflow_nb import task, workflow
from graflow_nb.core.cache_files import DiskStore
from graflow_nb.core.task import TaskWrapper

from .call_files import called, calls

pytestmark = pytest.mark.slow


def diamond(name, folder, client=None, b_extra=0, fetch_rows=3):
    """fetch >> (transform_a | transform_b) >> store, the group on ``client``'s cluster
    (None: the run's executor decides); defined anew on each call, as a cell run again."""
    with workflow(name) as wf:
        @task
        def fetch():
            called(folder, "fetch")
            return {"rows": fetch_rows}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            called(folder, "transform_a")
            ctx.get_channel().set("a_saw", fetch["rows"])
            ctx.get_channel().append("log", "a")
            return fetch["rows"] * 2

        @task
        def transform_b(fetch):
            called(folder, "transform_b")
            return fetch["rows"] + 1 + b_extra

        @task
        def store(transform_a, transform_b):
            called(folder, "store")
            return transform_a + transform_b

        group = transform_a | transform_b
        if client is not None:
            group.with_execution("dask", backend_config={"client": client})
        _ = fetch >> group >> store
    return wf


ALL = ["fetch", "store", "transform_a", "transform_b"]


def tree(run):
    """The session tree without the workers' addresses (which worker ran a branch varies)."""
    return re.sub(r"\s+on tcp://\S+", "", run.session_tree())


def comparable_tasks(run):
    return run.frames.tasks().drop(columns=["start", "end", "duration", "thread", "cached", "reason"])


def comparable_sessions(run):
    return run.frames.sessions().drop(columns=["start", "end", "duration", "ran", "worker"], errors="ignore")


def test_a_second_cached_run_calls_no_task_on_any_worker(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    assert diamond(name, tmp_path, client).execute("fetch", session_id="S", cache=True) == 10
    first = calls(tmp_path)
    assert sorted(first) == ALL
    assert first["transform_a"][0] != os.getpid() and first["transform_b"][0] != os.getpid()  # on workers
    wf = diamond(name, tmp_path, client)  # the cell run again: a new workflow object, its tasks redefined
    assert wf.execute("fetch", session_id="S", cache=True) == 10
    assert calls(tmp_path) == {}
    run = wf.last_run
    assert [run.why(t) for t in ALL] == ["cached from run S"] * 4
    tasks = run.frames.tasks().set_index("task_id")
    assert tasks.loc[ALL, "cached"].tolist() == [True] * 4
    assert tasks.loc["transform_a", "reason"] == "cached from run S"
    assert run.sessions["S_transform_a"].worker is not None  # the replay happened on a worker


def test_a_fully_replayed_dask_run_matches_the_run_that_called_every_task(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    wf = diamond(name, tmp_path, client)
    assert wf.execute("fetch", session_id="S", cache=True) == 10
    ran = wf.last_run
    assert sorted(calls(tmp_path)) == ALL
    wf = diamond(name, tmp_path, client)
    assert wf.execute("fetch", session_id="S", cache=True) == 10
    replayed = wf.last_run
    assert calls(tmp_path) == {}
    assert replayed.status == ran.status == "succeeded"
    assert replayed.channel() == ran.channel()
    assert replayed.channel()["a_saw"] == 3 and replayed.channel()["log"] == ["a"]
    assert tree(replayed) == tree(ran)
    assert replayed.execution_sequence() == ran.execution_sequence()
    pd.testing.assert_frame_equal(comparable_tasks(replayed), comparable_tasks(ran))
    pd.testing.assert_frame_equal(comparable_sessions(replayed), comparable_sessions(ran))
    assert ran.why("transform_a") == "nothing cached for transform_a yet"


def test_editing_one_member_reruns_it_on_a_worker_and_replays_the_others(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    diamond(name, tmp_path, client).execute("fetch", session_id="S1", cache=True)
    calls(tmp_path)
    wf = diamond(name, tmp_path, client, b_extra=10)  # transform_b's body redefined
    assert wf.execute("fetch", session_id="S2", cache=True) == 20
    ran = calls(tmp_path)
    assert sorted(ran) == ["store", "transform_b"]
    assert ran["transform_b"][0] != os.getpid()  # called on a worker
    run = wf.last_run
    assert run.why("transform_b") == "code of transform_b changed: closure value `b_extra`"
    assert run.why("transform_a") == "cached from run S1"
    assert run.why("fetch") == "cached from run S1"
    assert run.why("store") == "upstream `transform_b` re-ran and its result differs"
    assert run.channel()["log"] == ["a"]  # the replayed member's append, once
    # and the entry the worker kept came back: the next run calls nothing
    wf = diamond(name, tmp_path, client, b_extra=10)
    assert wf.execute("fetch", session_id="S3", cache=True) == 20
    assert calls(tmp_path) == {}
    assert wf.last_run.why("transform_b") == "cached from run S2"


def test_an_upstream_that_changed_reruns_the_members_that_read_it(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    diamond(name, tmp_path, client).execute("fetch", session_id="S1", cache=True)
    calls(tmp_path)
    wf = diamond(name, tmp_path, client, fetch_rows=4)
    assert wf.execute("fetch", session_id="S2", cache=True) == 13
    assert sorted(calls(tmp_path)) == ALL
    run = wf.last_run
    assert run.why("transform_a") == "upstream `fetch` re-ran and its result differs"
    assert run.why("transform_b") == "upstream `fetch` re-ran and its result differs"
    assert run.channel()["a_saw"] == 4


def test_the_runs_executor_caches_its_branches_too(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    assert diamond(name, tmp_path).execute("fetch", session_id="S", cache=True, executor=client) == 10
    assert sorted(calls(tmp_path)) == ALL
    wf = diamond(name, tmp_path)
    assert wf.execute("fetch", session_id="S", cache=True, executor=client) == 10
    assert calls(tmp_path) == {}
    assert wf.last_run.sessions["S_transform_b"].worker is not None
    assert wf.last_run.why("transform_b") == "cached from run S"


def test_entries_made_on_workers_land_in_a_folder_cache(client, tmp_path):
    folder, counted = tmp_path / "cache", tmp_path / "calls"
    counted.mkdir()
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    diamond(name, counted, client).execute("fetch", session_id="S", cache=folder)
    assert sorted(calls(counted)) == ALL
    assert len(list(folder.glob("*.entry"))) == 4  # the members' entries too
    fresh = DiskStore(folder)  # as a new kernel loads the folder
    assert sorted(fresh.task_ids()) == ALL
    wf = diamond(name, counted, client)
    assert wf.execute("fetch", session_id="S", cache=fresh) == 10
    assert calls(counted) == {}
    assert wf.last_run.why("transform_a") == "cached from run S"


def test_a_member_that_writes_and_queues_a_task_at_run_time_replays_exactly(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"

    def build():
        with workflow(name) as wf:
            @task
            def start():
                return 1

            @task(inject_context=True)
            def spawn(ctx, start):
                called(tmp_path, "spawn")
                channel = ctx.get_channel()
                channel.set("seen", start)
                channel.append("trail", "spawn")
                channel.atomic_add("total", 5)
                channel.delete("scratch")

                def extra():
                    called(tmp_path, "extra")
                    return "made at run time"

                ctx.next_task(TaskWrapper("extra", extra, inject_context=False))
                return "spawned"

            @task(inject_context=True)
            def steer(ctx, start):
                called(tmp_path, "steer")
                ctx.get_channel().set("steered", True)
                return start + 1

            @task
            def after():
                return "after"

            group = (spawn | steer).with_execution("dask", backend_config={"client": client})
            _ = start >> group >> after
        return wf

    channel = {"scratch": "gone soon", "total": 1}
    wf = build()
    wf.execute("start", session_id="S", cache=True, initial_channel=dict(channel))
    ran = wf.last_run
    assert sorted(calls(tmp_path)) == ["extra", "spawn", "steer"]
    wf = build()
    wf.execute("start", session_id="S", cache=True, initial_channel=dict(channel))
    replayed = wf.last_run
    assert calls(tmp_path) == {}
    assert replayed.why("spawn") == replayed.why("extra") == replayed.why("steer") == "cached from run S"
    assert replayed.channel() == ran.channel()
    assert replayed.channel()["total"] == 6 and "scratch" not in replayed.channel()
    assert replayed.channel()["extra.__result__"] == "made at run time"
    assert tree(replayed) == tree(ran)
    assert replayed.execution_sequence() == ran.execution_sequence()
    pd.testing.assert_frame_equal(comparable_tasks(replayed), comparable_tasks(ran))


def test_rerun_from_a_member_forces_it_on_its_worker_and_replays_its_sibling(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    wf = diamond(name, tmp_path, client)
    wf.execute("fetch", session_id="S1", cache=True)
    calls(tmp_path)
    assert wf.rerun(from_="transform_b") == 10
    ran = calls(tmp_path)
    assert sorted(ran) == ["store", "transform_b"]
    assert ran["transform_b"][0] != os.getpid()
    run = wf.last_run
    assert run.why("transform_b") == "re-run asked for: wf.rerun(from_='transform_b')"
    assert run.why("transform_a") == "cached from run S1"


def test_rerun_after_a_dask_run_without_a_cache_takes_the_members_from_it(client, tmp_path):
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"
    wf = diamond(name, tmp_path, client)
    wf.execute("fetch", session_id="S1")
    full = wf.last_run
    calls(tmp_path)
    assert wf.rerun(from_="store") == 10
    assert sorted(calls(tmp_path)) == ["store"]  # what they did came home with their outcomes
    run = wf.last_run
    assert run.why("fetch") == run.why("transform_a") == "taken from run S1"
    assert run.channel() == full.channel()
    assert tree(run) == tree(full)


def test_members_made_by_one_factory_keep_their_entries_when_their_group_moves_to_dask(client, tmp_path):
    """Members of one code object, each closing over its own helper: the worker keys
    each by the sources it was sent, as a thread would."""
    name = f"dask_cache_{uuid.uuid4().hex[:6]}"

    def double(x):
        return x * 2

    def square(x):
        return x * x

    def build(on_dask):
        with workflow(name) as wf:
            @task
            def start():
                return 3

            def member(helper):
                @task(f"m_{helper.__name__}")
                def use(start):
                    called(tmp_path, f"m_{helper.__name__}")
                    return helper(start)
                return use

            group = member(double) | member(square)
            if on_dask:
                group.with_execution("dask", backend_config={"client": client})
            _ = start >> group
        return wf

    build(False).execute("start", session_id="T", cache=True)
    assert sorted(calls(tmp_path)) == ["m_double", "m_square"]
    wf = build(True)
    wf.execute("start", session_id="D", cache=True)
    assert calls(tmp_path) == {}
    run = wf.last_run
    assert run.why("m_double") == run.why("m_square") == "cached from run T"
    assert run.channel()["m_square.__result__"] == 9 and run.sessions["D_m_square"].worker is not None
