"""``wf.rerun(from_=...)`` after a run without a cache: notebook cells in a real IPython
shell define the workflow and its helpers, a later cell redefines a helper, and the
re-run calls ``from_`` and what follows it while the tasks before it are taken from
the last run as they ran (their results, channel changes and control calls), which
must leave the same outcome, channel and session tree as a full run."""

from __future__ import annotations

import pandas as pd
import pytest

from graflow_nb.core.errors import ConfigError

HELPERS = """
def clean(x):
    return x + 1
"""

PIPELINE = """
with workflow(NAME) as wf:
    @task(inject_context=True)
    def fetch(ctx, region):
        ran.RUNS["fetch"] += 1
        ctx.get_channel().set("fetched_rows", len(region))
        ctx.get_channel().append("trail", "fetch")
        return [r * 2 for r in region]

    @task(inject_context=True)
    def transform_a(ctx, fetch):
        ran.RUNS["transform_a"] += 1
        ctx.get_channel().append("trail", "a")
        return [clean(x) for x in fetch]

    @task(inject_context=True)
    def transform_b(ctx, fetch):
        ran.RUNS["transform_b"] += 1
        ctx.get_channel().atomic_add("b_calls", 1)
        return sum(fetch)

    @task
    def store(transform_a, transform_b):
        ran.RUNS["store"] += 1
        return {"a": transform_a, "b": transform_b}

    _ = fetch >> (transform_a | transform_b) >> store
"""

ALL = {"fetch": 1, "transform_a": 1, "transform_b": 1, "store": 1}


def plain_run(nb, session_id="S1"):
    nb.ns["_sid"] = session_id
    return nb("wf.execute(initial_channel={'region': [1, 2, 3]}, session_id=_sid)")


def comparable_tasks(run_record):
    return run_record.frames.tasks().drop(columns=["start", "end", "duration", "thread", "cached", "reason"])


def comparable_sessions(run_record):
    return run_record.frames.sessions().drop(columns=["start", "end", "duration", "ran"])


def assert_same_run(rerun, full):
    assert rerun.status == full.status == "succeeded"
    assert rerun.result == full.result
    assert rerun.channel() == full.channel()
    assert rerun.session_tree() == full.session_tree()
    assert rerun.execution_sequence() == full.execution_sequence()
    pd.testing.assert_frame_equal(comparable_tasks(rerun), comparable_tasks(full))
    pd.testing.assert_frame_equal(comparable_sessions(rerun), comparable_sessions(full))


def full_run_for_comparison(nb, runs):
    """A plain run of the workflow as it is now, every task called."""
    plain_run(nb)
    full = nb.ns["wf"].last_run
    runs.clear()
    return full


def test_rerun_from_a_task_after_a_plain_run_calls_it_and_what_follows_only(nb, runs):
    nb(HELPERS)
    nb(PIPELINE)
    assert plain_run(nb) == {"a": [3, 5, 7], "b": 12}
    assert runs == ALL
    runs.clear()
    nb("def clean(x):\n    return x * 10\n")  # the helper transform_a calls, edited in its cell
    assert nb("wf.rerun(from_='transform_a')") == {"a": [20, 40, 60], "b": 12}
    assert runs == {"transform_a": 1, "store": 1}
    rerun = nb.ns["wf"].last_run
    assert rerun.why("fetch") == rerun.why("transform_b") == "taken from run S1"
    assert rerun.why("transform_a") == rerun.why("store") == "re-run asked for: wf.rerun(from_='transform_a')"
    assert rerun.channel()["trail"] == ["fetch", "a"]  # fetch's append replayed once, a's made again
    assert rerun.channel()["b_calls"] == 1 and rerun.channel()["fetched_rows"] == 3
    tasks = rerun.frames.tasks().set_index("task_id")
    assert tasks.loc["fetch", "cached"] and not tasks.loc["transform_a", "cached"]
    assert tasks.loc["transform_b", "reason"] == "taken from run S1"
    full = full_run_for_comparison(nb, runs)
    assert_same_run(rerun, full)


