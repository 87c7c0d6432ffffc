"""What a cache entry keeps of a call (its result, channel changes and controls), as
pickled bytes, so a replay hands out fresh objects that nothing changed in place.

Classes are pickled by name, so a replay builds its objects from the class of that
name now: for a class defined in the notebook, the one the cell defined last.  That
is the class a replay must hand out (a value made by a re-run cell's class compares
equal to the replayed one, and ``isinstance`` holds), and it can't be stale: the entry
is taken only while the key, which covers the class's definition wherever a task uses
it, is unchanged.

A class pickle can't find by its name (one defined inside a function, or a notebook
class whose name now means another object) is held by reference instead, in the
entry's ``objects``: such an entry stays in this process (``Entry.portable``), and its
replay hands out instances of that very class.  Only a payload the plain pickle
refused is pickled this slower way.

A Dask worker has none of the notebook's classes in its ``__main__``: there, a class
pickle can't find by its name in ``__main__`` is taken from the globals of the task
being replayed (cloudpickle brought them with its function), if it names it.

A class whose ``__getattr__`` answers every name (a wrapper that hands each lookup to
the object it wraps, or one that raises) can't be unpickled as it is: pickle asks the
instance it is building for ``__setstate__``, and the wrapper's ``__getattr__`` runs on
an instance that has no state yet (and recurses, or raises).  A payload the plain
unpickler can't load is loaded again by one that looks ``__setstate__`` up on the
class, as Python looks up every other special method.
"""

from __future__ import annotations

import io
import pickle
import sys
from collections.abc import Callable, Mapping
from typing import Any, cast

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def dump(payload: Any, objects: list[Any]) -> bytes:
    """``payload`` pickled; classes without a findable name are appended to ``objects``
    and pickled as their index there.  Raises what pickle raises for anything else."""
    try:
        return pickle.dumps(payload, protocol=_PROTOCOL)
    except (pickle.PicklingError, AttributeError):
        buffer = io.BytesIO()
        _HoldingPickler(buffer, objects).dump(payload)
        return buffer.getvalue()


def load(data: bytes, objects: tuple[Any, ...], names: Mapping[str, Any]) -> Any:
    """``dump``'s bytes back as fresh objects, held classes taken from ``objects``;
    ``names``: where to find a ``__main__`` class that isn't there (module docstring)."""
    try:
        if not objects:
            return pickle.loads(data)
        return _HoldingUnpickler(io.BytesIO(data), objects).load()
    except Exception:
        return _PatientUnpickler(io.BytesIO(data), objects, names).load()


class _HoldingPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, objects: list[Any]) -> None:
        super().__init__(file, protocol=_PROTOCOL)
        self.objects = objects
        # id(class) -> its persistent id (None: pickled by name): each class is looked at
        # once, however many instances refer to it (the payload keeps them alive).
        self.held: dict[int, tuple[str, int] | None] = {}

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, type):
            return None
        if id(obj) in self.held:
            return self.held[id(obj)]
        held = None
        if not _found_by_name(obj):
            self.objects.append(obj)
            held = ("class", len(self.objects) - 1)
        self.held[id(obj)] = held
        return held


class _HoldingUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, objects: tuple[Any, ...]) -> None:
        super().__init__(file)
        self.objects = objects

    def persistent_load(self, pid: Any) -> Any:
        return self.objects[pid[1]]


class _PatientUnpickler(pickle._Unpickler):
    """pickle's own unpickler (in Python), but a ``__main__`` class it can't find is
    looked up in ``names``, and ``__setstate__`` on the instance's class (module
    docstring)."""

    stack: list[Any]  # pickle's own, while it loads

    def __init__(self, file: io.BytesIO, objects: tuple[Any, ...], names: Mapping[str, Any]) -> None:
        super().__init__(file)
        self.objects = objects
        self.names = names

    def persistent_load(self, pid: Any) -> Any:
        return self.objects[pid[1]]

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except AttributeError:
            if module != "__main__" or name.split(".")[0] not in self.names:
                raise
            found = self.names[name.split(".")[0]]
            for part in name.split(".")[1:]:
                found = getattr(found, part)
            return found

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        setstate = getattr(type(inst), "__setstate__", None)
        if setstate is not None:
            setstate(inst, state)
            return
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        if state:
            inst.__dict__.update(state)
        if slots:
            for name, value in slots.items():
                setattr(inst, name, value)

    dispatch = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: cast(Callable[[pickle.Unpickler], None], load_build)}


def _found_by_name(cls: type) -> bool:
    """Whether pickle finds ``cls`` itself by its module and qualified name."""
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
        if found is None:
            return False
    return found is cls
