"""Async tasks are cached as sync ones are: an unchanged ``async def`` task replays
(nothing is awaited, its writes and result come back), an edited one runs by the async
path and is kept; in a chain and as members of a group, whose branches park on them."""

from __future__ import annotations

CHAIN = """
import asyncio
with workflow(NAME) as wf:
    @task(inject_context=True)
    async def fetch(ctx):
        ran.RUNS["fetch"] += 1
        await asyncio.sleep(0)
        ctx.get_channel().set("rows", [1, 2, STEP])
        return 3

    @task
    def double(fetch, rows):
        ran.RUNS["double"] += 1
        return fetch * 2 + sum(rows)

    @task
    async def report(double):
        ran.RUNS["report"] += 1
        await asyncio.sleep(0)
        return f"total {double}"

    _ = fetch >> double >> report
"""


def test_an_unchanged_async_task_replays_and_an_edited_one_runs(nb, runs):
    nb("STEP = 3")
    nb(CHAIN)
    assert nb("wf.execute(session_id='A1', cache=True)") == "total 12"
    assert nb("wf.last_run.why('fetch')") == "nothing cached for fetch yet"
    nb(CHAIN)  # the cell again: same code, a new workflow object
    assert nb("wf.execute(session_id='A2', cache=True)") == "total 12"
    assert runs == {"fetch": 1, "double": 1, "report": 1}
    assert nb("wf.last_run.why('fetch')") == "cached from run A1"
    assert nb("wf.last_run.why('report')") == "cached from run A1"
    assert nb("wf.last_run.root_context.channel.get('rows')") == [1, 2, 3]  # its write replayed
    assert nb("wf.last_run.frames.tasks().set_index('task_id')['cached'].to_dict()") == {
        "fetch": True, "double": True, "report": True}

    nb("STEP = 4")  # a global fetch reads: it runs again, through the async path
    nb(CHAIN)
    assert nb("wf.execute(session_id='A3', cache=True)") == "total 13"
    assert runs == {"fetch": 2, "double": 2, "report": 2}
    assert nb("wf.last_run.why('fetch')") == "code of fetch changed: global `STEP`"
    assert nb("wf.last_run.why('report')") == "upstream `double` re-ran and its result differs"
    nb(CHAIN)
    assert nb("wf.execute(session_id='A4', cache=True)") == "total 13"
    assert runs == {"fetch": 2, "double": 2, "report": 2}
    assert nb("wf.last_run.why('report')") == "cached from run A3"


GROUP = """
import asyncio
with workflow(NAME) as wf:
    @task
    def start():
        ran.RUNS["start"] += 1
        return 10

    @task(inject_context=True)
    async def left(ctx, start):
        ran.RUNS["left"] += 1
        await asyncio.sleep(0.01)
        ctx.get_channel().set("left_part", start + LEFT)
        return start + LEFT

    @task
    async def right(start):
        ran.RUNS["right"] += 1
        await asyncio.sleep(0.01)
        return start * 2

    @task(inject_context=True)
    def join(ctx):
        ran.RUNS["join"] += 1
        return (ctx.get_result("left"), ctx.get_result("right"), ctx.get_channel().get("left_part"))

    _ = start >> (left | right) >> join
"""


