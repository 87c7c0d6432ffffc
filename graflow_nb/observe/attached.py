"""Listeners a workflow keeps for all its runs (``wf.observers``), found by kind.

The notebook layer attaches one listener of a kind to a workflow and finds it again
later: the output capture a ``GraphView`` reads, the magics' event recorder.  One of
each kind, so attaching twice never records everything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Listener = TypeVar("Listener", bound=Callable[..., Any])


def attached(workflow: Any, kind: type[Listener]) -> Listener | None:
    """The listener of ``kind`` on ``workflow``'s runs, if one is attached."""
    for observer in getattr(workflow, "observers", ()):
        if isinstance(observer, kind):
            return observer
    return None


def attach_once(workflow: Any, kind: type[Listener]) -> Listener:
    """The listener of ``kind`` on ``workflow``'s runs, made (``kind()``) and attached
    on first use."""
    found = attached(workflow, kind)
    if found is None:
        found = kind()
        workflow.observers.append(found)
    return found
