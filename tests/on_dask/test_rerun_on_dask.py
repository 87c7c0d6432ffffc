"""``wf.rerun(from_=...)`` after a run WITHOUT a cache whose group ran on a real Dask
cluster: the branches journal on their workers, the journal comes home with each
branch's outcome, and a re-run takes every branch task ``from_`` does not force from
the last run (replayed on its worker), leaving the same outcome, merged channel,
session tree and task rows as the run before.

Task bodies count their calls with a file each in a folder (``calls``), so a call in
a worker process counts as one in this one; the file holds the process id."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

import pandas as pd
import pytest

from graflow_nb import task, workflow
from graflow_nb.core.errors import ParallelGroupError
from graflow_nb.core.task import TaskWrapper

from .call_files import called, calls

pytestmark = pytest.mark.slow


def pipeline(folder, client, switches):
    """fetch >> ((transform_a >> polish) | transform_b) >> store, the group on Dask.
    Both branches append to ``log`` (merged in declaration order); transform_b reads
    back the key it wrote itself; ``switches`` (a folder) steers a task by files."""
    with workflow(f"dask_rerun_{uuid.uuid4().hex[:6]}") as wf:
        @task(inject_context=True)
        def fetch(ctx):
            called(folder, "fetch")
            ctx.get_channel().set("fetched", True)
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            called(folder, "transform_a")
            channel = ctx.get_channel()
            channel.set("a_saw", fetch["rows"])
            channel.append("log", "a")
            channel.atomic_add("total", 10)
            return fetch["rows"] * 2

        @task(inject_context=True)
        def polish(ctx, transform_a):
            called(folder, "polish")
            ctx.get_channel().append("log", "polish")
            return transform_a + 0.5

        @task(inject_context=True)
        def transform_b(ctx, fetch):
            called(folder, "transform_b")
            if (switches / "fail_b").exists():
                deadline = time.monotonic() + 30  # transform_a's branch is done first
                while not any(p.name.startswith("polish-") for p in folder.iterdir()):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                time.sleep(0.3)
                raise ValueError("transform_b broke")
            channel = ctx.get_channel()
            channel.set("b_own", fetch["rows"] + 1)
            channel.append("log", "b")
            channel.atomic_add("total", 1)
            return channel.get("b_own") * 100 + (7 if (switches / "b_changed").exists() else 0)

        @task(inject_context=True)
        def store(ctx, polish, transform_b):
            called(folder, "store")
            return {"polished": polish, "b": transform_b, "total": ctx.get_channel().get("total")}

        group = (transform_a >> polish) | transform_b
        group.with_execution("dask", backend_config={"client": client})
        _ = fetch >> group >> store
    return wf


FULL = {"polished": 6.5, "b": 400, "total": 11}
ALL = ["fetch", "polish", "store", "transform_a", "transform_b"]


@pytest.fixture
def folders(tmp_path):
    counted, switches = tmp_path / "calls", tmp_path / "switches"
    counted.mkdir()
    switches.mkdir()
    return counted, switches


def tree(run):
    """The session tree without the workers' addresses (which worker ran a branch varies)."""
    return re.sub(r"\s+on tcp://\S+", "", run.session_tree())


def comparable_tasks(run):
    return run.frames.tasks().drop(columns=["start", "end", "duration", "thread", "cached", "reason"])


def states(run):
    return {session_id: record.state for session_id, record in run.sessions.items()}


def assert_same_run(rerun, before):
    assert rerun.status == before.status == "succeeded"
    assert rerun.result == before.result
    assert rerun.channel() == before.channel()
    assert list(rerun.channel()) == list(before.channel())
    assert tree(rerun) == tree(before)
    assert states(rerun) == states(before)
    assert rerun.execution_sequence() == before.execution_sequence()
    pd.testing.assert_frame_equal(comparable_tasks(rerun), comparable_tasks(before))


def test_rerun_from_after_the_group_takes_every_dask_branch_task_from_the_last_run(client, folders):
    counted, switches = folders
    wf = pipeline(counted, client, switches)
    assert wf.execute("fetch", session_id="S1") == FULL
    before = wf.last_run
    first = calls(counted)
    assert sorted(first) == ALL
    assert first["transform_b"][0] != os.getpid()  # the branches ran on workers
    assert wf.rerun(from_="store") == FULL
    assert calls(counted) == {"store": [os.getpid()]}
    rerun = wf.last_run
    assert [rerun.why(t) for t in ("fetch", "transform_a", "polish", "transform_b")] == ["taken from run S1"] * 4
    assert rerun.why("store") == "re-run asked for: wf.rerun(from_='store')"
    assert rerun.channel()["log"] == ["a", "polish", "b"]  # merged in declaration order, each append once
    assert rerun.channel()["total"] == 11 and rerun.channel()["b_own"] == 4
    tasks = rerun.frames.tasks().set_index("task_id")
    assert tasks.loc[["transform_a", "polish", "transform_b"], "cached"].tolist() == [True] * 3
    assert tasks.loc["transform_b", "reason"] == "taken from run S1"
    assert rerun.sessions["S1_transform_b"].worker is not None  # replayed on a worker, as it ran
    assert_same_run(rerun, before)