def test_rerun_from_a_member_of_a_parallel_group_takes_its_sibling_from_the_last_run(nb, runs):
    nb(HELPERS)
    nb(PIPELINE)
    plain_run(nb)
    runs.clear()
    assert nb("wf.rerun(from_='transform_b')") == {"a": [3, 5, 7], "b": 12}
    assert runs == {"transform_b": 1, "store": 1}
    rerun = nb.ns["wf"].last_run
    assert rerun.why("transform_a") == "taken from run S1"  # the sibling branch, replayed in its session
    assert rerun.sessions["S1_transform_a"].state == "merged"
    full = full_run_for_comparison(nb, runs)
    assert_same_run(rerun, full)


ROUTED = """
MODE = "left"

with workflow(NAME) as wf:
    @task(inject_context=True)
    def route(ctx):
        ran.RUNS["route"] += 1
        ctx.get_channel().set("mode", MODE)
        ctx.next_task(left if MODE == "left" else right, goto=True)

    @task
    def usual():
        ran.RUNS["usual"] += 1
        return "usual"

    @task(inject_context=True)
    def left(ctx):
        ran.RUNS["left"] += 1

        def side():
            ran.RUNS["side"] += 1
            return "side"

        ctx.next_task(TaskWrapper("side", side))  # a task made at run time
        return "L"

    @task
    def right():
        ran.RUNS["right"] += 1
        return "R"

    @task
    def finish(mode):
        ran.RUNS["finish"] += 1
        return f"finished {mode} " + suffix()

    _ = route >> usual
    _ = left >> finish
    _ = right >> finish
"""


def test_rerun_after_a_goto_takes_the_decision_as_it_was_made(nb, runs):
    nb("from graflow_nb.core.task import TaskWrapper\ndef suffix():\n    return 'once'\n")
    nb(ROUTED)
    nb.ns["_sid"] = "R1"
    assert nb("wf.execute('route', session_id=_sid)") == "finished left once"
    assert runs == {"route": 1, "left": 1, "side": 1, "finish": 1}
    runs.clear()
    nb("MODE = 'right'\ndef suffix():\n    return 'twice'\n")  # route would now go right
    assert nb("wf.rerun(from_='finish')") == "finished left twice"
    assert runs == {"finish": 1}  # route's goto to left, left's run-time task: as they were
    rerun = nb.ns["wf"].last_run
    assert rerun.why("route") == rerun.why("left") == rerun.why("side") == "taken from run R1"
    assert "usual" not in rerun.execution_sequence()
    assert rerun.channel()["mode"] == "left"
    nb("MODE = 'left'")
    nb.ns["_sid"] = "R1"
    nb("wf.execute('route', session_id=_sid)")
    assert_same_run(rerun, nb.ns["wf"].last_run)


FAILING = """
def clean(x):
    raise ValueError(f"bad row {x}")

with workflow(NAME) as wf:
    @task(inject_context=True)
    def fetch(ctx):
        ran.RUNS["fetch"] += 1
        ctx.get_channel().set("loaded", True)
        return [1, 2]

    @task
    def transform(fetch):
        ran.RUNS["transform"] += 1
        return [clean(x) for x in fetch]

    @task
    def store(transform, loaded):
        ran.RUNS["store"] += 1
        return {"rows": transform, "loaded": loaded}

    _ = fetch >> transform >> store
"""


