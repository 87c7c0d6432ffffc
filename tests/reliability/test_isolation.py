"""Branch isolation with the values notebooks pass around: pandas frames, numpy arrays,
containers holding them, objects with identity equality, and objects that can't be
copied at all.

The promises under test (docs/reference/rules.md, "Channels"):
- reading is never a write: readers never conflict and the parent keeps its very object;
- a branch's in-place edit stays in the branch, and reaches the parent only by a merge
  of a branch that succeeded;
- a value that can't be isolated is shared, and the user is told once per run and key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from graflow_nb import IsolationWarning, MergeConflictError, ParallelGroup, ParallelGroupError, task, workflow
from graflow_nb.core.channel import BranchChannel, MemoryChannel
from graflow_nb.core.errors import TaskTimeoutError
from graflow_nb.core.isolation import same_value

pytestmark = pytest.mark.timeout(60)

WAIT = 10  # seconds a synchronisation point may take before the test fails instead of hanging


class Box:
    """A plain object: identity equality, an array and a list inside."""

    def __init__(self) -> None:
        self.arr = np.arange(4)
        self.items = [1, 2]


@dataclasses.dataclass
class Record:
    """A dataclass whose generated ``==`` is ambiguous (it compares an array)."""

    name: str
    values: np.ndarray


class Client:
    """Holds a lock, like a database or HTTP client: ``copy.deepcopy`` refuses it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": np.arange(6),
            "b": np.linspace(0.0, 1.0, 6),
            "s": list("uvwxyz"),
            "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        }
    )


def values() -> dict[str, object]:
    df = frame()
    return {
        "df": df,
        "series": df["b"].copy(),
        "arr": np.arange(12.0).reshape(3, 4),
        "box": Box(),
        "record": Record("r", np.ones(3)),
        "nested": {"frames": [df.copy(), df.copy()], "arr": np.zeros(5), "meta": {"k": [1, 2]}},
        "objects": {Box(), Box()},
    }


def checksum(value: object) -> object:
    """What a reader computes from a value: proves it saw the content, touches nothing."""
    if isinstance(value, pd.DataFrame):
        return (int(value["a"].sum()), round(float(value["b"].sum()), 6), "".join(value["s"]), int(value["n"].sum()))
    if isinstance(value, pd.Series):
        return round(float(value.sum()), 6)
    if isinstance(value, np.ndarray):
        return float(value.sum())
    if isinstance(value, Box):
        return (int(value.arr.sum()), list(value.items))
    if isinstance(value, Record):
        return (value.name, float(value.values.sum()))
    if isinstance(value, dict):
        return (len(value["frames"]), checksum(value["frames"][0]), float(value["arr"].sum()), value["meta"]["k"])
    if isinstance(value, set):
        return sorted(checksum(box) for box in value)
    raise AssertionError(type(value))


EXPECTED = {key: checksum(value) for key, value in values().items()}

STRATEGIES = [
    None, "error", "overwrite", "keep_first", "deep_merge", "append", "union", "sum", "no_merge",
    lambda parent, branches: {},
    {"df": "overwrite", "arr": "sum", "*": "error"},
]
STRATEGY_IDS = ["default", "error", "overwrite", "keep_first", "deep_merge", "append", "union", "sum",
                "no_merge", "callable", "per-key"]


def fan_out(width: int, body, *, threaded: bool, merge=None, policy: str | None = None, sink_body=None):
    """source >> (m0 | ... | m{width-1}) >> sink; ``threaded`` makes every member wait for
    all the others at a barrier, so each one really runs on its own worker thread."""
    barrier = threading.Barrier(width, timeout=WAIT) if threaded else None
    with workflow("isolation") as wf:

        @task(inject_context=True)
        def source(ctx):
            return None

        def member(ctx, index):
            if barrier is not None:
                barrier.wait()
            return body(ctx, index)

        members = [
            task(id=f"m{i}", inject_context=True)(functools.partial(member, index=i)) for i in range(width)
        ]

        @task(inject_context=True)
        def sink(ctx):
            return None if sink_body is None else sink_body(ctx)

        group = ParallelGroup(members)  # one member is a group too: one reader in a branch
        settings = {"merge": merge, "policy": policy}
        group.with_execution(**{name: value for name, value in settings.items() if value is not None})
        source >> group >> sink
    return wf


