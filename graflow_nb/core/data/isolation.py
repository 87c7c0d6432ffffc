"""How a branch gets its own view of a value it reads, and how the engine later tells
whether the branch changed it.  Never by ``==``: arrays and frames compare elementwise
(ambiguous in ``bool()``) and most objects compare by identity.

One rule per kind of value (``Isolation.isolate``):

    atomic immutables      int, float, str, bytes, None, ranges, dates, Decimals, enum
                           members, functions, numpy scalars, tuples and frozensets of
                           these: shared, never copied (they can't change).
    pandas DataFrame and   ``obj.copy(deep=False)``: O(number of blocks), no data copied.
    Series                 pandas copy-on-write copies a block only when the branch
                           writes to it.  The copy's own block arrays are made read-only
                           too, closing the one hole CoW leaves (``s.array[i] = x``
                           writes through to every shallow copy); pandas' own setitem
                           paths still work, copying first.  Changed = the copy no
                           longer holds the blocks, axes, names and attrs it was given
                           (identity checks) and its content differs from the origin.
    numpy ndarray          a read-only view, O(1): an in-place write raises numpy's
                           "assignment destination is read-only", so nothing can leak
                           and nothing needs comparing; a branch that wants to change an
                           array copies it and sets it.  (Object arrays hold mutable
                           Python objects, so they are copied like containers.)
    dict, list, tuple      copied level by level, each item by its own rule (a dict of
                           frames costs O(frames), not O(data)).
    anything else          ``copy.deepcopy``; changed = structure differs from the
                           origin, compared through the copy protocol's state
                           (``__reduce_ex__``: ``__dict__``, slots, items), not ``==``.
    can't be deep-copied   (locks, generators, sockets, open files, clients) shared by
                           reference: the branch's in-place edits reach the parent.
                           ``isolate`` reports why, and the channel warns once per run
                           and key (``IsolationWarning``).

What a branch froze is thawed when its values reach the run's root channel (a
merge), so the parent keeps ordinary writable pandas and numpy objects; merged into
another branch, they stay frozen until that branch merges in turn.

``same_value(a, b)`` is the one notion of "the same content" the channel, the merge
(conflicts), ready-node scheduling and the merge preview share: identity, or same type
and same content by the rules above (``DataFrame.equals`` plus names and attrs, array
dtype, shape and elements with NaN equal to NaN, structure for everything else).  It
never raises: a comparison that fails counts as different.

pandas and numpy are looked up in ``sys.modules`` rather than imported: a value can
only be a DataFrame if pandas is already loaded, and the engine stays light to import.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import fractions
import pathlib
import re
import sys
import types
import uuid
from collections import deque
from typing import Any

_ATOMIC = frozenset({int, float, complex, str, bytes, bool, type(None), range, type(Ellipsis), type(NotImplemented)})
_IMMUTABLE = (
    datetime.date, datetime.time, datetime.timedelta, datetime.tzinfo, decimal.Decimal, fractions.Fraction,
    uuid.UUID, pathlib.PurePath, enum.Enum, type, types.FunctionType, types.BuiltinFunctionType, re.Pattern,
)
_SEQUENCES = (list, tuple, deque)


class IsolationWarning(UserWarning):
    """A channel value can't be copied for a branch, so branches share it by reference."""


def is_atomic(value: Any) -> bool:
    """True for values no one can change in place, which branches may simply share."""
    kind = type(value)
    if kind in _ATOMIC:
        return True
    if kind is tuple or kind is frozenset:
        try:
            return all(is_atomic(item) for item in value)
        except RecursionError:
            return False  # nested too deep to tell: isolate() will say so
    if isinstance(value, _IMMUTABLE):
        return True
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.generic) and not isinstance(value, np.void)


def _pandas_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series)) and hasattr(value, "_mgr")