def test_rerun_from_a_task_inside_a_dask_branch_calls_it_and_what_follows_only(client, folders):
    counted, switches = folders
    wf = pipeline(counted, client, switches)
    wf.execute("fetch", session_id="S1")
    before = wf.last_run
    calls(counted)
    assert wf.rerun(from_="polish") == FULL
    ran = calls(counted)
    assert sorted(ran) == ["polish", "store"]
    assert ran["polish"][0] != os.getpid()  # called again on a worker
    rerun = wf.last_run
    assert rerun.why("transform_a") == rerun.why("transform_b") == "taken from run S1"
    assert rerun.why("polish") == "re-run asked for: wf.rerun(from_='polish')"
    assert rerun.channel()["log"] == ["a", "polish", "b"]
    assert_same_run(rerun, before)
    # a member: its branch's later task is called too, its sibling's taken
    (switches / "b_changed").touch()
    assert wf.rerun(from_="transform_b") == {**FULL, "b": 407}
    ran = calls(counted)
    assert sorted(ran) == ["store", "transform_b"]
    assert ran["transform_b"][0] != os.getpid()
    rerun = wf.last_run
    assert rerun.why("transform_a") == rerun.why("polish") == "taken from run S1"
    assert rerun.channel()["log"] == ["a", "polish", "b"] and rerun.channel()["total"] == 11


def test_a_dask_member_that_failed_in_the_last_run_is_called_again(client, folders):
    counted, switches = folders
    wf = pipeline(counted, client, switches)
    (switches / "fail_b").touch()
    with pytest.raises(ParallelGroupError, match="transform_b broke"):
        wf.execute("fetch", session_id="F1")
    assert wf.last_run.status == "failed"
    assert sorted(calls(counted)) == ["fetch", "polish", "transform_a", "transform_b"]
    (switches / "fail_b").unlink()  # the bug fixed
    assert wf.rerun(from_="store") == FULL
    assert sorted(calls(counted)) == ["store", "transform_b"]
    rerun = wf.last_run
    assert rerun.status == "succeeded"
    assert rerun.why("transform_b") == "called, not taken from run F1: it did not succeed there at this point"
    assert rerun.why("transform_a") == rerun.why("polish") == "taken from run F1"
    assert rerun.channel()["log"] == ["a", "polish", "b"] and rerun.channel()["total"] == 11


def test_a_rerun_of_a_dask_run_can_be_rerun_from_a_task_in_turn(client, folders):
    counted, switches = folders
    wf = pipeline(counted, client, switches)
    wf.execute("fetch", session_id="S1")
    before = wf.last_run
    wf.rerun(from_="store")
    calls(counted)
    assert wf.rerun(from_="transform_b") == FULL  # the tasks the first rerun took: taken from it
    assert sorted(calls(counted)) == ["store", "transform_b"]
    rerun = wf.last_run
    assert rerun.why("transform_a") == rerun.why("polish") == rerun.why("fetch") == "taken from run S1"
    assert_same_run(rerun, before)
    assert wf.rerun(from_="store") == FULL  # and again: what the second rerun called is taken now
    assert calls(counted) == {"store": [os.getpid()]}
    assert_same_run(wf.last_run, before)


def test_a_dask_branch_that_writes_keys_merges_as_before_beside_a_sibling_reading_its_own(client, folders):
    """transform_b reads back a key it wrote itself; transform_a's branch writes keys
    (set, append, atomic_add) that transform_b's branch writes too: taken from the last
    run, the branches merge in declaration order exactly as they did."""
    counted, switches = folders
    wf = pipeline(counted, client, switches)
    initial = {"total": 100, "log": ["start"]}
    wf.execute("fetch", session_id="M1", initial_channel=dict(initial, log=["start"]))
    before = wf.last_run
    assert before.channel()["log"] == ["start", "a", "polish", "b"] and before.channel()["total"] == 111
    calls(counted)
    assert wf.rerun(from_="store", initial_channel=dict(initial, log=["start"]))["total"] == 111
    assert calls(counted) == {"store": [os.getpid()]}
    rerun = wf.last_run
    assert rerun.channel()["b_own"] == 4 and rerun.result["b"] == 400  # its own write, read back as it was
    assert_same_run(rerun, before)