def noop(name: str):
    return task(id=name)(lambda: None)


def read_everything(ctx, index):
    channel = ctx.get_channel()
    return {key: checksum(channel.get(key)) for key in EXPECTED}


# -- reading is never a write -------------------------------------------------------------
@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
@pytest.mark.parametrize("width", [1, 2, 64])
@pytest.mark.parametrize("merge", STRATEGIES, ids=STRATEGY_IDS)
def test_readers_never_write_and_the_parent_keeps_its_very_objects(merge, width, threaded):
    originals = values()
    wf = fan_out(width, read_everything, threaded=threaded, merge=merge)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IsolationWarning)  # everything here can be isolated
        _, ctx = wf.execute("source", ret_context=True, initial_channel=originals, session_id="S",
                            max_workers=width + 2)

    results = wf.last_run.results()
    assert [results[f"m{i}"] for i in range(width)] == [EXPECTED] * width
    for key, original in originals.items():
        assert ctx.channel.get(key) is original, key
        assert checksum(original) == EXPECTED[key], key
    assert wf.last_run.status == "succeeded"


def test_a_reader_that_looks_everywhere_still_changes_nothing():
    """Reads that build derived objects, iterate, describe and compare, but assign nothing."""
    originals = values()

    def inspect(ctx, index):
        ch = ctx.get_channel()
        df = ch.get("df")
        derived = df[df["a"] > 2].assign(c=lambda f: f["a"] * 2)
        summary = (len(derived), df.describe().shape, df.groupby("s")["a"].sum().sum(), int(df.to_numpy().shape[0]))
        arr = ch.get("arr")
        box = ch.get("box")
        nested = ch.get("nested")
        return (summary, float((arr * 2).sum()), arr.T.shape, len(box.items), list(nested["meta"]), repr(df)[:10])

    wf = fan_out(2, inspect, threaded=True)
    _, ctx = wf.execute("source", ret_context=True, initial_channel=originals, session_id="S")
    assert all(ctx.channel.get(key) is original for key, original in originals.items())
    assert wf.last_run.results()["m0"] == wf.last_run.results()["m1"]


