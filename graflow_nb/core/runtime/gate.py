"""The hook a step debugger uses to hold sessions: called on the thread that runs them.

A run with ``execute(gate=...)`` calls the gate at three points, each on the thread of
the session concerned, and waits for the call to return; a gate holds a session by
not returning yet.  With no gate the engine makes no call at all.

    before_task(ctx, task)     the task was taken off ctx's queue and will run next;
                               ``ctx.task_queue`` holds what comes after it
    after_task(ctx, task, result, error)
                               the task ended (``error`` is None on success)
    before_merge(group, parent, branches)
                               every member of ``group`` ended; ``branches`` is
                               ``[(member_id, branch_ctx, outcome)]`` in declaration
                               order and nothing has been merged yet
    before_end(ctx)            ctx's queue ran out: its session is about to end
    session_ended(ctx)         ctx's session stopped running on this thread (done,
                               failed, cancelled, paused or held)

A drawing asks ``held_tasks()`` (any thread) which tasks a session is held before right
now, so a held task is drawn as held rather than as merely queued.

After ``before_task`` returns the engine checks ``ctx.cancelled`` again, so a gate
that cancels the run (a debugger's restart) stops the session before the task runs.

A gate with ``threads = False`` can't block (no threads to wait on: Pyodide, or a
debugger asked for none).  It holds a session by raising ``errors.SessionHeld`` from
``before_task``, ``before_merge`` or ``before_end``: the session unwinds as a paused
one does (its task back at the head of its queue, each group node it was running
parked with its attempt left open as a ``HeldAttempt``), stays open, and the run
returns with status ``held``.  Driving the root session again resumes it: a session
the gate let go (``released_sessions``) goes on from where it was held, and the gate
lets the group nodes on the way down through again.  Such a run starts no thread: its
groups run on the sequential executor (``Run.threads``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..model.task import Executable, ParallelGroup
    from .session import Session


class HeldAttempt(NamedTuple):
    """A group node's attempt left open while a session below it is held (a gate with
    ``threads = False``): kept on its session as ``awaiting``, so the engine takes the
    same attempt up again when the run resumes (one task run, one start event)."""

    task_context: Any
    record: Any


class Gate:
    threads = True  # False: holds sessions by unwinding them, in a run that starts no thread

    def before_task(self, ctx: Session, task: Executable) -> None:
        return None

    def after_task(self, ctx: Session, task: Executable, result: Any, error: BaseException | None) -> None:
        return None

    def before_merge(self, group: ParallelGroup, parent: Session, branches: list[tuple[str, Any, Any]]) -> None:
        return None

    def before_end(self, ctx: Session) -> None:
        return None

    def session_ended(self, ctx: Session) -> None:
        return None

    def released_sessions(self) -> Collection[str]:
        """Sessions held by unwinding that a resume should run on (none here)."""
        return ()

    def held_tasks(self) -> dict[str, str]:
        """``{task_id: session_id}`` for each task a session is held before now (none here)."""
        return {}