def _ndarray(value: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and type(value) is np.ndarray


def _plain_array(value: Any) -> bool:
    return _ndarray(value) and not value.dtype.hasobject


class _View:
    """A pandas or numpy object handed to a branch, with what it held when handed over."""

    __slots__ = ("origin", "copy", "parts")

    def __init__(self, origin: Any, copy_: Any, parts: tuple[Any, ...] | None):
        self.origin, self.copy, self.parts = origin, copy_, parts


def _frame_parts(frame: Any) -> tuple[Any, ...]:
    """What a shallow copy holds: manager, axes, blocks and their arrays (compared by
    identity), plus the labels' names, attrs and flags (compared by content)."""
    mgr = frame._mgr
    names = tuple(tuple(axis.names) for axis in mgr.axes)
    label = getattr(frame, "name", None) if frame.ndim == 1 else None
    attrs = copy.deepcopy(frame.attrs) if frame.attrs else {}
    return (
        (mgr, *mgr.axes, *mgr.blocks, *(block.values for block in mgr.blocks)),
        (names, label, frame.flags.allows_duplicate_labels, attrs),
    )


class Isolation:
    """The values one branch was handed: views to recognise, arrays it froze.

        views:  {id(branch object): _View}   pandas copies and numpy views it was given
        frozen: [array or extension array]   what it made read-only (to thaw at the root)
    """

    __slots__ = ("views", "frozen")

    def __init__(self) -> None:
        self.views: dict[int, _View] = {}
        self.frozen: list[Any] = []

    def isolate(self, value: Any) -> tuple[Any, str | None]:
        """The branch's own view of ``value``, and why part of it is shared (or None)."""
        shared: list[str] = []
        try:
            return self._isolate(value, {}, shared), (shared[0] if shared else None)
        except RecursionError as error:
            return value, f"it is nested too deep to copy ({error})"

    def _isolate(self, value: Any, memo: dict[int, Any], shared: list[str]) -> Any:
        if is_atomic(value):
            return value
        known = memo.get(id(value))
        if known is not None:
            return known
        kind = type(value)
        out: Any
        if kind is dict:
            out = memo[id(value)] = {}
            for key, item in value.items():
                out[self._isolate(key, memo, shared)] = self._isolate(item, memo, shared)
        elif kind is list:
            out = memo[id(value)] = []
            out.extend(self._isolate(item, memo, shared) for item in value)
        elif kind is tuple:
            items = [self._isolate(item, memo, shared) for item in value]
            out = value if all(a is b for a, b in zip(items, value, strict=True)) else tuple(items)
        elif _pandas_frame(value):
            out = self._frame(value)
        elif _plain_array(value):
            out = value.view()
            if out.flags.writeable:
                out.flags.writeable = False
                self.frozen.append(out)
            self.views[id(out)] = _View(value, out, None)
        else:
            out = self._deepcopy(value, memo, shared)
        memo[id(value)] = out
        memo.setdefault(id(memo), []).append(value)  # keep the origin alive while ids are compared
        return out

    def _frame(self, frame: Any) -> Any:
        out = frame.copy(deep=False)
        for mine, theirs in zip(out._mgr.blocks, frame._mgr.blocks, strict=True):
            values = mine.values
            if values is theirs.values:
                continue  # not a view of its own: freezing it would freeze the parent's too
            if isinstance(values, sys.modules["numpy"].ndarray):
                if values.flags.writeable:
                    values.flags.writeable = False
                    self.frozen.append(values)
            elif not getattr(values, "_readonly", True):
                values._readonly = True
                self.frozen.append(values)
        self.views[id(out)] = _View(frame, out, _frame_parts(out))
        return out

    @staticmethod
    def _deepcopy(value: Any, memo: dict[int, Any], shared: list[str]) -> Any:
        mark = len(memo)
        try:
            return copy.deepcopy(value, memo)
        except Exception as error:
            for key in list(memo)[mark:]:  # what the failed copy left half-done
                memo.pop(key, None)
            reason = " ".join(str(error).split()) or type(error).__name__
            shared.append(f"{type(value).__module__}.{type(value).__qualname__} can't be copied ({reason[:200]})")
            return value

    def unchanged(self, origin: Any, value: Any) -> bool:
        """Whether the branch's ``value`` (from ``isolate(origin)``) still is the origin."""
        return same_value(origin, value, self.views)

    def absorb(self, other: Isolation) -> None:
        """Take over a child branch's frozen arrays once its values merged into ours."""
        self.frozen.extend(other.frozen)

    def thaw(self) -> None:
        """Make what this branch froze writable again: its values reached the root."""
        np = sys.modules.get("numpy")
        for values in self.frozen:
            if np is not None and isinstance(values, np.ndarray):
                try:
                    values.flags.writeable = True
                except ValueError:
                    pass  # its memory's owner became read-only meanwhile: leave it
            else:
                values._readonly = False
        self.frozen.clear()


_NO_VIEWS: dict[int, _View] = {}


def same_value(a: Any, b: Any, views: dict[int, _View] | None = None) -> bool:
    """Same content, never by an ambiguous ``==``, never raising (see the module doc).

    ``views`` (from an ``Isolation``) lets an untouched pandas copy or numpy view count
    as its origin in O(1) per object instead of a content comparison.
    """
    if a is b:
        return True
    try:
        return _same(a, b, views or _NO_VIEWS, set())
    except Exception:  # RecursionError on absurd depths included: call it different
        return False


def _same(a: Any, b: Any, views: dict[int, _View], seen: set[tuple[int, int]]) -> bool:
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return a == b or (a != a and b != b)
    if kind in _ATOMIC:
        return a == b
    pair = (id(a), id(b))
    if pair in seen:
        return True  # a cycle: equal so far, judged where it started
    seen.add(pair)
    view = views.get(id(b))
    if view is not None and view.origin is a:
        if view.parts is None:
            if not b.flags.writeable:
                return True
        elif _same_parts(view.parts, _frame_parts(b)):
            return True
    if kind is dict:
        return len(a) == len(b) and all(
            _same(ka, kb, views, seen) and _same(va, vb, views, seen)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if kind in _SEQUENCES:
        return len(a) == len(b) and all(_same(x, y, views, seen) for x, y in zip(a, b, strict=True))
    if kind is set or kind is frozenset:
        return _same_set(a, b, views, seen)
    if _ndarray(a):
        return _same_array(a, b, views, seen)
    if _pandas_frame(a):
        return _same_frame(a, b, views, seen)
    if kind is bytearray or kind is memoryview:
        return a == b
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(a, pd.Index):
        return a.dtype == b.dtype and list(a.names) == list(b.names) and bool(a.equals(b))
    return _same_state(a, b, views, seen)


def _same_parts(before: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    held_before, labels_before = before
    held_now, labels_now = now
    return (
        len(held_before) == len(held_now)
        and all(x is y for x, y in zip(held_before, held_now, strict=True))
        and same_value(labels_before, labels_now)
    )


def _same_set(a: Any, b: Any, views: dict[int, _View], seen: set[tuple[int, int]]) -> bool:
    if len(a) != len(b):
        return False
    if all(is_atomic(x) for x in a) and all(is_atomic(y) for y in b):
        return a == b
    unmatched = list(a)  # copies of identity-hashed items hash elsewhere: match by content
    for item in b:
        for i, candidate in enumerate(unmatched):
            if _same(candidate, item, views, seen):
                del unmatched[i]
                break
        else:
            return False
    return True


def _same_array(a: Any, b: Any, views: dict[int, _View], seen: set[tuple[int, int]]) -> bool:
    np = sys.modules["numpy"]
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.hasobject:
        return all(_same(x, y, views, seen) for x, y in zip(a.flat, b.flat, strict=True))
    if a.dtype.kind in "fcmM":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _same_frame(a: Any, b: Any, views: dict[int, _View], seen: set[tuple[int, int]]) -> bool:
    return same_value(_frame_parts(a)[1], _frame_parts(b)[1]) and bool(a.equals(b))


def _same_state(a: Any, b: Any, views: dict[int, _View], seen: set[tuple[int, int]]) -> bool:
    """Objects by what the copy protocol sees of them (class, args, state, items)."""
    try:
        ra, rb = a.__reduce_ex__(4), b.__reduce_ex__(4)
    except Exception:
        if type(a).__eq__ is object.__eq__:  # type: ignore[comparison-overlap]  # typeshed's signatures differ
            return False
        result = a == b
        return isinstance(result, bool) and result
    if isinstance(ra, str) or isinstance(rb, str):
        return False  # named globals are shared, never copied: different objects differ
    ra, rb = _expand(ra), _expand(rb)
    if ra[0] is not rb[0] and ra[0] != rb[0]:
        return False
    return all(_same(x, y, views, seen) for x, y in zip(ra[1:], rb[1:], strict=True))


def _expand(reduced: tuple[Any, ...]) -> tuple[Any, ...]:
    parts = list(reduced) + [None] * (6 - len(reduced))
    for i in (3, 4):  # list and dict items come as iterators
        if parts[i] is not None:
            parts[i] = list(parts[i])
    return tuple(parts[:5])
