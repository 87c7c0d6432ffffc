"""``DebugGate``: the thread side of the step debugger.

Every session of a debugged run calls the gate on its own thread (``core.gate``) and
the gate holds it by not returning.  The controller (``Debugger``, on the kernel
thread) releases held sessions one at a time and then waits until the run is
*quiescent*: every session is held here, waiting at a group barrier, not started
because its group is throttled, or finished.  Only then is the picture it shows true.

State (one condition variable, ``_cond``, guards all of it; held session threads wait
on it for their release, the controller waits on it for quiescence):

    stops:    {session_id: Stop}      sessions blocked in the gate now, and where
    running:  {session_id: Activity}  released (or never held) and not back yet: what
                                      the session is doing
    seen:     {session_id: context}   every session that ever called the gate
    ended:    {session_id}            sessions that stopped running (``session_ended``)
    free:     {session_id}            sessions (with their descendants) that run
                                      without being held, until a breakpoint hits
    history:  [TaskEnded]             every task that ended, in order

A session moves   forked -> held -> running -> held -> ... -> ended
and a session running a parallel group node is "waiting" once every branch it forked
is held, waiting, throttled or ended (not all ended: then it is about to merge).

Everything that can bring the run to rest is announced, and wakes the controller at
once, so it never polls: a gate call; ``session_ended`` when a session stops running
(a branch that runs out of tasks makes no other call); the end of the run
(``mark_finished``).  Branches a group closes without running them are followed by a
gate call or the end of their parent's session.  A paused session that ``resume`` runs
again is held or running once more, which outranks ``ended``.  A run with
``ready_parallel=True`` dispatches a session's ready tasks to the pool from its own
thread: there a step is one dispatch, and the task's end shows at the session's next
gate call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import PicklableError
from ..core.runtime.gate import Gate
from ..core.runtime.interruptible import wait_slice
from .breakpoints import Breakpoints

if TYPE_CHECKING:
    from ..core.context import ExecutionContext
    from ..core.runtime.run import Run, SessionRecord

HELD, RUNNING, WAITING, PENDING, DONE = "held", "running", "waiting", "pending", "done"
_STARTING = "starting"  # forked, not at the gate yet: unsettled, shown as running
_UNSETTLED = (RUNNING, _STARTING)


class DebuggerTimeout(PicklableError, TimeoutError):
    """A debugged run did not come to rest in time (a task still running, or stuck)."""


@dataclass(eq=False)
class Activity:
    """What a released session is doing until its next gate call."""

    kind: str  # task | group | after | merge
    task_id: str
    group: Any = None
    known_children: frozenset[str] = frozenset()  # a group node: children from earlier forks

    @property
    def expected(self) -> int:
        """Branch sessions the group forks (a direct group runs in its own session; a
        map's count is known only once it forks, all at once: 0)."""
        if self.group is None or self.group.backend == "direct" or self.group.is_map:
            return 0
        return len(self.group.tasks)

    def limit(self, forked: int) -> int:
        """How many of the group's ``forked`` branches can run at once."""
        group = self.group
        return getattr(group, "max_concurrency", None) or group.backend_config.get("thread_count") or forked


@dataclass(eq=False)
class Stop:
    """One held session: where it stopped, and what it will do when released."""

    kind: str  # before | after | merge
    session_id: str
    task_id: str
    context: ExecutionContext
    activity: Activity
    breakpoint: bool = False
    branches: list[tuple[str, Any, Any]] = field(default_factory=list)  # merge: (member, ctx, outcome)
    released: bool = False

    @property
    def where(self) -> str:
        return f"{'at merge of' if self.kind == 'merge' else self.kind} {self.task_id}"


@dataclass(frozen=True)
class TaskEnded:
    session_id: str
    task_id: str
    error: BaseException | None


class DebugGate(Gate):
    """The engine's gate under the step debugger: holds each session before its next task
    until the debugger lets it go."""

    def __init__(self, breakpoints: Breakpoints):
        self.breakpoints = breakpoints
        self.run: Run | None = None
        self.stops: dict[str, Stop] = {}
        self.running: dict[str, Activity] = {}
        self.seen: dict[str, ExecutionContext] = {}
        self.ended: set[str] = set()
        self.free: set[str] = set()
        self.free_all = False
        self.passthrough = False  # run_to_end: no holds, breakpoints ignored
        self.cancelled = False
        self.finished = False  # the run's thread returned
        self.history: list[TaskEnded] = []
        # Guards every field above but breakpoints (see the module docstring); held
        # sessions wait on it for their release, the controller for quiescence.
        self._cond = threading.Condition(threading.Lock())

    # -- called by the engine, on the session's own thread -----------------------------
    def before_task(self, ctx: ExecutionContext, task: Any) -> None:
        with self._cond:
            if task.is_group:
                closed = {r.session_id for r in ctx.run.children(ctx.session_id) if r.state != "open"}
                activity = Activity("group", task.task_id, task, frozenset(closed))
            else:
                activity = Activity("task", task.task_id)
            hit = self.breakpoints.halts_before(task)
            self._arrive(ctx, Stop("before", ctx.session_id, task.task_id, ctx, activity, hit))

    def after_task(self, ctx: ExecutionContext, task: Any, result: Any, error: BaseException | None) -> None:
        with self._cond:
            self.history.append(TaskEnded(ctx.session_id, task.task_id, error))
            hit = self.breakpoints.halts_after(task)
            activity = Activity("after", task.task_id)
            if hit:
                self._arrive(ctx, Stop("after", ctx.session_id, task.task_id, ctx, activity, True))
            else:
                self.running[ctx.session_id] = activity
                self._cond.notify_all()

    def before_merge(self, group: Any, parent: ExecutionContext, branches: list[tuple[str, Any, Any]]) -> None:
        with self._cond:
            activity = Activity("merge", group.task_id)
            hit = self.breakpoints.halts_at_merge(group)
            stop = Stop("merge", parent.session_id, group.task_id, parent, activity, hit, list(branches))
            self._arrive(parent, stop)

    def session_ended(self, ctx: ExecutionContext) -> None:
        with self._cond:
            self.running.pop(ctx.session_id, None)
            self.ended.add(ctx.session_id)
            self._cond.notify_all()

    def _arrive(self, ctx: ExecutionContext, stop: Stop) -> None:
        """Hold the session here unless it runs freely (caller holds _cond)."""
        sid = ctx.session_id
        if self.run is None:
            self.run = ctx.run
        self.seen[sid] = ctx
        if not self._should_hold(ctx, stop.breakpoint):
            self.running[sid] = stop.activity
            self._cond.notify_all()
            return
        self.running.pop(sid, None)
        self.stops[sid] = stop
        self._cond.notify_all()
        while not stop.released:
            self._cond.wait()

    def _should_hold(self, ctx: ExecutionContext, hit: bool) -> bool:
        if self.cancelled or self.passthrough:
            return False
        if hit:
            self.free_all = False
            self.free.clear()
            return True
        return not self._is_free(ctx)

    def _is_free(self, ctx: ExecutionContext) -> bool:
        if self.free_all:
            return True
        node: ExecutionContext | None = ctx
        while node is not None:
            if node.session_id in self.free:
                return True
            node = node.parent_context
        return False

    # -- called by the controller ------------------------------------------------------
    def release(self, session_id: str) -> Stop:
        with self._cond:
            stop = self.stops.pop(session_id)
            self.running[session_id] = stop.activity
            stop.released = True
            self._cond.notify_all()
            return stop

    def free_session(self, session_id: str) -> None:
        """Let ``session_id`` and its branches run unheld; release those held now."""
        with self._cond:
            self.free.add(session_id)
            for sid, stop in list(self.stops.items()):
                if self._is_free(stop.context):
                    del self.stops[sid]
                    self.running[sid] = stop.activity
                    stop.released = True
            self._cond.notify_all()

    def release_all(self, free: bool = True, passthrough: bool = False) -> None:
        with self._cond:
            self.free_all = self.free_all or free
            self.passthrough = self.passthrough or passthrough
            for sid, stop in list(self.stops.items()):
                self.running[sid] = stop.activity
                stop.released = True
            self.stops.clear()
            self._cond.notify_all()

    def cancel(self) -> None:
        """Stop holding anyone and cancel the run; held sessions return and see it."""
        with self._cond:
            self.cancelled = True
            if self.run is not None:
                self.run.cancel_event.set()
        self.release_all(free=True)

    def mark_finished(self) -> None:
        with self._cond:
            self.finished = True
            self._cond.notify_all()

    def wait_finished(self, timeout: float) -> bool:
        """True once the run's thread has returned, False after ``timeout`` seconds.

        Used instead of ``Thread.join``: on Python 3.11 a join interrupted by Ctrl-C
        marks a still-running thread as stopped, and every later join returns at once.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.finished, timeout)

    def held(self) -> list[Stop]:
        """Held sessions in a stable order: session order (declaration), then id."""
        with self._cond:
            stops = list(self.stops.values())
        return sorted(stops, key=lambda s: (s.context.record.order_key, s.session_id))

    def held_tasks(self) -> dict[str, str]:
        return {s.task_id: s.session_id for s in self.held() if s.kind == "before"}

    def queued(self, record: SessionRecord) -> list[str]:
        """What the session will run after the task it is at, in order."""
        return record.queued

    def statuses(self) -> dict[str, str]:
        """Every session's status now: held, running, waiting, pending or done."""
        with self._cond:
            return {sid: RUNNING if st == _STARTING else st for sid, st in self._statuses().items()}

    def wait_quiescent(self, timeout: float) -> None:
        """Return once no session is running; DebuggerTimeout after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self.finished:
                    return
                unsettled = [sid for sid, st in self._statuses().items() if st in _UNSETTLED]
                if self.run is not None and not unsettled:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DebuggerTimeout(self._explain(unsettled, timeout))
                self._cond.wait(wait_slice(remaining))  # in slices on the main thread: a Ctrl-C ends it

    # -- status of the session tree (caller holds _cond) -------------------------------
    def _statuses(self) -> dict[str, str]:
        out: dict[str, str] = {}
        run = self.run
        if run is None:
            return out
        root = run.sessions.get(run.root_session_id)
        if root is not None:
            self._visit(root, out)
        return out

    def _visit(self, rec: SessionRecord, out: dict[str, str]) -> str:
        sid = rec.session_id
        if sid in self.stops:
            status = HELD
        elif sid in self.running:  # before ended: a paused session may run again
            activity = self.running[sid]
            status = self._group_status(rec, activity, out) if activity.kind == "group" else RUNNING
        elif sid in self.ended or rec.state != "open":
            status = DONE
        else:
            status = _STARTING
        out.setdefault(sid, status)
        for kid in self.run.children(sid):
            if kid.session_id not in out:
                self._visit(kid, out)
        return out[sid]

    def _group_status(self, rec: SessionRecord, activity: Activity, out: dict[str, str]) -> str:
        kids = [
            k
            for k in self.run.children(rec.session_id)
            if k.group_id == activity.task_id and k.session_id not in activity.known_children
        ]
        statuses = [self._visit(k, out) for k in kids]
        if len(kids) < activity.expected:
            return RUNNING  # still forking
        busy = sum(s in (HELD, WAITING, RUNNING) for s in statuses)
        if busy >= activity.limit(len(kids)):
            for kid, status in zip(kids, statuses, strict=True):
                if status == _STARTING:
                    out[kid.session_id] = PENDING
            statuses = [PENDING if s == _STARTING else s for s in statuses]
        if any(s in _UNSETTLED for s in statuses) or all(s == DONE for s in statuses):
            return RUNNING
        return WAITING

    def _explain(self, unsettled: list[str], timeout: float) -> str:
        if self.run is None:
            return f"the debugged run did not reach its first task within {timeout} s"
        parts = []
        for sid in unsettled:
            activity = self.running.get(sid)
            if activity is None:
                parts.append(
                    f"session {sid!r} was forked but has not started: every worker thread may be held "
                    f"by the debugger (raise execute's max_workers above the number of held sessions)"
                )
            elif activity.kind == "group":
                parts.append(f"session {sid!r} is still forking {activity.task_id!r}")
            else:
                parts.append(f"session {sid!r} is still running {activity.task_id!r}")
        return (
            f"the debugged run did not come to rest within {timeout} s: {'; '.join(parts)}. "
            f"Wait and look again with state(), raise the debugger's timeout=, or call restart()"
        )