# -- in-place edits stay in the branch -----------------------------------------------------
EDITS = {
    "df": lambda v: v.loc.__setitem__((0, "a"), 100),
    "df.newcol": lambda v: v.__setitem__("extra", 1),
    "df.index_name": lambda v: setattr(v.index, "name", "row"),
    "df.attrs": lambda v: v.attrs.__setitem__("source", "branch"),
    "series": lambda v: v.iloc.__setitem__(0, -1.0),
    "box": lambda v: v.items.append(3),
    "box.arr": lambda v: setattr(v, "arr", v.arr + 1),
    "record": lambda v: setattr(v, "name", "changed"),
    "nested": lambda v: v["meta"]["k"].append(3),
    "nested.frame": lambda v: v["frames"][1].loc.__setitem__((0, "b"), 9.5),
    "objects": lambda v: next(iter(v)).items.clear(),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_in_place_edit_reaches_the_parent_only_through_the_merge(edit):
    """One branch edits in place, a sibling reads the same key after the edit happened: the
    sibling sees the original, the parent gets the edited object at fan-in, and every
    other key keeps its very object."""
    key = edit.split(".")[0]
    originals = values()
    edited = threading.Event()
    seen: dict[str, object] = {}

    def body(ctx, index):
        ch = ctx.get_channel()
        if index == 0:
            EDITS[edit](ch.get(key))
            edited.set()
            return "edited"
        assert edited.wait(WAIT)
        seen["sibling"] = checksum(ch.get(key))
        return "read"

    wf = fan_out(2, body, threaded=False)
    _, ctx = wf.execute("source", ret_context=True, initial_channel=originals, session_id="S")

    assert seen["sibling"] == EXPECTED[key]
    assert checksum(originals[key]) == EXPECTED[key]  # the parent's object itself never changed
    merged = ctx.channel.get(key)
    assert merged is not originals[key]
    expected = copy.deepcopy(values()[key]) if key != "objects" else None
    if expected is not None:
        EDITS[edit](expected)
        assert same_value(merged, expected)
    for other, original in originals.items():
        if other != key:
            assert ctx.channel.get(other) is original, other


def test_an_array_is_read_only_in_a_branch_and_copying_it_is_the_way_to_change_it():
    original = np.arange(5)

    def body(ctx, index):
        ch = ctx.get_channel()
        arr = ch.get("arr")
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 99
        if index == 0:
            changed = arr.copy()
            changed[0] = 99
            ch.set("arr", changed)
        return int(arr[0])

    wf = fan_out(2, body, threaded=True)
    _, ctx = wf.execute("source", ret_context=True, initial_channel={"arr": original}, session_id="S")
    assert [wf.last_run.results()[member] for member in ("m0", "m1")] == [0, 0]
    assert original.tolist() == [0, 1, 2, 3, 4] and original.flags.writeable
    assert ctx.channel.get("arr").tolist() == [99, 1, 2, 3, 4]


def test_what_reaches_the_root_is_an_ordinary_writable_frame():
    """A branch's frame arrives with the blocks it never touched; they were read-only
    while the branch ran and are ordinary again in the parent."""
    seen: dict[str, object] = {}
    with workflow("thaw") as wf:

        @task(inject_context=True)
        def source(ctx):
            ctx.get_channel().set("df", frame())

        @task(inject_context=True)
        def edit(ctx):
            df = ctx.get_channel().get("df")
            with pytest.raises(ValueError, match="read-only"):
                df["s"].array[0] = "Q"
            df.loc[0, "a"] = 100

        @task(inject_context=True)
        def other(ctx):
            return checksum(ctx.get_channel().get("df"))

        @task(inject_context=True)
        def sink(ctx):
            df = ctx.get_channel().get("df")
            df["s"].array[1] = "R"
            df["n"].array[1] = 7
            seen["after"] = (df["a"].tolist()[:2], df["s"].tolist()[:2], df["n"].tolist()[:2])

        source >> (edit | other) >> sink
    wf.execute("source", session_id="S")
    assert seen["after"] == ([100, 1], ["u", "R"], [1, 7])


def test_nested_branches_keep_a_childs_views_frozen_until_they_reach_the_root():
    """b1 (inside b) hands its read-only view of the root's array to b as a new key; b's
    next task still can't write through it, so the root's array can't change."""
    original = np.arange(4)
    seen: dict[str, object] = {}
    with workflow("nested") as wf:
        source, b, b2, c = (noop(name) for name in ("source", "b", "b2", "c"))

        @task(inject_context=True)
        def b1(ctx):
            ch = ctx.get_channel()
            ch.set("alias", ch.get("arr"))

        @task(inject_context=True)
        def bm(ctx):
            alias = ctx.get_channel().get("alias")
            try:
                alias[0] = 42
                seen["bm"] = "wrote"
            except ValueError as error:
                seen["bm"] = str(error)

        @task(inject_context=True)
        def sink(ctx):
            alias = ctx.get_channel().get("alias")
            seen["sink.writable"] = alias.flags.writeable

        source >> ((b >> (b1 | b2) >> bm) | c) >> sink
    _, ctx = wf.execute("source", ret_context=True, initial_channel={"arr": original}, session_id="S")
    assert seen["bm"] == "assignment destination is read-only"
    assert original.tolist() == [0, 1, 2, 3]
    assert ctx.channel.get("arr") is original
    assert seen["sink.writable"] is True


# -- failed, cancelled, abandoned branches -------------------------------------------------
FAILING_EDITS = {
    "nested": lambda v: v["meta"]["k"].append(3),
    "df": lambda v: v.loc.__setitem__((0, "a"), 100),
    "df.array": lambda v: v["a"].array.__setitem__(0, 100),
    "box": lambda v: v.items.append(3),
    "arr": lambda v: v.__setitem__((0, 0), 100.0),
}


@pytest.mark.parametrize("policy", ["strict", "best_effort", "continue"])
@pytest.mark.parametrize("edit", list(FAILING_EDITS))
def test_a_failed_branchs_in_place_edits_never_reach_parent_or_siblings(edit, policy):
    key = edit.split(".")[0]
    originals = values()
    tried, sibling_read = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def body(ctx, index):
        ch = ctx.get_channel()
        if index == 0:
            try:
                FAILING_EDITS[edit](ch.get(key))
            except ValueError as error:  # arrays (and frames through .array) refuse outright
                seen["refused"] = str(error)
            ch.set("failed_wrote", True)
            tried.set()
            assert sibling_read.wait(WAIT)
            raise RuntimeError("member 0 broke after editing")
        assert tried.wait(WAIT)
        seen["sibling"] = checksum(ch.get(key))
        sibling_read.set()
        return "ok"

    def sink_body(ctx):
        ch = ctx.get_channel()
        seen["sink"] = (ch.get(key) is originals[key], checksum(ch.get(key)), ch.get("failed_wrote", "absent"))

    wf = fan_out(2, body, threaded=True, policy=policy, sink_body=sink_body)
    if policy == "strict":
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("source", initial_channel=originals, session_id="S")
        assert type(caught.value.errors["m0"]) is RuntimeError
    else:
        _, ctx = wf.execute("source", ret_context=True, initial_channel=originals, session_id="S")
        assert ctx.channel.get(key) is originals[key]
        assert seen["sink"] == (True, EXPECTED[key], "absent")
    assert seen["sibling"] == EXPECTED[key]
    assert checksum(originals[key]) == EXPECTED[key]
    if key == "arr" or edit == "df.array":
        assert "read-only" in seen["refused"]


def test_a_timed_out_attempt_keeps_editing_after_it_was_abandoned_and_nothing_reaches_anyone():
    originals = values()
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    with workflow("abandoned") as wf:

        @task(inject_context=True)
        def source(ctx):
            return None

        @task(inject_context=True, timeout=0.2)
        def slow(ctx):
            ch = ctx.get_channel()
            ch.get("nested")["meta"]["k"].append("early")
            ch.get("df").loc[0, "a"] = -1
            started.set()
            release.wait(WAIT)
            ch.get("box").items.append("late")
            ch.get("nested")["meta"]["k"].append("late")
            ch.set("late_key", 1)
            finished.set()

        @task(inject_context=True)
        def quick(ctx):
            assert started.wait(WAIT)
            ch = ctx.get_channel()
            seen["quick"] = (checksum(ch.get("nested")), checksum(ch.get("df")))

        @task(inject_context=True)
        def sink(ctx):
            ch = ctx.get_channel()
            seen["sink"] = {key: ch.get(key) is originals[key] for key in ("nested", "df", "box")}

        source >> (slow | quick).with_execution(policy="continue") >> sink
    _, ctx = wf.execute("source", ret_context=True, initial_channel=originals, session_id="S")
    errors = [r for r in wf.last_run.task_runs if r.task_id == "slow"]
    assert isinstance(errors[-1].error, TaskTimeoutError)
    release.set()
    assert finished.wait(WAIT)
    assert seen["quick"] == (EXPECTED["nested"], EXPECTED["df"])
    assert seen["sink"] == {"nested": True, "df": True, "box": True}
    for key in ("nested", "df", "box"):
        assert checksum(originals[key]) == EXPECTED[key]
    assert ctx.channel.get("late_key", "absent") == "absent"


def test_a_cancelled_branchs_in_place_edits_never_reach_the_parent():
    """Strict: m0 fails while m1 is between its two tasks; m1's second task is cancelled,
    and what its first task changed in place stays in the dropped branch."""
    originals = values()
    edited = threading.Event()
    ran: list[str] = []
    with workflow("cancelled") as wf:
        source, sink = noop("source"), noop("sink")

        @task(inject_context=True)
        def m0(ctx):
            assert edited.wait(WAIT)
            raise RuntimeError("m0 broke")

        @task(inject_context=True)
        def m1a(ctx):
            ch = ctx.get_channel()
            ch.get("nested")["meta"]["k"].append("from a cancelled branch")
            ch.get("df").loc[0, "a"] = -5
            ch.get("box").items.clear()
            edited.set()
            deadline = time.monotonic() + WAIT
            while not ctx.cancelled and time.monotonic() < deadline:  # observable state, not a guess
                time.sleep(0.001)
            ran.append(f"m1a saw cancelled={ctx.cancelled}")

        @task(inject_context=True)
        def m1b(ctx):
            ran.append("m1b")

        source >> (m0 | (m1a >> m1b)).with_execution(fail_fast=True) >> sink
    with pytest.raises(ParallelGroupError):
        wf.execute("source", initial_channel=originals, session_id="S")
    assert ran == ["m1a saw cancelled=True"]
    [branch] = [s for s in wf.last_run.sessions.values() if "m1a" in s.tasks_run]
    assert (branch.parent_id, branch.state) == ("S", "cancelled")
    for key in ("nested", "df", "box"):
        assert checksum(originals[key]) == EXPECTED[key]


# -- values that can't be isolated ---------------------------------------------------------
def test_an_uncopyable_value_is_shared_and_the_user_is_told_once_per_run_and_key():
    client = Client()

    def body(ctx, index):
        ch = ctx.get_channel()
        ch.get("client").calls.append(f"m{index}")
        ch.get("client")  # a second read in the same branch
        return ch.get("mixed")["rows"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own rule: once per code location and text
        for _ in range(2):  # the same session ids, so the same text from the same line
            wf = fan_out(3, body, threaded=False)
            mixed = {"lock": threading.Lock(), "rows": [1, 2]}
            seen_before = len(caught)
            _, ctx = wf.execute("source", ret_context=True, initial_channel={"client": client, "mixed": mixed},
                                session_id="S")
            told = [w for w in caught[seen_before:] if issubclass(w.category, IsolationWarning)]
            assert len(told) == 2, [str(w.message) for w in told]
            by_key = {str(w.message).split("'")[1]: str(w.message) for w in told}
            assert set(by_key) == {"client", "mixed"}
            assert "Client can't be copied (cannot pickle '_thread.lock' object)" in by_key["client"]
            assert "_thread.lock can't be copied" in by_key["mixed"]
            assert "share it by reference" in by_key["client"]
            assert {w.filename for w in told} == {__file__}  # points at the task that read it
            assert ctx.channel.get("client") is client and ctx.channel.get("mixed") is mixed
    assert sorted(client.calls) == ["m0", "m0", "m1", "m1", "m2", "m2"]  # shared: every call landed


def test_the_copyable_part_of_a_container_stays_isolated_when_another_part_is_shared():
    mixed = {"lock": threading.Lock(), "rows": [1, 2]}

    def body(ctx, index):
        value = ctx.get_channel().get("mixed")
        assert value["lock"] is mixed["lock"]
        value["rows"].append(99)
        raise ValueError("broke after appending")

    wf = fan_out(2, body, threaded=False, policy="continue")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        with pytest.raises(ParallelGroupError):
            wf.execute("source", initial_channel={"mixed": mixed}, session_id="S")
    assert mixed["rows"] == [1, 2]


# -- equal content written by two branches -------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: frame(),
        lambda: frame().assign(b=np.nan),
        lambda: np.array([1.0, np.nan, 3.0]),
        lambda: {"frame": frame(), "arr": np.arange(3)},
        lambda: Record("r", np.ones(3)),
    ],
    ids=["frame", "frame-with-nan", "array-with-nan", "dict-of-both", "dataclass"],
)
def test_two_branches_writing_equal_content_do_not_conflict(make):
    written: dict[int, object] = {}

    def body(ctx, index):
        written[index] = make()
        ctx.get_channel().set("out", written[index])

    wf = fan_out(2, body, threaded=False)
    _, ctx = wf.execute("source", ret_context=True, session_id="S")
    assert ctx.channel.get("out") is written[1]  # the last declared writer's object


