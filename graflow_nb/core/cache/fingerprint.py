"""Content fingerprints of values, by kind, at any depth; what can't be read is refused.

``fingerprint(value)`` is a 32-byte BLAKE2b digest of a canonical byte stream:

- atoms (None, bool, int, float, complex, str, bytes, range...) by type and value
  (floats by ``float.hex``, so ``-0.0`` and ``0.0`` differ and a NaN equals itself);
- lists, tuples and dicts item by item, in order (a dict's order can change what a
  task does); sets by their items' digests, sorted; a ``X | Y`` type by its members;
- numpy arrays by dtype, shape and bytes (object arrays item by item);
- pandas frames by columns, index, dtypes, attrs and every value; series likewise;
- other objects by what the copy protocol sees (``__reduce_ex__(4)``: class, args,
  state, items), classes and functions of installed modules by qualified name;
- a class defined in the notebook (``__main__``, or inside a function), and so an
  instance of one, by the digest of its definition when the caller hands in
  ``classes`` (the cache's ``KeyMaker.class_digest``: its source, fields and
  methods), so a cell run again unchanged, which makes a new class object, changes
  nothing, and an edit to the class changes every fingerprint of its instances.

The walk is a loop over an explicit stack, so nesting deeper than any recursion
limit is fine, and a value met twice (shared or cyclic) is written as a back
reference.  A value nothing above can read (a lock, a generator, an open file, a
function defined in the notebook) raises ``Unfingerprintable`` with the reason:
a cache never guesses.
"""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Callable
from typing import Any

DIGEST_SIZE = 32
_blake2b = hashlib.blake2b

_ATOMS = (type(None), bool, int, str, bytes, range, type(Ellipsis), type(NotImplemented))
_ATOM_PREFIX = {kind: b"A" + kind.__name__.encode() + b":" for kind in _ATOMS}  # as the walk writes them


class Unfingerprintable(Exception):
    """A value the cache cannot identify by content; its message says which and why."""


ClassDigests = Callable[[type], bytes]
"""The digest of a class's definition, for classes that have no importable name."""


def fingerprint(value: Any, classes: ClassDigests | None = None) -> bytes:
    """The digest of ``value``'s content (module docstring); ``Unfingerprintable`` if
    some part of it can't be read.  ``classes`` digests the definition of a class
    defined in the notebook (without it, such a class is refused)."""
    prefix = _ATOM_PREFIX.get(type(value))
    if prefix is not None:  # the walk's first step for a lone atom, without the walk
        return _blake2b(prefix + repr(value).encode() + b";", digest_size=DIGEST_SIZE).digest()
    return _Walk(classes).digest(value)


