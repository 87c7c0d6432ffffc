"""Step types: what ``"type": ...`` in a step means, and how to add your own.

A step type is a function ``run(params, step) -> result``: ``params`` are the step's
params with every template already substituted, ``step`` a ``StepContext`` (id, session,
timeout, attempt, the engine's task context).  Register one with the decorator::

    from graflow_nb.pipeline import step_type

    @step_type("greet", params_schema={"type": "object", "required": ["name"]})
    def greet(params, step):
        return {"text": f"hello {params['name']}"}

or ship it in a package under the entry point group ``graflow_nb.step_types``
(``greet = "mypkg.steps:greet"``, the object being such a function or a ``StepType``).
Entry points are read the first time an unknown type name is looked up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .base import StepContext, StepType
from .http import HTTP
from .python import PYTHON
from .shell import SHELL

__all__ = [
    "ENTRY_POINT_GROUP", "StepContext", "StepType", "get_step_type", "known_step_types", "register_step_type",
    "reload_entry_points", "step_type", "unregister_step_type",
]

ENTRY_POINT_GROUP = "graflow_nb.step_types"


_registry: dict[str, StepType] = {}
_lock = threading.Lock()
_entry_points_loaded = False


def register_step_type(
    name: str,
    run: Callable[[dict[str, Any], StepContext], Any] | StepType,
    *,
    params_schema: dict[str, Any] | None = None,
    supports_timeout: bool = False,
    replace: bool = False,
) -> StepType:
    """Make ``"type": name`` available to every pipeline loaded after this call."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a step type needs a non-empty name, got {name!r}")
    step_type_obj = run if isinstance(run, StepType) else StepType(name, run, params_schema, supports_timeout)
    if not callable(step_type_obj.run):
        raise TypeError(f"step type {name!r}: {step_type_obj.run!r} is not callable")
    with _lock:
        if name in _registry and not replace:
            raise ValueError(f"step type {name!r} is already registered; pass replace=True to override it")
        _registry[name] = step_type_obj
    return step_type_obj


def step_type(
    name: str, *, params_schema: dict[str, Any] | None = None, supports_timeout: bool = False, replace: bool = False
) -> Callable[[Callable[[dict[str, Any], StepContext], Any]], Callable[[dict[str, Any], StepContext], Any]]:
    """Decorator form of ``register_step_type``; returns the function unchanged."""

    def wrap(func: Callable[[dict[str, Any], StepContext], Any]) -> Callable[[dict[str, Any], StepContext], Any]:
        register_step_type(name, func, params_schema=params_schema, supports_timeout=supports_timeout, replace=replace)
        return func

    return wrap


def unregister_step_type(name: str) -> None:
    """Forget the step type ``name`` (nothing happens if it is not registered)."""
    with _lock:
        _registry.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    for entry in found:
        if entry.name in _registry:
            continue
        loaded = entry.load()
        register_step_type(entry.name, loaded, replace=True)


def reload_entry_points() -> None:
    """Read the ``graflow_nb.step_types`` entry points again (after installing a plugin)."""
    global _entry_points_loaded
    with _lock:
        _entry_points_loaded = False
    _load_entry_points()


def get_step_type(name: str) -> StepType | None:
    """The registered type called ``name`` (entry points are consulted once), or None."""
    found = _registry.get(name)
    if found is None and not _entry_points_loaded:
        _load_entry_points()
        found = _registry.get(name)
    return found


def known_step_types() -> list[str]:
    _load_entry_points()
    return sorted(_registry)


for _builtin in (PYTHON, SHELL, HTTP):
    _registry[_builtin.name] = _builtin