@pytest.mark.parametrize(
    "make",
    [
        lambda i: frame().assign(a=i),
        lambda i: frame().rename(columns={"a": f"a{i}"}),
        lambda i: frame().astype({"a": "float64"}) if i else frame(),
        lambda i: np.arange(3) + i,
        lambda i: np.arange(3, dtype="int32" if i else "int64"),
        lambda i: {"arr": np.arange(3) * i},
        lambda i: Record("r", np.ones(3) * i),
    ],
    ids=["frame-values", "frame-columns", "frame-dtype", "array-values", "array-dtype", "dict-array", "dataclass"],
)
def test_two_branches_writing_different_content_conflict_without_crashing(make):
    def body(ctx, index):
        ctx.get_channel().set("out", make(index))

    wf = fan_out(2, body, threaded=False)
    with pytest.raises(MergeConflictError) as caught:
        wf.execute("source", session_id="S")
    assert caught.value.key == "out"
    assert [member for member, _ in caught.value.writers] == ["m0", "m1"]
    assert len(str(caught.value)) < 2000

    wf = fan_out(2, body, threaded=False, merge={"out": "keep_first"})
    _, ctx = wf.execute("source", ret_context=True, session_id="S")
    assert same_value(ctx.channel.get("out"), make(0))


def test_append_and_union_merges_compare_items_by_content():
    arrays = [np.arange(2), np.arange(3)]

    def body(ctx, index):
        ch = ctx.get_channel()
        current = ch.get("items")
        ch.set("items", [*current, np.arange(3), np.full(2, index)])

    for strategy, length in (("append", 6), ("union", 4)):
        wf = fan_out(2, body, threaded=False, merge={"items": strategy})
        _, ctx = wf.execute("source", ret_context=True, initial_channel={"items": list(arrays)}, session_id="S")
        merged = ctx.channel.get("items")
        assert len(merged) == length
        assert merged[0] is arrays[0] and merged[1] is arrays[1]
        assert same_value(merged[-1], np.full(2, 1))


