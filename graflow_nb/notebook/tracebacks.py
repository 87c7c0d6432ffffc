"""Errors raised into a cell with the user's frames only (see ``core.user_frames``).

The magics raise a run's error again with every engine frame removed from its
traceback and from those of its causes, and mark their own frames
``__tracebackhide__`` so IPython hides them too.  What is left is the cell line and
the task's own lines, plus the note the engine adds (task and session).  With
``GRAFLOW_NB_ENGINE_FRAMES=1`` the engine's frames stay (``core.user_frames``).
"""

from __future__ import annotations

from ..core.user_frames import for_caller


def raise_for_cell(error: BaseException, filename: str) -> None:
    """Raise ``error`` with only user frames; an error with none (the engine's own, such
    as ``ParallelGroupError``) is raised from line 1 of ``filename``, the magic's line
    in the cached cell source, so the traceback ends at the cell, not in the magic."""
    __tracebackhide__ = True
    for_caller(error)
    if error.__traceback__ is not None:
        raise error
    exec(compile("raise error", filename, "exec"), {"error": error})
