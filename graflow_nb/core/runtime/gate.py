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
    session_ended(ctx)         ctx's session stopped running on this thread (done,
                               failed, cancelled or paused)

A drawing asks ``held_tasks()`` (any thread) which tasks a session is held before right
now, so a held task is drawn as held rather than as merely queued.

After ``before_task`` returns the engine checks ``ctx.cancelled`` again, so a gate
that cancels the run (a debugger's restart) stops the session before the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.task import Executable, ParallelGroup
    from .session import Session


class Gate:
    def before_task(self, ctx: Session, task: Executable) -> None:
        return None

    def after_task(self, ctx: Session, task: Executable, result: Any, error: BaseException | None) -> None:
        return None

    def before_merge(self, group: ParallelGroup, parent: Session, branches: list[tuple[str, Any, Any]]) -> None:
        return None

    def session_ended(self, ctx: Session) -> None:
        return None

    def held_tasks(self) -> dict[str, str]:
        """``{task_id: session_id}`` for each task a session is held before now (none here)."""
        return {}
