"""Classes defined in notebook cells (plain, dataclasses, NamedTuple, Enum, ``__slots__``):
a task that uses one is keyed by the class's definition, and an instance of one passed
between tasks is fingerprinted by its class's definition and its state.  Running the
cell again unchanged keeps the cache; editing the class re-runs what uses it."""

from __future__ import annotations

import enum

import pytest

from graflow_nb.core import cache_files

CELL = """
class Row:
    def __init__(self, n):
        self.n = n

with workflow(NAME) as wf:
    @task
    def build():
        ran.RUNS["build"] += 1
        return Row(1)
"""


def test_a_task_returning_a_notebook_class_instance_is_cached_from_its_second_run(nb, runs):
    """Pickling its first instance (the cache keeps what the task returned) must not
    change the class's key."""
    nb(CELL)
    nb("wf.execute('build', session_id='S1', cache=True)")
    nb("wf.execute('build', session_id='S2', cache=True)")
    assert runs == {"build": 1}
    assert nb("wf.last_run.why('build')") == "cached from run S1"
    assert nb("wf.last_run.channel()['build.__result__'].n") == 1


# Each kind of class a notebook defines: the cell that defines it, an edit of that
# cell, what ``make`` returns, what ``use`` reads of it, and what it reads after the edit.
KINDS = {
    "plain": (
        "class C:\n    def __init__(self, x=1):\n        self.x = x\n",
        "class C:\n    def __init__(self, x=1):\n        self.x = x * 10\n",
        "C()", "make.x", 1, 10,
    ),
    "dataclass": (
        "@dataclass\nclass C:\n    x: int = 1\n",
        "@dataclass\nclass C:\n    x: int = 2\n",
        "C()", "make.x", 1, 2,
    ),
    "frozen dataclass": (
        "@dataclass(frozen=True)\nclass C:\n    x: int = 1\n",
        "@dataclass(frozen=False)\nclass C:\n    x: int = 1\n",
        "C()", "make.x", 1, 1,
    ),
    "default_factory": (
        "@dataclass\nclass C:\n    ys: list = field(default_factory=lambda: [1, 2])\n",
        "@dataclass\nclass C:\n    ys: list = field(default_factory=lambda: [1, 3])\n",
        "C()", "sum(make.ys)", 3, 4,
    ),
    "union-typed fields": (
        "class Item:\n    pass\n\n@dataclass\nclass C:\n    x: int | None = 1\n    items: list[Item] | None = None\n",
        "class Item:\n    pass\n\n@dataclass\nclass C:\n    x: int | str | None = 1\n    items: list[Item] | None = None\n",
        "C()", "make.x", 1, 1,
    ),
    "methods": (
        "class C:\n    k = 3\n    def __init__(self, x=1):\n        self.x = x\n"
        "    @property\n    def double(self):\n        return self.x * 2\n"
        "    @classmethod\n    def one(cls):\n        return cls(1)\n",
        "class C:\n    k = 3\n    def __init__(self, x=1):\n        self.x = x\n"
        "    @property\n    def double(self):\n        return self.x * 4\n"
        "    @classmethod\n    def one(cls):\n        return cls(1)\n",
        "C.one()", "make.double", 2, 4,
    ),
    "NamedTuple": (
        "class C(typing.NamedTuple):\n    x: int = 1\n    y: str = 'a'\n",
        "class C(typing.NamedTuple):\n    x: int = 1\n    y: str = 'b'\n",
        "C()", "make.x", 1, 1,
    ),
    "Enum": (
        "class C(enum.Enum):\n    A = 1\n    B = 2\n",
        "class C(enum.Enum):\n    A = 10\n    B = 2\n",
        "C.A", "make.value", 1, 10,
    ),
    "__slots__": (
        "class C:\n    __slots__ = ('x',)\n    def __init__(self, x=1):\n        self.x = x\n",
        "class C:\n    __slots__ = ('x', 'y')\n    def __init__(self, x=1):\n        self.x = x\n",
        "C()", "make.x", 1, 1,
    ),
    "slots dataclass": (
        "@dataclass(slots=True, frozen=True)\nclass C:\n    x: int = 1\n",
        "@dataclass(slots=True, frozen=True, order=True)\nclass C:\n    x: int = 1\n",
        "C()", "make.x", 1, 1,
    ),
}

KIND_PIPELINE = """
with workflow(NAME) as wf:
    @task
    def other():
        ran.RUNS["other"] += 1
        return 5

    @task
    def make(other):
        ran.RUNS["make"] += 1
        return MAKE

    @task
    def use(make):
        ran.RUNS["use"] += 1
        return READ

    _ = other >> make >> use
"""


