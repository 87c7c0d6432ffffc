"""Tracebacks that show the user's frames, not the engine's.

A task that raises inside a branch travels through the pool, the coordinator, the
engine loop and the magic before it reaches the cell: sixty lines of which two are the
user's.  The magics raise the error again with every frame of this package (and of
``threading``) removed from its traceback and from those of its causes, and mark their
own frames ``__tracebackhide__`` so IPython hides them too.  What is left is the cell
line and the task's own lines, plus the note the engine adds (task and session).

The exception objects are the ones the run record keeps (``wf.last_run``): their
tracebacks are shortened in place, which is what the person looking at them wants.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

import graflow_nb

_HIDDEN_DIRS = (os.path.dirname(os.path.abspath(graflow_nb.__file__)) + os.sep,)
_HIDDEN_FILES = frozenset({os.path.abspath(threading.__file__)})


def is_engine_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_HIDDEN_DIRS) or path in _HIDDEN_FILES


def user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback without this package's frames."""
    kept = []
    while tb is not None:
        if not is_engine_file(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for item in reversed(kept):
        out = TracebackType(out, item.tb_frame, item.tb_lasti, item.tb_lineno)
    return out


def strip_engine_frames(error: BaseException) -> BaseException:
    """Shorten ``error``'s traceback and those of its causes and contexts; returns it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = user_traceback(exc.__traceback__)
        pending.extend((exc.__cause__, exc.__context__))
        pending.extend(getattr(exc, "errors", {}).values() if isinstance(getattr(exc, "errors", None), dict) else ())
    return error


def raise_for_cell(error: BaseException, filename: str) -> None:
    """Raise ``error`` with only user frames; an error with none (the engine's own, such
    as ``ParallelGroupError``) is raised from line 1 of ``filename``, the magic's line
    in the cached cell source, so the traceback ends at the cell, not in the magic."""
    __tracebackhide__ = True
    strip_engine_frames(error)
    if error.__traceback__ is not None:
        raise error
    exec(compile("raise error", filename, "exec"), {"error": error})