def test_ready_parallel_readers_of_a_frame_neither_conflict_nor_replace_it():
    original = frame()
    with workflow("ready") as wf:
        start = noop("start")

        @task(inject_context=True)
        def left(ctx):
            return checksum(ctx.get_channel().get("df"))

        @task(inject_context=True)
        def right(ctx):
            return checksum(ctx.get_channel().get("df"))

        @task
        def join(left, right):
            return [left, right]

        start >> left
        start >> right
        left >> join
        right >> join
    result, ctx = wf.execute("start", ret_context=True, initial_channel={"df": original}, session_id="S",
                             ready_parallel=True)
    assert result == [EXPECTED["df"], EXPECTED["df"]]
    assert ctx.channel.get("df") is original


def test_ready_parallel_writers_of_different_frames_conflict_by_content():
    for second, conflict in ((frame(), False), (frame().assign(a=1), True)):
        with workflow("ready-writers") as wf:
            start = noop("start")

            @task(inject_context=True)
            def left(ctx):
                ctx.get_channel().set("df", frame())

            def set_second(ctx, value):
                ctx.get_channel().set("df", value)

            right = task(id="right", inject_context=True)(functools.partial(set_second, value=second))
            start >> left
            start >> right
        if conflict:
            with pytest.raises(MergeConflictError) as caught:
                wf.execute("start", session_id="S", ready_parallel=True)
            assert caught.value.key == "df"
        else:
            _, ctx = wf.execute("start", ret_context=True, session_id="S", ready_parallel=True)
            assert same_value(ctx.channel.get("df"), frame())