def _state(value):
    """What an instance holds, whatever its kind."""
    if isinstance(value, enum.Enum):
        return (value.name, value.value)
    if hasattr(value, "__dict__"):
        return vars(value)
    if hasattr(value, "_asdict"):
        return value._asdict()
    return {name: getattr(value, name) for name in type(value).__slots__}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_notebook_class_is_keyed_by_its_definition(nb, runs, kind):
    define, edit, make, read, before, after = KINDS[kind]
    nb("import enum, typing\nfrom dataclasses import dataclass, field")
    nb(define)
    nb(KIND_PIPELINE.replace("MAKE", make).replace("READ", read))
    assert nb("wf.execute(session_id='S1', cache=True)") == before
    first = nb("wf.last_run.channel()['make.__result__']")
    assert nb("wf.execute(session_id='S2', cache=True)") == before
    assert runs == {"other": 1, "make": 1, "use": 1}
    assert [nb(f"wf.last_run.why({t!r})") for t in ("make", "use")] == ["cached from run S1"] * 2

    nb(define)  # the cell again, unchanged: a new class object of the same definition
    assert nb("wf.execute(session_id='S3', cache=True)") == before
    assert runs == {"other": 1, "make": 1, "use": 1}
    replayed = nb("wf.last_run.channel()['make.__result__']")
    assert type(replayed) is nb.ns["C"]  # the class the cell defined last
    assert type(first) is not nb.ns["C"]
    assert _state(replayed) == _state(first)

    nb(edit)
    assert nb("wf.execute(session_id='S4', cache=True)") == after
    assert runs == {"other": 1, "make": 2, "use": 2}  # exactly the tasks that use the class
    assert nb("wf.last_run.why('other')") == "cached from run S1"
    assert nb("wf.last_run.why('make')") == "code of make changed: helper `C`"
    assert nb("wf.last_run.why('use')") == "upstream `make` re-ran and its result differs"
    assert nb("wf.execute(session_id='S5', cache=True)") == after
    assert runs == {"other": 1, "make": 2, "use": 2}

    nb(define)  # the edit undone: the first run's entries serve again
    assert nb("wf.execute(session_id='S6', cache=True)") == before
    assert runs == {"other": 1, "make": 2, "use": 2}
    assert nb("wf.last_run.why('use')") == "cached from run S1"

    # `make` edited so that it returns an equal instance: `use` is cut off.
    nb(KIND_PIPELINE.replace("return MAKE", "made = MAKE\n        return made").replace("MAKE", make)
       .replace("READ", read))
    assert nb("wf.execute(session_id='S7', cache=True)") == before
    assert runs == {"other": 1, "make": 3, "use": 2}
    assert nb("wf.last_run.why('make')") == "code of make changed: its source"
    assert nb("wf.last_run.why('use')") == "cached from run S1"


SETTINGS = """
from dataclasses import dataclass, field

@dataclass
class Settings:
    rate: int
    tags: list = field(default_factory=list)

with workflow(NAME) as wf:
    @task
    def apply(settings):
        ran.RUNS["apply"] += 1
        return settings.rate * len(settings.tags)
"""


def test_an_input_that_is_a_notebook_class_instance_is_fingerprinted_by_class_and_state(nb, runs):
    nb(SETTINGS)
    run = "wf.execute(initial_channel={{'settings': {}}}, session_id={!r}, cache=True)"
    assert nb(run.format("Settings(2, ['a', 'b'])", "S1")) == 4
    assert nb(run.format("Settings(2, ['a', 'b'])", "S2")) == 4  # an equal instance
    assert runs == {"apply": 1}
    nb(SETTINGS)  # the class and the workflow defined again, unchanged
    assert nb(run.format("Settings(2, ['a', 'b'])", "S3")) == 4
    assert runs == {"apply": 1}
    assert nb("wf.last_run.why('apply')") == "cached from run S1"

    assert nb(run.format("Settings(2, ['a', 'c'])", "S4")) == 4  # a field's value deep inside
    assert runs == {"apply": 2}
    assert nb("wf.last_run.why('apply')") == "input `settings` changed"

    # The class edited (a method added), the instance's state as before: `apply` never
    # names the class, its input does.
    nb(SETTINGS.replace("    tags: list = field(default_factory=list)\n",
                        "    tags: list = field(default_factory=list)\n\n    def first(self):\n        return self.tags[0]\n"))
    assert nb(run.format("Settings(2, ['a', 'c'])", "S5")) == 4
    assert runs == {"apply": 3}
    assert nb("wf.last_run.why('apply')") == "input `settings` changed"