def test_async_group_members_replay_into_their_branches(nb, runs):
    nb("LEFT = 1")
    nb(GROUP)
    plain = nb("wf.execute(session_id='G0')")
    assert plain == (11, 20, 11)
    runs.clear()
    nb(GROUP)
    assert nb("wf.execute(session_id='G1', cache=True)") == plain
    nb(GROUP)
    assert nb("wf.execute(session_id='G2', cache=True)") == plain
    assert runs == {"start": 1, "left": 1, "right": 1, "join": 1}
    assert nb("wf.last_run.why('left')") == "cached from run G1"
    assert nb("wf.last_run.why('right')") == "cached from run G1"
    # each member replayed in its own branch session, as it ran there
    assert nb("sorted(r.task_id for r in wf.last_run.task_runs if r.session_id != 'G2')") == ["left", "right"]

    nb("LEFT = 5")  # left changes; right is unchanged and replays beside it
    nb(GROUP)
    assert nb("wf.execute(session_id='G3', cache=True)") == (15, 20, 15)
    assert runs == {"start": 1, "left": 2, "right": 1, "join": 2}
    assert nb("wf.last_run.why('left')") == "code of left changed: global `LEFT`"
    assert nb("wf.last_run.why('right')") == "cached from run G1"
    nb(GROUP)
    assert nb("wf.execute(session_id='G4', cache=True)") == (15, 20, 15)
    assert runs == {"start": 1, "left": 2, "right": 1, "join": 2}
    assert nb("wf.last_run.why('left')") == "cached from run G3"


def test_an_async_task_that_fails_keeps_no_entry_and_runs_again(nb, runs):
    cell = """
    import asyncio
    with workflow(NAME) as wf:
        @task(max_retries=1)
        async def flaky():
            ran.RUNS["flaky"] += 1
            await asyncio.sleep(0)
            if ran.RUNS["flaky"] == 1:
                raise ConnectionError("first try")
            return "ok"
        _ = flaky
    """
    nb(cell)
    assert nb("wf.execute(session_id='F1', cache=True)") == "ok"
    assert runs == {"flaky": 2}
    nb(cell)
    assert nb("wf.execute(session_id='F2', cache=True)") == "ok"
    assert runs == {"flaky": 2}
    assert nb("wf.last_run.why('flaky')") == "cached from run F1"


def test_an_async_task_with_a_timeout_is_kept_only_when_it_ends_in_time(nb, runs):
    cell = """
    import asyncio
    with workflow(NAME) as wf:
        @task(timeout=0.5)
        async def slow():
            ran.RUNS["slow"] += 1
            await asyncio.sleep(DELAY)
            return DELAY

        @task
        def after(slow):
            ran.RUNS["after"] += 1
            return slow * 2

        _ = slow >> after
    """
    nb("DELAY = 5")
    nb(cell)
    nb("""
    try:
        wf.execute(session_id='T1', cache=True)
    except Exception as error:
        timed_out = error
    """)
    assert type(nb.ns["timed_out"]).__name__ == "TaskTimeoutError"
    assert "session 'T1'" in str(nb.ns["timed_out"])
    assert runs == {"slow": 1}
    nb("DELAY = 0")
    nb(cell)
    assert nb("wf.execute(session_id='T2', cache=True)") == 0
    assert nb("wf.last_run.why('slow')") == "nothing cached for slow yet"  # the late attempt kept nothing
    nb(cell)
    assert nb("wf.execute(session_id='T3', cache=True)") == 0
    assert runs == {"slow": 2, "after": 1}
    assert nb("wf.last_run.why('slow')") == "cached from run T2"


def test_aexecute_replays_async_and_sync_members_of_a_mixed_group(nb, runs):
    cell = """
    import asyncio
    with workflow(NAME) as wf:
        @task
        async def fetch():
            ran.RUNS["fetch"] += 1
            await asyncio.sleep(0)
            return "f"

        @task
        def parse():
            ran.RUNS["parse"] += 1
            return "p"

        @task(inject_context=True)
        def both(ctx):
            ran.RUNS["both"] += 1
            return ctx.get_result("fetch") + ctx.get_result("parse")

        _ = (fetch | parse) >> both
    """
    nb(cell)
    assert nb("await wf.aexecute(session_id='X1', cache=True)") == "fp"
    nb(cell)
    assert nb("await wf.aexecute(session_id='X2', cache=True)") == "fp"
    assert runs == {"fetch": 1, "parse": 1, "both": 1}
    assert nb("wf.last_run.why('fetch')") == "cached from run X1"
    assert nb("wf.last_run.why('parse')") == "cached from run X1"