def test_channel_ops_still_add_up_next_to_frames():
    original = frame()

    def body(ctx, index):
        ch = ctx.get_channel()
        ch.atomic_add("count", index + 1)
        ch.append("log", f"m{index}")
        return checksum(ch.get("df"))

    wf = fan_out(3, body, threaded=True)
    _, ctx = wf.execute("source", ret_context=True, initial_channel={"df": original, "count": 10, "log": ["start"]},
                        session_id="S")
    assert ctx.channel.get("count") == 16
    assert ctx.channel.get("log") == ["start", "m0", "m1", "m2"]
    assert ctx.channel.get("df") is original


# -- the merge preview ----------------------------------------------------------------------
def test_the_merge_preview_works_with_frames_and_arrays():
    original, arr = frame(), np.arange(3)
    with workflow("preview") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            ctx.get_channel().set("df", original)
            ctx.get_channel().set("arr", arr)

        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().get("df").loc[0, "a"] = 100

        @task(inject_context=True)
        def b(ctx):
            return float(ctx.get_channel().get("arr").sum())

        @task
        def store():
            return None

        fetch >> (a | b) >> store
    with wf.debug("fetch", session_id="P", halt_at_merge=True) as dbg:
        dbg.continue_()
        preview = dbg.pending_merge()
        assert preview.conflict is None
        assert [list(branch.changes) for branch in preview.branches] == [["df", "a.__result__"], ["b.__result__"]]
        assert list(preview.changed) == ["df", "a.__result__", "b.__result__"]
        before, after = preview.changed["df"]
        assert before is original and after["a"].tolist()[0] == 100
        assert preview.after["arr"] is arr
        assert "arr = array([0, 1, 2])  (unchanged)" in str(preview)
        assert original["a"].tolist()[0] == 0
        dbg.run_to_end()