PLACE = """
from dataclasses import dataclass

@dataclass(frozen=True)
class Point:
    x: int
    y: int

with workflow(NAME) as wf:
    @task(inject_context=True)
    def place(ctx):
        ran.RUNS["place"] += 1
        ctx.get_channel().set("where", Point(1, 2))


    @task(inject_context=True)
    def measure(ctx):
        ran.RUNS["measure"] += 1
        p = ctx.get_channel().get("where")
        return p.x + p.y

    _ = place >> measure
"""


def test_a_channel_value_of_a_notebook_class_written_by_a_task_is_fingerprinted(nb, runs):
    nb(PLACE)
    assert nb("wf.execute(session_id='S1', cache=True)") == 3
    assert nb("wf.execute(session_id='S2', cache=True)") == 3
    assert runs == {"place": 1, "measure": 1}
    assert nb("wf.last_run.channel()['where']") == nb("Point(1, 2)")
    # `place` edited so that it writes an equal point (of a re-defined class): `measure` is cut off.
    nb(PLACE.replace("Point(1, 2))", "Point(1, 1 + 1))"))
    assert nb("wf.execute(session_id='S3', cache=True)") == 3
    assert runs == {"place": 2, "measure": 1}
    assert nb("wf.last_run.why('measure')") == "cached from run S1"
    nb(PLACE.replace("Point(1, 2))", "Point(2, 2))"))
    assert nb("wf.execute(session_id='S4', cache=True)") == 4
    assert runs == {"place": 3, "measure": 2}
    assert nb("wf.last_run.why('measure')") == "upstream `place` re-ran and its result differs"


def test_an_instance_holding_what_nothing_can_read_still_says_why(nb, runs):
    nb("""
    import threading
    from dataclasses import dataclass

    @dataclass
    class Guarded:
        rows: list
        lock: object

    with workflow(NAME) as wf:
        @task
        def count(guarded):
            ran.RUNS["count"] += 1
            return len(guarded.rows)

        @task
        def make():
            ran.RUNS["make"] += 1
            return Guarded([1, 2], threading.Lock())

        @task
        def size(make):
            ran.RUNS["size"] += 1
            return len(make.rows)

        _ = make >> size
    """)
    for sid in ("S1", "S2"):
        nb(f"wf.execute('count', initial_channel={{'guarded': Guarded([1], threading.Lock())}}, session_id={sid!r}, "
           "cache=True)")
    assert runs == {"count": 2}
    assert nb("wf.last_run.why('count')") == (
        "nothing cached for count yet; not cached: an input can't be fingerprinted: "
        "a _thread.lock can't be read by the copy protocol (cannot pickle '_thread.lock' object)")
    for sid in ("S3", "S4"):
        nb(f"wf.execute('make', session_id={sid!r}, cache=True)")
    assert runs == {"count": 2, "make": 2, "size": 2}
    assert nb("wf.last_run.why('make')") == (
        "nothing cached for make yet; not cached: what it returned or wrote can't be pickled "
        "(TypeError: cannot pickle '_thread.lock' object)")
    assert nb("wf.last_run.why('size')") == "upstream `make` re-ran and its result differs"


ADVERSARIAL = """
from dataclasses import dataclass, field

@dataclass(eq=False)
class Node:
    name: str
    me: object = None

class Angry:
    def __init__(self, x):
        self.x = x
    def __eq__(self, other):
        raise RuntimeError("never compare me")
    __hash__ = object.__hash__

class Sulky:
    def __init__(self, x):
        self.x = x
    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")

class Wrapper:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)

@dataclass
class Big:
    rows: list = field(default_factory=lambda: list(range(SIZE)))

with workflow(NAME) as wf:
    @task
    def make():
        ran.RUNS["make"] += 1
        return MAKE

    @task
    def use(make):
        ran.RUNS["use"] += 1
        return READ

    _ = make >> use
"""


