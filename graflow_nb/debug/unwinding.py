"""The step debugger without threads: a gate that holds a session by unwinding it, and
a run driven one leg per move on the calling thread.

Where threads can't start (Pyodide) or aren't wanted (``wf.debug(threads=False)``: a
deterministic run to teach with), no session can wait inside the gate.  Instead the
gate raises ``SessionHeld`` (``core.runtime.gate``): the session unwinds as one paused
for human input does, its task back at the head of its queue, every group node above
it parked with its attempt left open, and ``execute`` returns with the run ``held``.
A move (``step``, ``continue_``) releases stops exactly as the threaded gate does and
then drives the root session again: the group nodes on the way down are let through
(``inside``), only the branches holding a released session are run again
(``released_sessions``), and the released session goes on from its stop until it, or
another session, is held again.  When the leg returns, every session is held, waiting,
asking for input or done: the run is at rest, with no thread to wait for.

What this gate adds to ``DebugGate``'s state (``debug.gate``):

    going:     {session_id: Stop}  stops released since the last leg, not reached again
    inside:    {session_id: {group_id}}  group nodes a session has started and not ended:
                                   reaching one again is the resume passing through
    after_due: {session_id: Stop}  a ``halt_after`` hit, held at the session's next gate
                                   call (its next task, or its end): the session's
                                   successors are queued by then, so a stop "after X"
                                   shows them in its queue
    ending:    {session_id}        sessions whose queue ran out (``before_end`` passed):
                                   their ``session_ended`` is an end, not an unwinding

Groups run on the sequential executor here, so a group's members go one after another:
each runs until it is held (before its first task, when stepped one at a time), then
the next starts.  Only one session executes at any moment.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from ..core.checkpoint import autosave
from ..core.errors import SessionHeld
from ..core.user_frames import for_caller
from .breakpoints import Breakpoints
from .gate import Activity, DebugGate, Stop, TaskEnded

if TYPE_CHECKING:
    from ..core.context import ExecutionContext
    from ..core.runtime.run import SessionRecord
    from ..core.workflow import WorkflowContext


class UnwindingGate(DebugGate):
    """``DebugGate``'s holds, made by unwinding the held session instead of blocking its thread."""

    threads = False

    def __init__(self, breakpoints: Breakpoints):
        super().__init__(breakpoints)
        self.going: dict[str, Stop] = {}
        self.inside: dict[str, set[str]] = {}
        self.after_due: dict[str, Stop] = {}
        self.ending: set[str] = set()

    # -- called by the engine, on the one thread ---------------------------------------
    def before_task(self, ctx: ExecutionContext, task: Any) -> None:
        sid = ctx.session_id
        if task.is_group and task.task_id in self.inside.get(sid, ()):
            return  # the resume on its way down to a session below this group node
        due = self.after_due.pop(sid, None)
        if due is not None:
            self._arrive(ctx, due)
        super().before_task(ctx, task)
        if task.is_group:
            self.inside.setdefault(sid, set()).add(task.task_id)

    def after_task(self, ctx: ExecutionContext, task: Any, result: Any, error: BaseException | None) -> None:
        sid = ctx.session_id
        self.history.append(TaskEnded(sid, task.task_id, error))
        if task.is_group:
            self.inside.get(sid, set()).discard(task.task_id)
        activity = Activity("after", task.task_id)
        self.running[sid] = activity
        # A failed task's session is failing: nothing is left to hold it for.
        if error is None and self.breakpoints.halts_after(task):
            self.after_due[sid] = Stop("after", sid, task.task_id, ctx, activity, True)

    def before_end(self, ctx: ExecutionContext) -> None:
        sid = ctx.session_id
        due = self.after_due.pop(sid, None)
        if due is not None:
            self._arrive(ctx, due)
        else:
            self.going.pop(sid, None)  # let go from a stop after its last task: it ends now
        self.ending.add(sid)

    def session_ended(self, ctx: ExecutionContext) -> None:
        sid = ctx.session_id
        if ctx.record.state == "open" and sid not in self.ending:
            return  # unwound for a hold (its own or a branch's): it goes on when resumed
        self.ending.discard(sid)
        self.inside.pop(sid, None)
        self.going.pop(sid, None)  # let go, it stopped before reaching its stop again (a cancel)
        super().session_ended(ctx)

    def _arrive(self, ctx: ExecutionContext, stop: Stop) -> None:
        """Hold the session (raise ``SessionHeld``) unless it runs freely, or this is the
        stop the debugger released, reached again by the resume."""
        sid = ctx.session_id
        if self.run is None:
            self.run = ctx.run
        self.seen[sid] = ctx
        going = self.going.pop(sid, None)
        if going is not None and (going.kind, going.task_id) == (stop.kind, stop.task_id):
            if self.cancelled:
                # Seen now, where the threaded gate's sessions see it as they wake.
                ctx.run.cancel_event.set()
            self.running[sid] = going.activity
            return
        if not self._should_hold(ctx, stop.breakpoint):
            self.running[sid] = stop.activity
            return
        self.running.pop(sid, None)
        self.stops[sid] = stop
        raise SessionHeld(sid)

    def released_sessions(self) -> Collection[str]:
        return list(self.going)

    def queued(self, record: SessionRecord) -> list[str]:
        """The session's queue as the threaded gate shows it: without the task it is
        held before, or the group node it waits in, which unwinding put back at its head."""
        queued = record.queued
        stop = self.stops.get(record.session_id)
        at = {stop.task_id} if stop is not None and stop.kind != "after" else set()
        if queued and (queued[0] in at or queued[0] in self.inside.get(record.session_id, ())):
            return queued[1:]
        return queued

    # -- called by the debugger, between legs ------------------------------------------
    def release(self, session_id: str) -> Stop:
        stop = super().release(session_id)
        self.going[session_id] = stop
        return stop

    def free_session(self, session_id: str) -> None:
        held = dict(self.stops)
        super().free_session(session_id)
        self.going.update({sid: stop for sid, stop in held.items() if sid not in self.stops})

    def release_all(self, free: bool = True, passthrough: bool = False) -> None:
        held = dict(self.stops)
        super().release_all(free, passthrough)
        self.going.update(held)

    def cancel(self) -> None:
        """Hold no one; the run's cancel is set as the resume reaches the first released
        stop, so the group nodes on the way down stop as they would with threads."""
        self.cancelled = True
        self.release_all(free=True)

    def wait_quiescent(self, timeout: float) -> None:
        return None  # between legs nothing runs

    def wait_finished(self, timeout: float) -> bool:
        return self.finished


