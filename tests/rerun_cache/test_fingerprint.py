"""Content fingerprints by kind: values that differ never share one, whatever their
shape, depth or hashability; what can't be read is refused with a reason."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from graflow_nb.core.cache.fingerprint import Unfingerprintable, fingerprint


def test_two_frames_of_equal_shape_and_dtypes_with_different_values_differ():
    a = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]})
    b = pd.DataFrame({"x": [1, 2, 4], "y": [0.5, 0.25, 0.125]})
    assert a.shape == b.shape and (a.dtypes == b.dtypes).all()
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(a.copy())


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.set_axis([10, 11, 12], axis=0),
        lambda f: f.rename(columns={"y": "z"}),
        lambda f: f.astype({"x": "int32"}),
        lambda f: f.assign(s=["a", "b", "d"]),
        lambda f: _with_attrs(f, {"unit": "kg"}),
    ],
    ids=["index", "columns", "dtypes", "strings", "attrs"],
)
def test_a_frame_differs_by_index_columns_dtypes_values_and_attrs(change):
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 0.25, 0.125], "s": ["a", "b", "c"]})
    assert fingerprint(change(frame)) != fingerprint(frame)


def _with_attrs(frame, attrs):
    out = frame.copy()
    out.attrs.update(attrs)
    return out


def test_arrays_by_shape_dtype_and_bytes():
    a = np.arange(6, dtype="int64")
    assert fingerprint(a) != fingerprint(a.reshape(2, 3))
    assert fingerprint(a) != fingerprint(a.astype("int32"))
    assert fingerprint(a) != fingerprint(np.array([0, 1, 2, 3, 4, 6]))
    assert fingerprint(a[::2]) == fingerprint(np.array([0, 2, 4]))
    dates = np.array(["2026-01-01", "2026-01-02"], dtype="datetime64[D]")
    assert fingerprint(dates) != fingerprint(dates + 1)


def test_nesting_deeper_than_any_recursion_limit():
    deep_a: list = [1]
    deep_b: list = [2]
    for _ in range(100_000):
        deep_a, deep_b = [deep_a], [deep_b]
    assert fingerprint(deep_a) != fingerprint(deep_b)


def test_shared_and_cyclic_values_are_read_once():
    loop: list = [1]
    loop.append(loop)
    other: list = [1]
    other.append([1, other])
    assert fingerprint(loop) == fingerprint(loop)
    assert fingerprint(loop) != fingerprint(other)
    item = [1, 2]
    assert fingerprint([item, item]) != fingerprint([[1, 2], [1, 3]])


class Point:
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Point) and other.x == self.x


def test_unhashable_values_by_content():
    assert fingerprint({"a": [1, {2: [3]}]}) != fingerprint({"a": [1, {2: [4]}]})
    assert fingerprint(Point(1)) == fingerprint(Point(1))
    assert fingerprint(Point(1)) != fingerprint(Point(2))
    assert fingerprint([Point(1)]) != fingerprint([Point(2)])


def test_kinds_that_look_alike_differ():
    assert fingerprint(1) != fingerprint(1.0) != fingerprint(True)
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    assert fingerprint([1, 2]) != fingerprint((1, 2))
    assert fingerprint("1") != fingerprint(b"1")
    assert fingerprint({"a": 1, "b": 2}) != fingerprint({"b": 2, "a": 1})  # order can change what a task does
    assert fingerprint({1, 2, 3}) == fingerprint({3, 2, 1})


def test_values_nothing_can_read_are_refused_with_a_reason():
    with pytest.raises(Unfingerprintable, match="lock"):
        fingerprint({"ok": 1, "lock": threading.Lock()})
    with pytest.raises(Unfingerprintable, match="generator"):
        fingerprint(x for x in range(3))


def test_union_types_by_their_members():
    assert fingerprint(int | None) == fingerprint(int | None)
    assert fingerprint(int | None) != fingerprint(int | str)
    assert fingerprint({"x": list[int | None]}) != fingerprint({"x": list[int | str]})
