"""Has a session's loop returned?  Answered from the stacks of the running threads.

The engine calls the gate when a session is about to run a task, after it ran one and
before a merge, but not when a branch session simply runs out of tasks: its loop
returns and its thread goes back to the pool (or to the barrier of the group that
forked it, when it ran inline there).  A debugger that waits until every session is
held, waiting or finished must notice that silent end, or it would wait forever for a
branch that will never call again.

At a gate call the session's thread is inside the frames that run that session: the
engine's loop, the frames that called it with the session's context, and, for a
branch, the pool job that runs the branch.  The outermost of those frames (walking up
from the gate call while a frame holds the context in a local variable) returns only
when the session has ended.  CPython keeps one frame object per executing frame, so
the session is still running exactly while that object is on its thread's stack.
Locals are read only on the calling thread, at the gate call; later checks compare
frame identities only.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any


class LoopMarker:
    """The loop frame of one session and the thread running it."""

    __slots__ = ("frame", "thread_id")

    def __init__(self, frame: FrameType, thread_id: int):
        self.frame = frame
        self.thread_id = thread_id

    def alive(self) -> bool:
        """True while the session's loop frame is still on its thread's stack."""
        frame = sys._current_frames().get(self.thread_id)
        while frame is not None:
            if frame is self.frame:
                return True
            frame = frame.f_back
        return False


def session_frame(ctx: Any, frame: FrameType) -> FrameType:
    """The outermost of the consecutive frames from ``frame`` up that hold ``ctx``."""
    found = frame
    frame = frame.f_back
    while frame is not None and _holds(frame, ctx):
        found = frame
        frame = frame.f_back
    return found


def _holds(frame: FrameType, ctx: Any) -> bool:
    for name, value in frame.f_locals.items():
        if value is ctx:
            return True
        if name == "self" and getattr(value, "__dict__", {}).get("ctx") is ctx:
            return True
    return False
