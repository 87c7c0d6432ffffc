"""The re-run cache with tasks defined in notebook cells (a real IPython shell) whose
group runs on a real Dask cluster: a member is keyed on its worker by its cell's
source, as it is in the notebook's process, so moving a group to Dask keeps its
entries, and comments and docstrings don't count there either.

Task bodies count their calls with a file each in a folder: the file holds the id of
the process that called it."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

pytestmark = pytest.mark.slow

PIPELINE = '''
import os, pathlib, uuid

def called(name):
    (pathlib.Path(CALLS) / f"{name}-{uuid.uuid4().hex}").write_text(str(os.getpid()))

with workflow(NAME) as wf:
    @task
    def fetch():
        called("fetch")
        return {"rows": 3}

    @task
    def transform_a(fetch):
        called("transform_a")
        return fetch["rows"] * 2

    @task
    def transform_b(fetch):
        called("transform_b")
        return fetch["rows"] + 1

    @task
    def store(transform_a, transform_b):
        called("store")
        return transform_a + transform_b

    group = transform_a | transform_b
    if ON_DASK:
        group.with_execution("dask", backend_config={"client": CLIENT})
    _ = fetch >> group >> store
'''


class Notebook:
    def __init__(self, shell, calls):
        self.shell = shell
        self.ns = shell.user_ns
        self.name = f"nb_dask_{uuid.uuid4().hex[:8]}"
        self.calls = calls

    def __call__(self, source):
        result = self.shell.run_cell(textwrap.dedent(source).replace("NAME", repr(self.name)), store_history=True)
        if result.error_before_exec or result.error_in_exec:
            raise result.error_before_exec or result.error_in_exec
        return result.result

    def called(self):
        """{task: [process ids]} of the calls since the last look."""
        seen: dict[str, list[int]] = {}
        for path in sorted(self.calls.iterdir()):
            seen.setdefault(path.name.rsplit("-", 1)[0], []).append(int(path.read_text()))
            path.unlink()
        return seen


@pytest.fixture
def nb(monkeypatch, tmp_path, client):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setattr(InteractiveShell, "_instance", None)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    calls = tmp_path / "calls"
    calls.mkdir()
    book = Notebook(InteractiveShell.instance(config=config), calls)
    book("from graflow_nb import task, workflow")
    book.ns.update(CALLS=str(calls), CLIENT=client, ON_DASK=True)
    return book


def run(nb, session_id):
    nb.ns["_sid"] = session_id
    return nb("wf.execute(session_id=_sid, cache=True)")


def test_a_group_moved_from_threads_to_dask_keeps_its_cache(nb):
    nb.ns["ON_DASK"] = False
    nb(PIPELINE)
    assert run(nb, "S1") == 10
    assert set(nb.called()) == {"fetch", "transform_a", "transform_b", "store"}
    nb.ns["ON_DASK"] = True
    nb(PIPELINE)  # the cell run again, the group now on Dask
    assert run(nb, "S2") == 10
    assert nb.called() == {}
    last = nb.ns["wf"].last_run
    assert last.why("transform_a") == last.why("transform_b") == "cached from run S1"
    assert last.sessions["S2_transform_a"].worker is not None


def test_comments_and_docstrings_of_a_member_on_dask_do_not_count_but_its_body_does(nb):
    nb(PIPELINE)
    run(nb, "S1")
    nb.called()
    nb(PIPELINE.replace(
        '        called("transform_b")\n',
        '        """Adds one."""\n        # counted below\n        called("transform_b")  # each call\n',
    ))
    assert run(nb, "S2") == 10
    assert nb.called() == {}
    nb(PIPELINE.replace('return fetch["rows"] + 1', 'return fetch["rows"] + 2'))
    assert run(nb, "S3") == 11
    called = nb.called()
    assert sorted(called) == ["store", "transform_b"]
    assert called["transform_b"][0] != os.getpid()  # on a worker
    last = nb.ns["wf"].last_run
    assert last.why("transform_b") == "code of transform_b changed: its source"
    assert last.why("transform_a") == "cached from run S1"


CLASSES = '''
import os, pathlib, uuid

def called(name):
    (pathlib.Path(CALLS) / f"{name}-{uuid.uuid4().hex}").write_text(str(os.getpid()))

class Row:
    def __init__(self, n):
        self.n = n

with workflow(NAME) as wf:
    @task
    def start():
        return 2

    @task
    def make(start):
        called("make")
        return Row(start)

    @task
    def other(start):
        called("other")
        return start + 1

    @task
    def use(make, other):
        called("use")
        return Row(make.n + other).n

    group = (make | other).with_execution("dask", backend_config={"client": CLIENT})
    _ = start >> group >> use
'''


def test_a_member_returning_a_notebook_class_is_cached_on_dask(nb):
    nb(CLASSES)
    assert run(nb, "S1") == 5
    assert sorted(nb.called()) == ["make", "other", "use"]
    nb(CLASSES)
    assert run(nb, "S2") == 5
    # The worker can't pickle the result by name (its `__main__` has no Row): the
    # entry holds the class by reference, and stays in memory.
    assert nb.called() == {}
    last = nb.ns["wf"].last_run
    assert [last.why(t) for t in ("make", "other", "use")] == ["cached from run S1"] * 3
    assert last.channel()["make.__result__"].n == 2


DATACLASSES = '''
import os, pathlib, uuid
from dataclasses import dataclass, field

def called(name):
    (pathlib.Path(CALLS) / f"{name}-{uuid.uuid4().hex}").write_text(str(os.getpid()))

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple = field(default_factory=tuple)

    def norm(self):
        return abs(self.x) + abs(self.y)

with workflow(NAME) as wf:
    @task
    def start():
        return 2

    @task
    def make(start):
        called("make")
        return Point(start, 1)

    @task
    def other(start):
        called("other")
        return start + 1

    @task
    def use(make, other):
        called("use")
        return make.norm() + other

    group = make | other
    if ON_DASK:
        group.with_execution("dask", backend_config={"client": CLIENT})
    _ = start >> group >> use
'''


def test_a_dataclass_member_is_keyed_alike_at_home_and_on_a_worker(nb):
    nb.ns["ON_DASK"] = False
    nb(DATACLASSES)
    assert run(nb, "S1") == 6
    assert sorted(nb.called()) == ["make", "other", "use"]
    nb.ns["ON_DASK"] = True
    nb(DATACLASSES)  # the cell run again, the group now on Dask
    assert run(nb, "S2") == 6
    last = nb.ns["wf"].last_run
    assert nb.called() == {}
    assert [last.why(t) for t in ("make", "other", "use")] == ["cached from run S1"] * 3
    assert last.sessions["S2_make"].worker is not None
    # The worker replayed the entry made here: its `__main__` has no Point, the
    # replayed task's globals have (cloudpickle brought them): the point comes back
    # as one of the class the cell defined last.
    assert last.channel()["make.__result__"] == nb("Point(2, 1)")

    nb(DATACLASSES.replace("abs(self.x) + abs(self.y)", "abs(self.x) * 10 + abs(self.y)"))
    assert run(nb, "S3") == 24
    called = nb.called()
    assert sorted(called) == ["make", "use"]
    assert called["make"][0] != os.getpid()  # on a worker
    last = nb.ns["wf"].last_run
    assert last.why("make") == "code of make changed: helper `Point`"
    assert last.why("use") == "upstream `make` re-ran and its result differs"
    assert last.why("other") == "cached from run S1"
    assert run(nb, "S4") == 24
    assert nb.called() == {}