# -- same_value: the one notion of "same content" -----------------------------------------
class RaisingEq:
    def __eq__(self, other):
        raise RuntimeError("no comparing")

    __hash__ = object.__hash__


class ArrayEq:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return np.array([True, False])


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (True, 1, False),
        (float("nan"), float("nan"), True),
        ([np.arange(3)], [np.arange(3)], True),
        ([np.arange(3)], [np.arange(4)], False),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan]), True),
        (np.array(["a", "b"]), np.array(["a", "b"]), True),
        (np.array([[1], [2]], dtype=object), np.array([[1], [2]], dtype=object), True),
        (frame(), frame(), True),
        (frame(), frame().rename_axis("row"), False),
        (pd.Series([1, 2], name="x"), pd.Series([1, 2], name="y"), False),
        (pd.Index([1, 2]), pd.Index([1, 2]), True),
        (Record("r", np.ones(2)), Record("r", np.ones(2)), True),
        (Record("r", np.ones(2)), Record("r", np.zeros(2)), False),
        (RaisingEq(), RaisingEq(), True),  # no state: same by structure, __eq__ never called
        (ArrayEq(1), ArrayEq(1), True),
        (ArrayEq(1), ArrayEq(2), False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),  # the branch reordered the dict
        ({1, 2}, {2, 1}, True),
    ],
)
def test_same_value_compares_content_without_ambiguous_equality(a, b, same):
    assert same_value(a, b) is same
    assert same_value(a, a) is True


def test_same_value_on_cycles_depths_and_copies_of_identity_hashed_sets():
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert same_value(cyclic, copy.deepcopy(cyclic)) is True
    boxes = {Box(), Box()}
    assert same_value(boxes, copy.deepcopy(boxes)) is True
    deep = deep_list(5000)
    assert same_value(deep, deep) is True
    assert same_value(deep, deep_list(5000)) is False  # too deep to compare: counted as different


@pytest.mark.parametrize("kind", [list, tuple])
def test_reading_an_absurdly_deep_value_shares_it_and_says_why(kind):
    deep = kind()
    for _ in range(5000):
        deep = kind([deep, 1])
    root = MemoryChannel("R", {"deep": deep})
    branch = BranchChannel(root, "R_a")
    with pytest.warns(IsolationWarning, match="channel key 'deep' .*nested too deep to copy .*maximum recursion depth"):
        assert branch.get("deep") is deep
    assert branch.changes() == {}


