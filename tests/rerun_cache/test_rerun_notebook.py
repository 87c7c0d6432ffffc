"""Edit one task, re-run, and only what changed runs again: notebook cells in a real
IPython shell define the tasks, later cells redefine them, and each run counts which
tasks were called (``ran.RUNS``) and asks ``run.why``."""

from __future__ import annotations

import pandas as pd

from graflow_nb.observe.dot import graph_dot
from graflow_nb.observe.timeline import timeline_chart

HELPERS = """
def clean(x):
    return x + 1

RATE = 2
"""

PIPELINE = """
with workflow(NAME) as wf:
    @task
    def fetch(region):
        ran.RUNS["fetch"] += 1
        return [r * 2 for r in region]

    @task
    def transform_a(fetch):
        ran.RUNS["transform_a"] += 1
        return [clean(x) for x in fetch]

    @task
    def transform_b(fetch):
        ran.RUNS["transform_b"] += 1
        return sum(fetch) * RATE

    @task
    def store(transform_a, transform_b):
        ran.RUNS["store"] += 1
        return {"a": transform_a, "b": transform_b}

    _ = fetch >> (transform_a | transform_b) >> store
"""

ALL = {"fetch": 1, "transform_a": 1, "transform_b": 1, "store": 1}


def run(nb, session_id, cache=True, region=(1, 2, 3)):
    nb.ns["_sid"], nb.ns["_cache"], nb.ns["_region"] = session_id, cache, list(region)
    return nb("wf.execute(initial_channel={'region': _region}, session_id=_sid, cache=_cache)")


def first_run(nb, runs):
    nb(HELPERS)
    nb(PIPELINE)
    assert run(nb, "S1") == {"a": [3, 5, 7], "b": 24}
    assert runs == ALL
    runs.clear()


def why(nb, task_id):
    return nb.ns["wf"].last_run.why(task_id)


def comparable_tasks(run_record):
    frame = run_record.frames.tasks()
    return frame.drop(columns=["start", "end", "duration", "thread", "cached", "reason"])


def comparable_sessions(run_record):
    return run_record.frames.sessions().drop(columns=["start", "end", "duration", "ran"])


def test_an_unchanged_rerun_calls_nothing_and_matches_a_run_without_the_cache(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE)  # the cell that defines the workflow, run again: a new object, the same tasks
    cached = run(nb, "S2")
    assert runs == {}
    replayed = nb.ns["wf"].last_run
    assert [why(nb, t) for t in ALL] == ["cached from run S1"] * 4
    plain = run(nb, "S2", cache=False)
    uncached = nb.ns["wf"].last_run
    assert runs == ALL
    assert cached == plain
    assert replayed.status == uncached.status == "succeeded"
    assert replayed.channel() == uncached.channel()
    assert replayed.session_tree() == uncached.session_tree()
    assert replayed.execution_sequence() == uncached.execution_sequence()
    pd.testing.assert_frame_equal(comparable_tasks(replayed), comparable_tasks(uncached))
    pd.testing.assert_frame_equal(comparable_sessions(replayed), comparable_sessions(uncached))
    tasks = replayed.frames.tasks().set_index("task_id")
    assert tasks.loc[list(ALL), "cached"].tolist() == [True] * 4
    assert tasks.loc["fetch", "reason"] == "cached from run S1"
    assert not uncached.frames.tasks()["cached"].any()
    assert uncached.frames.tasks()["reason"].isna().all()


def test_editing_a_task_body_reruns_it_and_what_reads_its_changed_result(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE.replace("return sum(fetch) * RATE", "return sum(fetch) * RATE + 1"))
    assert run(nb, "S2") == {"a": [3, 5, 7], "b": 25}
    assert runs == {"transform_b": 1, "store": 1}
    assert why(nb, "transform_b") == "code of transform_b changed: its source"
    assert why(nb, "store") == "upstream `transform_b` re-ran and its result differs"
    assert why(nb, "transform_a") == "cached from run S1"


def test_comments_and_docstrings_do_not_count(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE.replace(
        '        ran.RUNS["transform_a"] += 1\n',
        '        """Cleans every value."""\n        # a comment\n        ran.RUNS["transform_a"] += 1  # counted\n',
    ))
    run(nb, "S2")
    assert runs == {}


def test_editing_a_helper_reruns_the_tasks_that_call_it(nb, runs):
    first_run(nb, runs)
    nb("def clean(x):\n    return x + 2\n")
    assert run(nb, "S2") == {"a": [4, 6, 8], "b": 24}
    assert runs == {"transform_a": 1, "store": 1}
    assert why(nb, "transform_a") == "code of transform_a changed: helper `clean`"


def test_a_helper_of_a_helper_counts_too(nb, runs):
    nb("def inner(x):\n    return x + 1\n\ndef clean(x):\n    return inner(x)\n\nRATE = 2\n")
    nb(PIPELINE)
    run(nb, "S1")
    runs.clear()
    nb("def inner(x):\n    return x + 10\n")
    assert run(nb, "S2") == {"a": [12, 14, 16], "b": 24}
    assert runs == {"transform_a": 1, "store": 1}


def test_changing_a_global_constant_reruns_the_task_that_reads_it(nb, runs):
    first_run(nb, runs)
    nb("RATE = 3")
    assert run(nb, "S2") == {"a": [3, 5, 7], "b": 36}
    assert runs == {"transform_b": 1, "store": 1}
    assert why(nb, "transform_b") == "code of transform_b changed: global `RATE`"


