"""What the cache keeps from one run to the next in the same process (a task's code key,
a code object's source digest) never hides a change: each test runs one workflow
object twice, the memo warm, with one thing changed in between that makes no new task
object, and the task that uses it must run again.  A returned object edited in place
after its run never changes what a later run replays."""

from __future__ import annotations

import importlib
import sys
import uuid

import pytest

PIPELINE = """
with workflow(NAME) as wf:
    @task
    def numbers():
        ran.RUNS["numbers"] += 1
        return [1, 2, 3]

    @task
    def use(numbers):
        ran.RUNS["use"] += 1
        return BODY

    _ = numbers >> use
"""


def two_runs(nb, runs, define, body, change):
    """Define ``define`` and a pipeline whose ``use`` returns ``body``; run it, check an
    unchanged second run calls nothing, run ``change``, and run the same workflow object
    again: what the third run returned."""
    nb(define)
    nb(PIPELINE.replace("BODY", body))
    first = nb("wf.execute(session_id='S1', cache=True)")
    assert nb("wf.execute(session_id='S2', cache=True)") == first
    assert runs == {"numbers": 1, "use": 1}  # the memo is warm and hits
    nb(change)
    third = nb("wf.execute(session_id='S3', cache=True)")
    assert runs == {"numbers": 1, "use": 2}
    return first, third


def why_use(nb):
    return nb("wf.last_run.why('use')")


def test_a_helper_redefined_under_the_same_name(nb, runs):
    first, third = two_runs(nb, runs, "def clean(x):\n    return x + 1\n", "[clean(n) for n in numbers]",
                            "def clean(x):\n    return x + 100\n")
    assert (first, third) == ([2, 3, 4], [101, 102, 103])
    assert why_use(nb) == "code of use changed: helper `clean`"


def test_a_helper_given_another_code_object(nb, runs):
    define = "def clean(x):\n    return x + 1\n\ndef other(x):\n    return x * 10\n"
    first, third = two_runs(nb, runs, define, "[clean(n) for n in numbers]", "clean.__code__ = other.__code__")
    assert (first, third) == ([2, 3, 4], [10, 20, 30])
    assert why_use(nb) == "code of use changed: helper `clean`"


def test_a_global_rebound(nb, runs):
    first, third = two_runs(nb, runs, "RATE = 2", "sum(numbers) * RATE", "RATE = 3")
    assert (first, third) == (12, 18)
    assert why_use(nb) == "code of use changed: global `RATE`"


def test_a_global_a_helper_reads_rebound(nb, runs):
    define = "OFFSET = 1\n\ndef clean(x):\n    return x + OFFSET\n"
    first, third = two_runs(nb, runs, define, "[clean(n) for n in numbers]", "OFFSET = 5")
    assert (first, third) == ([2, 3, 4], [6, 7, 8])


def test_a_closure_cell_rebound(nb, runs):
    define = """
    def make():
        k = 2
        def scale(x):
            return x * k
        def set_k(value):
            nonlocal k
            k = value
        return scale, set_k

    scale, set_k = make()
    """
    first, third = two_runs(nb, runs, define, "[scale(n) for n in numbers]", "set_k(3)")
    assert (first, third) == ([2, 4, 6], [3, 6, 9])
    assert why_use(nb) == "code of use changed: helper `scale`"


def test_a_default_argument_changed_in_place(nb, runs):
    define = "def pick(x, table=[0, 10, 20, 30]):\n    return table[x]\n"
    first, third = two_runs(nb, runs, define, "[pick(n) for n in numbers]", "pick.__defaults__[0][1] = 11")
    assert (first, third) == ([10, 20, 30], [11, 20, 30])


@pytest.mark.parametrize(("define", "body", "change", "results"), [
    ("WEIGHTS = [1, 1, 1]", "sum(w * n for w, n in zip(WEIGHTS, numbers))", "WEIGHTS[2] = 5", (6, 18)),
    ("WEIGHTS = [1, 1, 1]", "len(WEIGHTS) + sum(numbers)", "WEIGHTS.append(1)", (9, 10)),
    ("TABLE = {'scale': 2}", "[n * TABLE['scale'] for n in numbers]", "TABLE['scale'] = 3", ([2, 4, 6], [3, 6, 9])),
    ("import pandas as pd\nFRAME = pd.DataFrame({'x': [1.0, 2.0]})", "float(FRAME['x'].sum()) + len(numbers)",
     "FRAME.loc[0, 'x'] = 10.0", (6.0, 15.0)),
], ids=["list-item", "list-append", "dict", "frame-cell"])
def test_a_global_changed_in_place(nb, runs, define, body, change, results):
    assert two_runs(nb, runs, define, body, change) == results
    assert why_use(nb).startswith("code of use changed: global `")


