"""A result that can't change (a number, a string, a tuple of those) is kept without its
fingerprint: the token is taken when a reader needs it, in this run or a later one.
Whatever reads such a value, when and after what, hits exactly when the value is equal
and runs again when it isn't; a mutable result keeps the token it had when returned,
whatever is done to it later in the run; a failed or cancelled run's entries hold."""

from __future__ import annotations

import pytest

CUT_OFF = """
CAP = {cap}
with workflow(NAME) as wf:
    @task
    def fetch():
        ran.RUNS["fetch"] += 1
        return min(10, CAP), "units"

    @task
    def use(fetch):
        ran.RUNS["use"] += 1
        return fetch[0] + 1

    _ = fetch >> use
"""


def test_an_equal_number_cuts_off_and_a_different_one_reruns_its_reader(nb, runs):
    nb(CUT_OFF.format(cap=10))
    assert nb("wf.execute(session_id='A1', cache=True)") == 11
    nb(CUT_OFF.format(cap=20))  # fetch's global changed, its result did not
    assert nb("wf.execute(session_id='A2', cache=True)") == 11
    assert runs == {"fetch": 2, "use": 1}
    assert nb("wf.last_run.why('use')") == "cached from run A1"
    nb(CUT_OFF.format(cap=3))
    assert nb("wf.execute(session_id='A3', cache=True)") == 4
    assert runs == {"fetch": 3, "use": 2}
    assert nb("wf.last_run.why('use')") == "upstream `fetch` re-ran and its result differs"


LEAF = """
with workflow(NAME) as wf:
    @task
    def count():
        ran.RUNS["count"] += 1
        return {value}
"""

READ_LATER = LEAF + """
    @task(inject_context=True)
    def report(ctx):
        ran.RUNS["report"] += 1
        return f"{{ctx.get_result('count')}} rows"

    _ = count >> report
"""


@pytest.mark.parametrize("where", ["memory", "folder"])
def test_a_result_nobody_read_is_read_after_it_is_replayed(nb, runs, tmp_path, where):
    nb.ns["CACHE"] = True if where == "memory" else str(tmp_path / "cache")
    nb(LEAF.format(value=41))
    assert nb("wf.execute(session_id='L1', cache=CACHE)") == 41  # nobody reads count's result
    nb(READ_LATER.format(value=41))  # a reader added in the next cell
    assert nb("wf.execute(session_id='L2', cache=CACHE)") == "41 rows"
    assert runs == {"count": 1, "report": 1}
    assert nb("wf.last_run.why('count')") == "cached from run L1"
    assert nb("wf.execute(session_id='L3', cache=CACHE)") == "41 rows"
    assert runs == {"count": 1, "report": 1}
    assert nb("wf.last_run.why('report')") == "cached from run L2"
    nb(READ_LATER.format(value=42))
    assert nb("wf.execute(session_id='L4', cache=CACHE)") == "42 rows"
    assert runs == {"count": 2, "report": 2}
    assert nb("wf.last_run.why('report')") == "upstream `count` re-ran and its result differs"


EDITED = """
with workflow(NAME) as wf:
    @task
    def rows():
        ran.RUNS["rows"] += 1
        return [1, 2]

    @task(cache=False)
    def grow(rows):
        ran.RUNS["grow"] += 1
        rows.append(len(rows) + 1)  # edits the returned list in place

    @task
    def total(rows):
        ran.RUNS["total"] += 1
        return sum(rows)

    _ = rows >> grow >> total
"""


def test_a_list_edited_in_place_after_it_was_returned_replays_as_returned(nb, runs):
    nb(EDITED)
    assert nb("wf.execute(session_id='E1')") == 6  # without a cache: what calling every task gives
    runs.clear()
    assert nb("wf.execute(session_id='E2', cache=True)") == 6
    assert nb("wf.execute(session_id='E3', cache=True)") == 6  # rows replays [1, 2]; grow appends again
    assert runs == {"rows": 1, "grow": 2, "total": 1}
    assert nb("wf.last_run.channel()['rows.__result__']") == [1, 2, 3]
    assert nb("wf.last_run.why('total')") == "cached from run E2"