def test_rerun_after_a_failed_run_goes_on_from_the_task_that_failed(nb, runs):
    nb(FAILING)
    with pytest.raises(ValueError, match="bad row 1"):
        nb("wf.execute(session_id='F1')")
    assert nb("wf.last_run.status") == "failed"
    assert runs == {"fetch": 1, "transform": 1}
    runs.clear()
    nb("def clean(x):\n    return x + 100\n")  # the bug fixed in its cell
    assert nb("wf.rerun(from_='transform')") == {"rows": [101, 102], "loaded": True}
    assert runs == {"transform": 1, "store": 1}
    rerun = nb.ns["wf"].last_run
    assert rerun.status == "succeeded"
    assert rerun.why("fetch") == "taken from run F1"


def test_rerun_from_after_the_task_that_failed_calls_that_task_too(nb, runs):
    nb(FAILING)
    with pytest.raises(ValueError):
        nb("wf.execute(session_id='F1')")
    runs.clear()
    nb("def clean(x):\n    return -x\n")
    assert nb("wf.rerun(from_='store')") == {"rows": [-1, -2], "loaded": True}
    assert runs == {"transform": 1, "store": 1}
    rerun = nb.ns["wf"].last_run
    assert rerun.why("transform") == "called, not taken from run F1: it did not succeed there at this point"
    assert rerun.why("fetch") == "taken from run F1"


def test_a_rerun_can_be_rerun_from_a_task_in_turn(nb, runs):
    nb(HELPERS)
    nb(PIPELINE)
    plain_run(nb)
    nb("wf.rerun(from_='store')")
    runs.clear()
    nb("wf.rerun(from_='transform_a')")  # the tasks the first rerun replayed: taken from it
    assert runs == {"transform_a": 1, "store": 1}
    rerun = nb.ns["wf"].last_run
    assert rerun.why("fetch") == "taken from run S1"
    assert rerun.channel()["trail"] == ["fetch", "a"] and rerun.channel()["b_calls"] == 1
    full = full_run_for_comparison(nb, runs)
    assert_same_run(rerun, full)


def test_a_rerun_without_a_cache_refuses_inputs_the_tasks_before_it_never_saw(nb, runs):
    nb(HELPERS)
    nb(PIPELINE)
    plain_run(nb)
    runs.clear()
    with pytest.raises(ConfigError, match=r"initial_channel=.*run 'S1' had no cache.*taken as they ran"):
        nb("wf.rerun(from_='store', initial_channel={'region': [9]})")
    assert runs == {}
    # the same inputs again, or settings that change no input, are fine
    nb("wf.rerun(from_='store', initial_channel={'region': [1, 2, 3]}, max_workers=2)")
    assert runs == {"store": 1}


def test_a_task_that_asked_for_input_is_asked_again(nb, runs):
    nb("""
    with workflow(NAME) as wf:
        @task(inject_context=True)
        def ask(ctx):
            ran.RUNS["ask"] += 1
            return ctx.request_text_input("name?", timeout=0.01, default="anon")

        @task
        def greet(ask):
            ran.RUNS["greet"] += 1
            return f"hi {ask}"

        _ = ask >> greet
    """)
    assert nb("wf.execute(session_id='Q1')") == "hi anon"
    runs.clear()
    assert nb("wf.rerun(from_='greet')") == "hi anon"
    assert runs == {"ask": 1, "greet": 1}
    assert nb("wf.last_run.why('ask')") == "called, not taken from run Q1: it asked for human input"


def test_a_run_without_a_cache_journals_only_what_tasks_do_through_their_context(nb, runs):
    nb("""
    with workflow(NAME) as wf:
        @task
        def bare():
            return 1

        @task
        def reads(bare):
            return bare + 1

        @task(inject_context=True)
        def looks(ctx, reads):
            return ctx.get_channel().get("reads.__result__")

        _ = bare >> reads >> looks
    """)
    nb("wf.execute(session_id='J1')")
    assert nb("wf.last_run.journal") == {}  # results live in the task records; nothing else was done