@pytest.fixture
def local_module(tmp_path, monkeypatch):
    """A helper module of the user's own, in a file (no installed version): its name."""
    name = f"kc_helpers_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / f"{name}.py"
    path.write_text("K = 1\n\ndef scale(x):\n    return x * K\n")
    yield name, path
    sys.modules.pop(name, None)


def test_a_constant_of_a_local_module_edited_on_disk_and_reloaded(nb, runs, local_module):
    name, path = local_module
    nb(f"import {name} as helpers\nfrom {name} import scale")
    nb(PIPELINE.replace("BODY", "[scale(n) for n in numbers]"))
    assert nb("wf.execute(session_id='S1', cache=True)") == [1, 2, 3]
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"numbers": 1, "use": 1}
    path.write_text("K = 7\n\ndef scale(x):\n    return x * K\n")
    importlib.reload(sys.modules[name])
    assert nb("wf.execute(session_id='S3', cache=True)") == [7, 14, 21]
    assert runs == {"numbers": 1, "use": 2}


def test_a_local_module_edited_on_disk_keys_by_its_file(nb, runs, local_module):
    name, path = local_module
    nb(f"import {name} as helpers")
    nb(PIPELINE.replace("BODY", "[helpers.scale(n) for n in numbers]"))
    nb("wf.execute(session_id='S1', cache=True)")
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"numbers": 1, "use": 1}
    path.write_text("K = 1\n\ndef scale(x):\n    return x * K  # edited\n")
    nb("wf.execute(session_id='S3', cache=True)")
    assert runs == {"numbers": 1, "use": 2}
    assert why_use(nb) == "code of use changed: module `helpers`"


def test_a_function_whose_file_changed_but_was_not_reloaded_still_hits(nb, runs, local_module):
    """Its code object is what runs, and it is unchanged: calling it again would do
    what the cached call did."""
    name, path = local_module
    nb(f"from {name} import scale")
    nb(PIPELINE.replace("BODY", "[scale(n) for n in numbers]"))
    nb("wf.execute(session_id='S1', cache=True)")
    path.write_text("K = 1\n\ndef scale(x):\n    return x * K + 1000\n")
    assert nb("wf.execute(session_id='S2', cache=True)") == [1, 2, 3]
    assert runs == {"numbers": 1, "use": 1}
    assert why_use(nb) == "cached from run S1"


RETURNS = """
with workflow(NAME) as wf:
    @task
    def make():
        ran.RUNS["make"] += 1
        return VALUE

    @task
    def edit(make):
        ran.RUNS["edit"] += 1
        EDIT
        return make

    _ = make >> edit
"""


@pytest.mark.parametrize(("value", "edit", "after", "expected"), [
    ("[1, 2]", "make.append(3)", ".append(4)", [1, 2, 3]),
    ("(1, [2])", "make[1].append(3)", "[1].append(4)", (1, [2, 3])),
    ("{'a': (1, 2)}", "make['b'] = 3", "['c'] = 4", {"a": (1, 2), "b": 3}),
], ids=["list", "tuple-holding-a-list", "dict"])
def test_a_result_edited_in_place_does_not_change_what_is_replayed(nb, runs, value, edit, after, expected):
    nb(RETURNS.replace("VALUE", value).replace("EDIT", edit))
    assert nb("wf.execute(session_id='S1', cache=True)") == expected
    nb("wf.last_run.results()['make']" + after)  # the user edits what the run returned
    assert nb("wf.execute(session_id='S2', cache=True)") == expected
    assert nb("wf.last_run.results()['make']") == eval(value)
    assert runs == {"make": 1, "edit": 1}


@pytest.mark.parametrize("value", ["None", "7", "2.5", "'text'", "b'raw'", "(1, ('a', None), 2.0)", "True"])
def test_an_immutable_result_replays_equal(nb, runs, value):
    nb(RETURNS.replace("VALUE", value).replace("EDIT", "pass"))
    first = nb("wf.execute(session_id='S1', cache=True)")
    second = nb("wf.execute(session_id='S2', cache=True)")
    assert first == second == eval(value)
    assert type(first) is type(second)
    assert runs == {"make": 1, "edit": 1}


def test_the_memos_keep_no_task_or_function_alive():
    """A workflow the notebook lets go (a cell run again binds a new one) takes its
    tasks and their functions with it: the memos hold them weakly."""
    import gc
    import weakref

    from graflow_nb import task, workflow

    def build():
        namespace: dict[str, object] = {}
        exec("def body():\n    return 42\n", namespace)  # its code object is held by it alone
        body = namespace.pop("body")
        with workflow(f"memo_{uuid.uuid4().hex[:8]}") as wf:
            step = task(id="step")(body)
        return wf, weakref.ref(step), weakref.ref(body), weakref.ref(body.__code__)

    wf, step, body, code = build()
    assert wf.execute(session_id="S1", cache=True) == 42
    assert wf.execute(session_id="S2", cache=True) == 42
    assert wf.last_run.why("step") == "cached from run S1"
    del wf
    gc.collect()
    assert step() is None and body() is None and code() is None