def test_a_value_a_branch_task_wrote_that_cant_come_home_gets_that_task_called_again(client, folders):
    """A lock set in the channel and overwritten by the same task: the branch's outcome
    comes home (the lock is not in it), its journal can't bring the lock, so a re-run
    calls that task again, saying why, and still takes its sibling."""
    counted, _ = folders
    with workflow(f"dask_rerun_{uuid.uuid4().hex[:6]}") as wf:
        @task(inject_context=True)
        def locked(ctx):
            called(counted, "locked")
            channel = ctx.get_channel()
            channel.set("scratch", threading.Lock())
            channel.set("scratch", "released")
            return "locked"

        @task(inject_context=True)
        def plain(ctx):
            called(counted, "plain")
            ctx.get_channel().set("plain_said", "hello")
            return "plain"

        @task
        def after(locked, plain):
            called(counted, "after")
            return f"{locked}+{plain}"

        group = (locked | plain).with_execution("dask", backend_config={"client": client})
        _ = group >> after

    assert wf.execute(session_id="U1") == "locked+plain"
    before = wf.last_run
    calls(counted)
    assert wf.rerun(from_="after") == "locked+plain"
    assert sorted(calls(counted)) == ["after", "locked"]
    rerun = wf.last_run
    assert rerun.why("locked") == ("called, not taken from run U1: channel key 'scratch' did not come back "
                                   "from its Dask worker")
    assert rerun.why("plain") == "taken from run U1"
    assert rerun.channel() == before.channel() and rerun.channel()["scratch"] == "released"
    assert tree(rerun) == tree(before)


def test_a_dask_member_that_queued_a_task_made_at_run_time_is_taken_with_it(client, folders):
    """next_task with a task made at run time, on a worker: its control call came home
    with the journal and goes back out with the share, so the made task runs where it
    ran, itself taken from the last run."""
    counted, _ = folders

    with workflow(f"dask_rerun_{uuid.uuid4().hex[:6]}") as wf:
        @task(inject_context=True)
        def spawn(ctx):
            called(counted, "spawn")
            channel = ctx.get_channel()
            channel.append("trail", "spawn")
            channel.delete("scratch")

            def extra():
                called(counted, "extra")
                return "made at run time"

            ctx.next_task(TaskWrapper("extra", extra, inject_context=False))
            return "spawned"

        @task(inject_context=True)
        def steer(ctx):
            called(counted, "steer")
            ctx.get_channel().set("steered", True)
            return 1

        @task
        def after():
            called(counted, "after")
            return "after"

        group = (spawn | steer).with_execution("dask", backend_config={"client": client})
        _ = group >> after

    wf.execute(session_id="D1", initial_channel={"scratch": "gone soon"})
    before = wf.last_run
    assert sorted(calls(counted)) == ["after", "extra", "spawn", "steer"]
    wf.rerun(from_="after")
    assert sorted(calls(counted)) == ["after"]
    rerun = wf.last_run
    assert rerun.why("spawn") == rerun.why("extra") == rerun.why("steer") == "taken from run D1"
    assert rerun.channel()["extra.__result__"] == "made at run time" and "scratch" not in rerun.channel()
    assert_same_run(rerun, before)


def test_a_maps_items_on_dask_are_taken_from_the_last_run(client, folders):
    counted, _ = folders
    with workflow(f"dask_rerun_{uuid.uuid4().hex[:6]}") as wf:
        @task
        def fetch():
            return ["a", "b", "c"]

        @task
        def summarize(doc):
            called(counted, "summarize")
            return doc.upper()

        @task
        def combine(summarize):
            called(counted, "combine")
            return "".join(summarize)

        node = summarize.map(over="fetch").with_execution("dask", backend_config={"client": client})
        _ = fetch >> node >> combine

    assert wf.execute("fetch", session_id="P1") == "ABC"
    before = wf.last_run
    assert len(calls(counted)["summarize"]) == 3
    assert wf.rerun(from_="combine") == "ABC"
    assert calls(counted) == {"combine": [os.getpid()]}
    rerun = wf.last_run
    assert [rerun.why(f"summarize[{i}]") for i in range(3)] == ["taken from run P1"] * 3
    assert_same_run(rerun, before)