@pytest.mark.parametrize(
    ("make", "read", "expected"),
    [
        ("(lambda n: (setattr(n, 'me', n), n)[1])(Node('loop'))", "make.me.me.name", "loop"),
        ("Angry(3)", "make.x", 3),
        ("Sulky(4)", "make.x", 4),
        ("Wrapper([1, 2, 3])", "make.count(2)", 1),
        ("Big()", "len(make.rows)", 1_000_000),
    ],
    ids=["cycle", "eq raises", "getattr raises", "getattr delegates", "huge field"],
)
def test_hostile_notebook_classes_are_cached(nb, runs, make, read, expected):
    nb("SIZE = 1_000_000")
    nb(ADVERSARIAL.replace("MAKE", make).replace("READ", read))
    for sid in ("S1", "S2"):
        assert nb(f"wf.execute(session_id={sid!r}, cache=True)") == expected
    assert runs == {"make": 1, "use": 1}
    assert nb("wf.last_run.why('use')") == "cached from run S1"
    replayed = nb("wf.last_run.channel()['make.__result__']")
    assert type(replayed) is nb.ns[type(replayed).__name__]
    if isinstance(expected, str):
        assert replayed.me is replayed  # the cycle comes back as a cycle
    # `make` edited so that it returns an equal instance: `use` is cut off.
    nb(ADVERSARIAL.replace("return MAKE", "made = MAKE\n        return made").replace("MAKE", make)
       .replace("READ", read))
    assert nb("wf.execute(session_id='S3', cache=True)") == expected
    assert runs == {"make": 2, "use": 1}
    assert nb("wf.last_run.why('use')") == "cached from run S1"


def test_a_huge_field_changed_in_one_place_reruns(nb, runs):
    nb("SIZE = 1_000_000")
    nb(ADVERSARIAL.replace("MAKE", "Big()").replace("READ", "sum(make.rows)"))
    nb("""
    with workflow(NAME) as wf:
        @task
        def total(big):
            ran.RUNS["total"] += 1
            return sum(big.rows)
    """)
    nb("big = Big()")
    assert nb("wf.execute(initial_channel={'big': big}, session_id='S1', cache=True)") == 499_999_500_000
    nb("big.rows[-1] += 1")
    assert nb("wf.execute(initial_channel={'big': big}, session_id='S2', cache=True)") == 499_999_500_001
    assert runs == {"total": 2}
    assert nb("wf.last_run.why('total')") == "input `big` changed"


LOCAL_CLASS = """
with workflow(NAME) as wf:
    @task
    def make():
        ran.RUNS["make"] += 1

        class Local:
            def __init__(self, x):
                self.x = x

        return Local(SEED)

    @task
    def use(make):
        ran.RUNS["use"] += 1
        return make.x * 2
"""


def test_a_class_defined_inside_a_task_is_keyed_by_the_task_and_its_instances_replay(nb, runs):
    nb((LOCAL_CLASS + "    _ = make >> use\n").replace("SEED", "5"))
    assert nb("wf.execute(session_id='S1', cache=True)") == 10
    first = nb("wf.last_run.channel()['make.__result__']")
    nb((LOCAL_CLASS + "    _ = make >> use\n").replace("SEED", "5"))  # the cell again: a new `make`
    assert nb("wf.execute(session_id='S2', cache=True)") == 10
    assert runs == {"make": 1, "use": 1}
    assert nb("wf.last_run.why('make')") == "cached from run S1"
    replayed = nb("wf.last_run.channel()['make.__result__']")
    assert replayed is not first and type(replayed) is type(first)  # the very class that made it
    assert replayed.x == 5

    nb((LOCAL_CLASS + "    _ = make >> use\n").replace("SEED", "6"))
    assert nb("wf.execute(session_id='S3', cache=True)") == 12
    assert runs == {"make": 2, "use": 2}
    assert nb("wf.last_run.why('make')") == "code of make changed: its source"


def test_a_cache_folder_keeps_notebook_class_results_but_not_local_classes(nb, runs, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_files, "_STORES", {})
    folder = tmp_path / "cache"
    nb.ns["folder"] = folder
    cell = PLACE + """
    @task
    def local():
        ran.RUNS["local"] += 1

        class Inner:
            pass

        return Inner()

    _ = local >> place
"""
    nb(cell)
    assert nb("wf.execute(session_id='S1', cache=folder)") == 3
    # `place` and `measure` written; `local`'s entry holds its class by reference: memory only
    assert len(list(folder.glob("*.entry"))) == 2
    cache_files._STORES.clear()  # as in a new kernel: the folder is read again, the cell run again
    nb(cell)
    assert nb("wf.execute(session_id='S2', cache=folder)") == 3
    assert runs == {"place": 1, "measure": 1, "local": 2}
    assert nb("wf.last_run.why('place')") == "cached from run S1"
    assert nb("wf.last_run.channel()['where']") == nb("Point(1, 2)")  # replayed: of the class defined last