FAILING = """
BROKEN = {broken}
with workflow(NAME) as wf:
    @task
    def load():
        ran.RUNS["load"] += 1
        return 7

    @task
    def double(load):
        ran.RUNS["double"] += 1
        if BROKEN:
            raise ValueError("not yet")
        return load * 2

    _ = load >> double
"""


def test_a_failed_runs_entries_are_read_after_the_fix(nb, runs):
    nb(FAILING.format(broken=True))
    nb("""
    try:
        wf.execute(session_id='F1', cache=True)
    except ValueError:
        pass
    """)
    nb(FAILING.format(broken=False))
    assert nb("wf.execute(session_id='F2', cache=True)") == 14
    assert runs == {"load": 1, "double": 2}
    assert nb("wf.last_run.why('load')") == "cached from run F1"
    assert nb("wf.execute(session_id='F3', cache=True)") == 14
    assert runs == {"load": 1, "double": 2}
    assert nb("wf.last_run.why('double')") == "cached from run F2"


CANCELLING = """
STOP = {stop}
with workflow(NAME) as wf:
    @task
    def load():
        ran.RUNS["load"] += 1
        return "north"

    @task(inject_context=True)
    def gate(ctx, load):
        ran.RUNS["gate"] += 1
        if STOP:
            ctx.cancel_workflow("stopped by hand")
        return load.upper()

    _ = load >> gate
"""


def test_a_cancelled_runs_entries_are_read_by_the_next_run(nb, runs):
    nb(CANCELLING.format(stop=True))
    nb("""
    try:
        wf.execute(session_id='K1', cache=True)
    except Exception as error:
        stopped = error
    """)
    assert "stopped by hand" in str(nb.ns["stopped"])
    assert nb("wf.last_run.status") == "cancelled"
    nb(CANCELLING.format(stop=False))
    assert nb("wf.execute(session_id='K2', cache=True)") == "NORTH"
    assert runs == {"load": 1, "gate": 2}
    assert nb("wf.last_run.why('load')") == "cached from run K1"
    assert nb("wf.execute(session_id='K3', cache=True)") == "NORTH"
    assert runs == {"load": 1, "gate": 2}
    assert nb("wf.last_run.why('gate')") == "cached from run K2"


PAUSED = """
BASE = {base}
with workflow(NAME) as wf:
    @task
    def base():
        ran.RUNS["base"] += 1
        return BASE

    @task(inject_context=True)
    def ask(ctx):
        ran.RUNS["ask"] += 1
        return ctx.request_approval("go?")

    @task
    def scaled(base):
        ran.RUNS["scaled"] += 1
        return base * 3

    _ = base >> ask >> scaled
"""


def _pause_and_resume(nb, run_id, how):
    if how == "in process":
        paused = nb(f"wf.execute(session_id='{run_id}', cache=True)")
        assert type(paused).__name__ == "PausedRun"
        return nb("wf.resume({key: True for key in wf.last_run.pending})")
    paused = nb(f"wf.execute(session_id='{run_id}', cache=True, checkpoint_dir=folder)")
    assert type(paused).__name__ == "PausedRun"
    return nb(f"wf.resume(folder / '{run_id}.pkl', answers={{key: True for key in wf.last_run.pending}})")


@pytest.mark.parametrize("how", ["in process", "from its checkpoint"])
def test_a_number_kept_before_a_pause_is_read_after_the_resume(nb, runs, tmp_path, how):
    nb.ns["folder"] = tmp_path / "checkpoints"
    nb(PAUSED.format(base=2))
    assert _pause_and_resume(nb, "P1", how) == 6  # scaled reads base's number after the resume
    assert _pause_and_resume(nb, "P2", how) == 6
    assert runs == {"base": 1, "ask": 4, "scaled": 1}
    assert nb("wf.last_run.why('scaled')") == "cached from run P1"
    nb(PAUSED.format(base=5))
    assert _pause_and_resume(nb, "P3", how) == 15
    assert runs == {"base": 2, "ask": 6, "scaled": 2}
    # Resumed from its file, the run did not see base return: it read base's value as an input.
    changed = "upstream `base` re-ran and its result differs" if how == "in process" else "input `base.__result__` changed"
    assert nb("wf.last_run.why('scaled')") == changed