LOOPING = """
with workflow(NAME) as wf:
    @task(inject_context=True, max_cycles=5)
    def count(ctx):
        ran.RUNS["count"] += 1
        total = ctx.get_channel().atomic_add("total", 1)
        ctx.get_channel().append("seen", total)
        if total < 3:
            ctx.next_iteration()

    @task(inject_context=True, timeout=5)
    def slow(ctx):
        ran.RUNS["slow"] += 1
        ctx.get_channel().set("slow_said", "in time")
        return "slow"

    @task(inject_context=True)
    async def fetch_async(ctx):
        ran.RUNS["fetch_async"] += 1
        ctx.get_channel().set("fetched", [1, 2])
        return 3

    @task
    def report(total, seen, slow_said, fetched):
        ran.RUNS["report"] += 1
        return f"{total} {seen} {slow_said} {fetched} " + tail()

    _ = count >> slow >> fetch_async >> report
"""


def test_a_loop_a_timed_task_and_an_async_task_before_from_are_taken_as_they_ran(nb, runs):
    nb("def tail():\n    return 'v1'\n")
    nb(LOOPING)
    assert nb("wf.execute('count', session_id='L1')") == "3 [1, 2, 3] in time [1, 2] v1"
    assert runs == {"count": 3, "slow": 1, "fetch_async": 1, "report": 1}
    runs.clear()
    nb("def tail():\n    return 'v2'\n")
    assert nb("wf.rerun(from_='report')") == "3 [1, 2, 3] in time [1, 2] v2"
    assert runs == {"report": 1}
    rerun = nb.ns["wf"].last_run
    assert [rerun.why(t) for t in ("count", "slow", "fetch_async")] == ["taken from run L1"] * 3
    assert len([t for t in rerun.execution_sequence() if t.startswith("count")]) == 3  # its iterations, replayed
    nb.ns["_sid"] = "L1"
    nb("wf.execute('count', session_id=_sid)")
    assert_same_run(rerun, nb.ns["wf"].last_run)


def test_only_the_last_run_keeps_what_its_tasks_set_so_earlier_values_are_freed():
    import gc
    import weakref

    from graflow_nb import task, workflow

    class Big:
        pass

    made: list[weakref.ref] = []
    with workflow("journal_kept") as wf:

        @task(inject_context=True)
        def first(ctx):
            big = Big()
            made.append(weakref.ref(big))
            ctx.get_channel().set("big", big)  # overwritten next: only the journal holds it
            ctx.get_channel().set("big", "small")

        @task
        def second():
            return "done"

        _ = first >> second

    for run_id in ("J1", "J2", "J3"):
        wf.execute(session_id=run_id)
    gc.collect()
    assert [ref() is None for ref in made] == [True, False, False]  # J2's kept for a rerun of J3
    assert wf.runs[0].journal == {} and wf.runs[-1].journal != {}
    assert wf.rerun(from_="second") == "done"
    gc.collect()
    assert [ref() is None for ref in made] == [True, True, False]


@pytest.mark.parametrize("cache", [False, True])
def test_rerun_from_a_task_after_a_member_in_its_branch_calls_what_follows_the_group(cache):
    """``(a >> polish) | b``: polish runs in a's branch, so the group's successor runs
    after it and is called again too, with a cache or without."""
    from graflow_nb import task, workflow

    called: list[str] = []
    with workflow(f"in_branch_{cache}") as wf:

        @task
        def a():
            called.append("a")
            return 1

        @task
        def polish(a):
            called.append("polish")
            return a + POLISH[0]

        @task
        def b():
            called.append("b")
            return 10

        @task
        def store(polish, b):
            called.append("store")
            return polish + b

        _ = ((a >> polish) | b) >> store

    POLISH = [1]
    assert wf.execute(session_id="B1", cache=cache) == 12
    called.clear()
    POLISH[0] = 5  # what polish adds changed: store must see it
    assert wf.rerun(from_="polish") == 16
    assert sorted(called) == ["polish", "store"]
    assert wf.last_run.why("store") == "re-run asked for: wf.rerun(from_='polish')"