def test_changing_a_closure_value_reruns_the_task(nb, runs):
    cell = """
    def make(k):
        def scale(numbers):
            ran.RUNS["scale"] += 1
            return [n * k for n in numbers]
        return task("scale")(scale)

    with workflow(NAME) as wf:
        @task
        def numbers():
            ran.RUNS["numbers"] += 1
            return [1, 2]
        _ = numbers >> make(FACTOR)
    """
    nb(cell.replace("FACTOR", "2"))
    assert nb("wf.execute(session_id='S1', cache=True)") == [2, 4]
    nb(cell.replace("FACTOR", "2"))
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"numbers": 1, "scale": 1}
    nb(cell.replace("FACTOR", "3"))
    assert nb("wf.execute(session_id='S3', cache=True)") == [3, 6]
    assert runs == {"numbers": 1, "scale": 2}
    assert why(nb, "scale") == "code of scale changed: closure value `k`"


def test_an_upstream_that_reruns_with_an_equal_result_leaves_its_descendants_cached(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE.replace("return [r * 2 for r in region]", "return [r + r for r in region]"))
    run(nb, "S2")
    assert runs == {"fetch": 1}
    assert why(nb, "fetch") == "code of fetch changed: its source"
    assert why(nb, "transform_a") == "cached from run S1"


def test_a_changed_root_input_reruns_what_reads_it(nb, runs):
    first_run(nb, runs)
    run(nb, "S2", region=(1, 2, 4))
    assert runs == ALL
    assert why(nb, "fetch") == "input `region` changed"
    assert why(nb, "transform_a") == "upstream `fetch` re-ran and its result differs"


FRAME_PIPELINE = """
with workflow(NAME) as wf:
    @task
    def total(frame):
        ran.RUNS["total"] += 1
        return float(frame["x"].sum())

    @task
    def rows(frame):
        ran.RUNS["rows"] += 1
        return len(frame)

    @task
    def report(rows):
        ran.RUNS["report"] += 1
        return f"{rows} rows"

    _ = total >> rows >> report
"""


def test_one_changed_cell_of_a_root_input_frame_reruns_its_readers_only(nb, runs):
    nb("import pandas as pd\nframe = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': ['a', 'b', 'c']})")
    nb(FRAME_PIPELINE)
    assert nb("wf.execute(initial_channel={'frame': frame}, session_id='S1', cache=True)") == "3 rows"
    runs.clear()
    nb("frame2 = frame.copy()\nframe2.loc[1, 'x'] = 20.0")
    nb("wf.execute(initial_channel={'frame': frame2}, session_id='S2', cache=True)")
    assert runs == {"total": 1, "rows": 1}  # report: rows re-ran and returned 3 again
    assert why(nb, "total") == "input `frame` changed"
    assert nb("wf.last_run.results()['total']") == 24.0
    runs.clear()
    nb("frame3 = frame2.copy()\nframe3.loc[2, 'y'] = 'z'")
    nb("wf.execute(initial_channel={'frame': frame3}, session_id='S3', cache=True)")
    assert runs == {"total": 1, "rows": 1}


SIBLINGS = """
with workflow(NAME) as wf:
    @task(inject_context=True)
    def writer(ctx):
        ran.RUNS["writer"] += 1
        ctx.get_channel().set("shared", VALUE)

    @task
    def other():
        ran.RUNS["other"] += 1
        return "other"

    @task
    def reader(shared):
        ran.RUNS["reader"] += 1
        return shared * 2

    _ = (writer | other) >> reader
"""


def test_a_task_reading_a_key_a_sibling_branch_wrote(nb, runs):
    nb(SIBLINGS.replace("VALUE", "21"))
    assert nb("wf.execute(session_id='S1', cache=True)") == 42
    nb(SIBLINGS.replace("VALUE", "21"))
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"writer": 1, "other": 1, "reader": 1}
    assert nb("wf.last_run.channel()['shared']") == 21
    nb(SIBLINGS.replace("VALUE", "5"))
    assert nb("wf.execute(session_id='S3', cache=True)") == 10
    assert runs == {"writer": 2, "other": 1, "reader": 2}
    assert why(nb, "reader") == "upstream `writer` re-ran and its result differs"
    assert nb("wf.last_run.channel()['shared']") == 5


def test_rerun_from_a_task_calls_it_and_its_descendants_only(nb, runs):
    first_run(nb, runs)
    assert nb("wf.rerun(from_='transform_a')") == {"a": [3, 5, 7], "b": 24}
    assert runs == {"transform_a": 1, "store": 1}
    assert why(nb, "transform_a") == why(nb, "store") == "re-run asked for: wf.rerun(from_='transform_a')"
    assert why(nb, "transform_b") == "cached from run S1"


def test_cached_tasks_are_drawn_in_their_own_state(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE.replace("return sum(fetch) * RATE", "return sum(fetch) * RATE * 2"))
    run(nb, "S2")
    wf = nb.ns["wf"]
    source = graph_dot(wf.graph, wf.last_run).source
    fetch_line = next(line for line in source.splitlines() if line.strip().startswith("fetch "))
    store_line = next(line for line in source.splitlines() if line.strip().startswith("store "))
    assert "cached" in fetch_line and "peripheries=2" in fetch_line
    assert "succeeded" in store_line and "peripheries" not in store_line


def test_the_timeline_marks_replayed_attempts_cached(nb, runs):
    first_run(nb, runs)
    nb(PIPELINE.replace("return sum(fetch) * RATE", "return sum(fetch) * RATE * 2"))
    run(nb, "S2")
    bars = {box.data["task"]: box.data["status"] for box in timeline_chart(nb.ns["wf"].last_run).shapes
            if getattr(box, "cls", "") == "bar"}
    assert bars == {"fetch": "cached", "transform_a": "cached", "transform_b": "succeeded", "store": "succeeded"}
