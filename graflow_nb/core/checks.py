"""Argument checks shared by the authoring API and the runtime: one wording per kind of
bad value, raised where the value is given, before anything runs.

graflow accepts most settings unchecked and fails much later (a string timeout is a
``TypeError`` deep in a worker thread, a NaN timeout never fires, ``max_steps=0`` runs
nothing and reports success).  Here every such value is refused at once, with the
type graflow's own checks use (``TypeError`` for the wrong kind of value,
``ValueError`` for a value out of range) and a message that names the owner (task,
group, argument) and stays short even when the value is a 10 MB string.

>>> check_timeout(0.5, "task 'a'")
0.5
>>> check_timeout(float("nan"), "task 'a'")
Traceback (most recent call last):
ValueError: task 'a': timeout must be a finite number of seconds > 0, got nan
>>> check_count("3", "max_retries", "task 'a'", minimum=0)
Traceback (most recent call last):
TypeError: task 'a': max_retries must be an int >= 0, got '3' (str)
"""

from __future__ import annotations

import math
from typing import Any

# Parallel groups nested deeper than this are refused (at wiring time, when a run
# forks, and in pipeline files).  Each level costs about ten Python frames on the
# thread that runs it, so 32 levels stay far below Python's recursion limit even
# inside a notebook kernel's own stack; real workflows nest a handful of levels.
MAX_GROUP_DEPTH = 32

_SHOWN = 60  # characters of a user value quoted in a message


def shown(value: Any, limit: int = _SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a hostile value can't make a
    message longer than a screen."""
    try:
        text = repr(value)
    except Exception:  # a value whose repr raises still gets named
        text = f"<{type(value).__name__} object>"
    return clip(text, limit)


def clip(text: str, limit: int = 300) -> str:
    """``text``, or its first ``limit`` characters or so and how long it was."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 20, 10)] + f"...({len(text)} chars)"


def describe(value: Any) -> str:
    """``'3' (str)``: the value and its type, for "expected X, got ..." messages."""
    return f"{shown(value)} ({type(value).__name__})"


def check_id(value: Any, what: str) -> str:
    """A task or group id: a non-empty string (any characters; renders quote them)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a non-empty string, got {describe(value)}")
    if not value:
        raise ValueError(f"{what} must be a non-empty string, got ''")
    return value


def check_timeout(value: Any, owner: str, name: str = "timeout") -> float | None:
    """Seconds, finite and > 0, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number of seconds (or None), got {describe(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a finite number of seconds > 0, got {value!r}")
    return value


def check_count(value: Any, name: str, owner: str, minimum: int, optional: bool = False) -> int | None:
    """An int >= ``minimum`` (bools are not counts); None passes when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value}")
    return value