def _qualified(obj: Any) -> str | None:
    """``module:qualname`` for a class or function importable by that name from an
    installed (non-notebook) module, else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<locals>" in qualname:
        return None
    if module == "__main__" or module not in sys.modules:
        return None
    return f"{module}:{qualname}"


class _Walk:
    """One fingerprint: the hash being fed, every container met so far (kept alive,
    so an id is never reused while the walk runs), and what opens each object of a
    class read by the copy protocol (its name, or its definition's digest)."""

    def __init__(self, classes: ClassDigests | None = None) -> None:
        self.hash = hashlib.blake2b(digest_size=DIGEST_SIZE)
        self.memo: dict[int, int] = {}
        self.alive: list[Any] = []
        self.classes = classes
        self.openers: dict[type, bytes] = {}

    def digest(self, value: Any) -> bytes:
        stack: list[Any] = [value]
        feed = self.hash.update
        while stack:
            item = stack.pop()
            kind = type(item)
            if kind is _Raw:
                feed(item.data)
                continue
            if kind in _ATOMS:
                feed(b"A" + kind.__name__.encode() + b":" + repr(item).encode() + b";")
                continue
            if kind is float:
                feed(b"F" + item.hex().encode() + b";")
                continue
            if kind is complex:
                feed(b"C" + item.real.hex().encode() + b"," + item.imag.hex().encode() + b";")
                continue
            seen = self.memo.get(id(item))
            if seen is not None:
                feed(b"M" + str(seen).encode() + b";")
                continue
            self.memo[id(item)] = len(self.memo)
            self.alive.append(item)
            self._container(item, kind, stack, feed)
        return self.hash.digest()

    def _container(self, item: Any, kind: type, stack: list[Any], feed: Any) -> None:
        if kind is list or kind is tuple:
            feed(b"L" + kind.__name__.encode() + str(len(item)).encode() + b"[")
            stack.append(_Raw(b"]"))
            stack.extend(reversed(item))
            return
        if kind is dict:
            feed(b"D" + str(len(item)).encode() + b"{")
            stack.append(_Raw(b"}"))
            for key, val in reversed(list(item.items())):
                stack.append(val)
                stack.append(key)
            return
        if kind is set or kind is frozenset:
            digests = sorted(fingerprint(member, self.classes) for member in item)
            feed(b"S" + kind.__name__.encode() + str(len(digests)).encode() + b"{" + b"".join(digests) + b"}")
            return
        if _is_ndarray(item):
            self._array(item, stack, feed)
            return
        if _is_pandas(item):
            self._pandas(item, stack, feed)
            return
        if kind is types.UnionType:  # an annotation such as `int | None`, which pickle refuses
            feed(b"U")
            stack.append(item.__args__)
            return
        if isinstance(item, (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)):
            name = item.__name__ if isinstance(item, types.ModuleType) else _qualified(item)
            if name is None:
                if self.classes is not None and isinstance(item, type):
                    feed(b"K" + self.classes(item) + b";")
                    return
                raise Unfingerprintable(f"{_describe(item)} is defined in the notebook: it has no stable name")
            feed(b"G" + name.encode() + b";")
            return
        self._reduced(item, kind, stack, feed)

    def _array(self, array: Any, stack: list[Any], feed: Any) -> None:
        feed(b"N" + array.dtype.str.encode() + repr(array.shape).encode())
        if array.dtype.hasobject:
            stack.append(array.tolist())
            return
        if array.flags.c_contiguous:
            try:
                feed(memoryview(array))
                return
            except (TypeError, ValueError):  # a dtype with no buffer format (datetime64...)
                pass
        feed(array.tobytes())

    def _pandas(self, value: Any, stack: list[Any], feed: Any) -> None:
        pd = sys.modules["pandas"]
        if isinstance(value, pd.DataFrame):
            feed(b"P" + str(value.shape).encode())
            stack.append(_Raw(b";"))
            for name in reversed(list(range(value.shape[1]))):
                stack.append(value.iloc[:, name])
            stack.append([str(dtype) for dtype in value.dtypes])
            stack.append(value.index)
            stack.append(value.columns)
            stack.append(dict(value.attrs))
            return
        if isinstance(value, pd.Series):
            feed(b"Q" + str(value.dtype).encode() + b":")
            stack.append(_Raw(b";"))
            stack.append(_column_bytes(pd, value))
            stack.append(value.name)
            stack.append(dict(value.attrs))
            return
        # An Index (labels, names, dtype), wherever it appears.
        feed(b"I" + type(value).__name__.encode() + str(value.dtype).encode())
        stack.append(_column_bytes(pd, value))
        stack.append(list(value.names))

    def _reduced(self, item: Any, kind: type, stack: list[Any], feed: Any) -> None:
        try:
            reduced = item.__reduce_ex__(4)
        except Exception as error:
            raise Unfingerprintable(f"{_describe(item)} can't be read by the copy protocol ({error})") from None
        if isinstance(reduced, str):
            name = _qualified(item) or f"{getattr(item, '__module__', '?')}:{reduced}"
            feed(b"G" + name.encode() + b";")
            return
        parts = list(reduced) + [None] * (6 - len(reduced))
        for i in (3, 4):
            if parts[i] is not None:
                parts[i] = list(parts[i])
        opener = self.openers.get(kind)
        if opener is None:
            opener = self.openers[kind] = self._opener(kind)
        feed(opener)
        stack.append(_Raw(b")"))
        stack.extend(reversed(parts[:5]))

    def _opener(self, kind: type) -> bytes:
        """What opens an object of ``kind``: its name, or for a notebook class the
        digest of its definition (whatever its ``__reduce__`` puts in the args)."""
        if self.classes is not None and _qualified(kind) is None:
            return b"RK" + self.classes(kind) + b"("
        return b"R" + kind.__module__.encode() + b"." + kind.__qualname__.encode() + b"("


class _Raw:
    """Bytes to feed as they are when the walk reaches them (a container's close)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


def _column_bytes(pd: Any, values: Any) -> Any:
    """One column's (or index's) values as something the walk can feed: its raw bytes
    for a plain numeric dtype, else pandas' own per-value hash (strings, categories,
    objects), else its values one by one."""
    kind = getattr(values.dtype, "kind", "O")
    if kind in "biufcmM" and type(values.dtype).__module__ == "numpy":
        return _Raw(values.to_numpy().tobytes())
    try:
        return _Raw(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    except (TypeError, ValueError):
        return list(values)


def _is_ndarray(value: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def _is_pandas(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series, pd.Index))


def _describe(value: Any) -> str:
    kind = type(value)
    name = getattr(value, "__qualname__", None) if isinstance(value, (type, types.FunctionType)) else None
    what = f"{kind.__module__}.{kind.__qualname__}"
    return f"{what} {name!r}" if name else f"a {what}"
