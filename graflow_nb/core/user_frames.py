"""Tracebacks that show the user's frames, not the engine's.

A task that raises inside a branch travels through the pool, the coordinator and the
engine loop before it reaches the caller: sixty lines of which two are the user's.
``strip_engine_frames`` removes every frame of this package (and of ``threading``)
from an error's traceback and from those of its causes, leaving the caller's lines
and the task's own.  The notebook's magics use it for every error they show; a plain
``execute()``, ``resume()`` or ``PausedRun.resume()`` for every error it raises
(``for_caller``), once per run and never per task, so the hot path pays nothing.

The engine's frames are shown on request: set the environment variable
``GRAFLOW_NB_ENGINE_FRAMES=1`` (``%env GRAFLOW_NB_ENGINE_FRAMES=1`` in a notebook)
and errors keep their whole traceback.  IPython's own ``__tracebackhide__`` cannot
do this alone: the frames a task's error passes through run once per task, and plain
Python ignores the convention.

The exception objects are the ones the run record keeps (``wf.last_run``): their
tracebacks are shortened in place, which is what the person looking at them wants.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

ENGINE_FRAMES_VARIABLE = "GRAFLOW_NB_ENGINE_FRAMES"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HIDDEN_DIRS = (_PACKAGE_DIR + os.sep,)
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


def shows_engine_frames() -> bool:
    """True when the person asked for the engine's frames (``GRAFLOW_NB_ENGINE_FRAMES``
    set to anything but ``""``, ``0``, ``no`` or ``false``)."""
    return os.environ.get(ENGINE_FRAMES_VARIABLE, "").strip().lower() not in ("", "0", "no", "false")


def for_caller(error: BaseException) -> BaseException:
    """``error`` as a caller of the engine should see it: without the engine's frames,
    unless they were asked for (``shows_engine_frames``)."""
    return error if shows_engine_frames() else strip_engine_frames(error)