def test_a_huge_frame_read_by_a_branch_is_not_copied():
    big = pd.DataFrame(np.zeros((500_000, 4)))  # 16 MB
    root = MemoryChannel("R", {"big": big})
    branches = [BranchChannel(root, f"R_{i}") for i in range(8)]
    views = [branch.get("big") for branch in branches]
    assert all(np.may_share_memory(view.to_numpy(), big.to_numpy()) for view in views)
    assert all(branch.changes() == {} for branch in branches)
    del views, branches
    gc.collect()
    big.iloc[0, 0] = 1.0  # and the parent's frame is still an ordinary writable frame
    assert big.iloc[0, 0] == 1.0


# -- odd values: read by two branches, nothing may change or conflict ----------------------
class CopyRefuses:
    def __deepcopy__(self, memo):
        raise RuntimeError("this handle refuses to be copied")


class ReduceRefuses:
    """Copyable through ``__deepcopy__`` but opaque to ``__reduce_ex__``: compared by ``==``."""

    def __init__(self, value):
        self.value = value

    def __deepcopy__(self, memo):
        return ReduceRefuses(copy.deepcopy(self.value, memo))

    def __reduce_ex__(self, protocol):
        raise TypeError("no reducing")

    def __eq__(self, other):
        return isinstance(other, ReduceRefuses) and self.value == other.value

    __hash__ = None


def pickle_refusal(make_file) -> str:
    """What this Python says when asked to pickle an open text file (its wording
    differs between versions)."""
    import os
    import pickle

    with make_file(os.devnull, "w") as handle:
        try:
            pickle.dumps(handle)
        except TypeError as error:
            return str(error)
    raise AssertionError("an open file pickled")


def odd_values(tmp_path) -> dict[str, tuple[object, str | None]]:
    """{key: (value, what the warning must say, or None when it can be isolated)}."""
    columns = pd.MultiIndex.from_tuples([("x", "a"), ("x", "b")])
    return {
        "generator": ((i for i in range(3)), "cannot pickle 'generator' object"),
        "file": (open(tmp_path / "f.txt", "w"), pickle_refusal(open)),  # noqa: SIM115
        "refuses": (CopyRefuses(), "CopyRefuses can't be copied (this handle refuses to be copied)"),
        "memoryview": (memoryview(b"abc"), "builtins.memoryview can't be copied (cannot pickle"),
        "opaque": (ReduceRefuses([1, 2]), None),
        "multiindex": (pd.DataFrame(np.eye(2), columns=columns), None),
        "categorical": (pd.Series(pd.Categorical(list("abca"))), None),
        "empty": (pd.DataFrame(), None),
        "object-column": (pd.DataFrame({"o": [[1], {"k": 2}]}), None),
        "bytearray": (bytearray(b"xyz"), None),
        "deque": (__import__("collections").deque([np.arange(2), np.arange(3)]), None),
        "tuple-with-list": ((1, [2, 3], np.arange(2)), None),
        "frozen-boxes": (frozenset({Box(), Box()}), None),
        "index": (pd.Index(["a", "b"], name="letters"), None),
        "datetime-array": (np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"), None),
    }


ODD_KEYS = ["generator", "file", "refuses", "memoryview", "opaque", "multiindex", "categorical", "empty",
            "object-column", "bytearray", "deque", "tuple-with-list", "frozen-boxes", "index", "datetime-array"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_values_are_read_without_writes_conflicts_or_repeated_warnings(key, tmp_path):
    values = odd_values(tmp_path)
    assert sorted(values) == sorted(ODD_KEYS)
    value, warning = values[key]
    if key != "file":
        values["file"][0].close()  # only a file under test stays open

    def body(ctx, index):
        seen = ctx.get_channel().get(key)
        return type(seen).__name__, len(repr(seen)) > 0

    wf = fan_out(2, body, threaded=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, ctx = wf.execute("source", ret_context=True, initial_channel={key: value}, session_id="S")
    told = [str(w.message) for w in caught if issubclass(w.category, IsolationWarning)]
    if warning is None:
        assert told == []
    else:
        assert len(told) == 1 and warning in told[0] and told[0].startswith(f"channel key {key!r}")
    assert ctx.channel.get(key) is value
    results = wf.last_run.results()
    assert results["m0"] == results["m1"] == (type(value).__name__, True)
    if key == "file":
        value.close()