class UnwoundRun:
    """One execution of the workflow under an ``UnwindingGate``: no thread; every move
    drives one leg of the run on the calling thread, until it is held again or ends."""

    def __init__(self, workflow: WorkflowContext, start: str | None, options: dict[str, Any], breakpoints: Breakpoints):
        self.gate = UnwindingGate(breakpoints)
        self.result: Any = None
        self.error: BaseException | None = None
        self._workflow = workflow
        self._start = start
        self._options = options

    def start(self) -> None:
        self._leg(lambda: self._workflow.execute(self._start, gate=self.gate, **self._options))

    def settle(self, timeout: float) -> None:
        """Drive the run on if a move released anything; at rest again when it returns
        (``timeout`` is moot: nothing runs beside this thread)."""
        if not self.gate.finished and self.gate.going:
            self._leg(self._resume, resumed=True)

    def join(self, timeout: float) -> bool:
        """Drive the run until it ends (``run_to_end``, a cancel: nothing is held then)."""
        while not self.gate.finished:
            if not self.gate.going:
                return False
            self._leg(self._resume, resumed=True)
        return True

    def _resume(self) -> Any:
        run = self.gate.run
        assert run is not None and run.root_context is not None  # a held run has started
        try:
            return run.root_context.execute()
        except BaseException as error:
            __tracebackhide__ = True
            raise for_caller(error)

    def _leg(self, go: Callable[[], Any], resumed: bool = False) -> None:
        """One leg of the run; ``resumed``: driven here (not by ``execute``, which saves
        the run's checkpoint itself), so a run that ends paused, failed or cancelled is
        saved here if it has a ``checkpoint_dir``."""
        try:
            outcome = go()
        except BaseException as error:
            self.error = error
            self._finish(resumed)
            if not isinstance(error, Exception):
                raise  # Ctrl-C (or SystemExit) while a task ran: the run stopped, and says so
            return
        run = self.gate.run
        if run is not None and run.status == "held":
            return
        self.result = outcome
        self._finish(resumed)

    def _finish(self, resumed: bool) -> None:
        run = self.gate.run
        if run is not None and run.gate is self.gate:
            # A run that paused for input is resumed later without this debugger.
            run.gate = None
        if run is not None and resumed:
            autosave(run)
        self.gate.mark_finished()
