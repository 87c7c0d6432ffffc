"""Stopping the threads that execute a run's tasks when the run is interrupted.

Python cannot kill a thread.  CPython can make one raise an exception at its next
bytecode boundary (``PyThreadState_SetAsyncExc``); that is how an interrupted run stops
a pure-Python loop running in a task on a worker thread.  ``TaskThreads`` knows which
threads execute one of this run's tasks right now, and delivers ``RunInterrupted``
only to those.

Guarantees:
- delivered only to a thread between the start and the end of one of this run's task
  attempts; never to the thread asking, to a pool thread between jobs, or to a thread
  of another run;
- at most once per attempt; a delivery that lands just as the attempt ends is withdrawn
  before the thread leaves it, so it never fires in engine code or in a later job;
- a task that starts after ``interrupt`` (it passed its session's cancel check just
  before) is delivered to by the next ``interrupt`` call: ``stop_tasks`` calls it while
  it waits.

Limits:
- a thread blocked in C (``time.sleep``, a socket read, ``Event.wait`` without a
  timeout, a long numpy call) only sees the exception when it returns to Python.  After
  ``STOP_GRACE_SECONDS`` ``stop_tasks`` gives up on it: the attempt is recorded as
  ``abandoned``, its session is closed ``abandoned``, and what it returns or raises
  later is discarded: its branch is never merged, and what it writes through
  ``ctx.get_channel()`` after that goes to a throwaway overlay.  A channel object it
  fetched *before* it was given up on still writes where it did: for a root-session
  task (only possible when the run executes off the interrupted thread, as in the
  notebook) that is the root channel;
- a task that catches ``BaseException`` (or ``KeyboardInterrupt``) can swallow it.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..data.channel import BranchChannel
from ..errors import RunInterrupted

STOP_GRACE_SECONDS = 1.0  # how long stop_tasks waits for interrupted tasks to end
POLL_SECONDS = 0.01

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)  # the exception type, or NULL to withdraw
_set_async_exc.restype = ctypes.c_int
_new_lock = threading.Lock
_get_ident = threading.get_ident
_FINAL_SESSION_STATES = frozenset({"merged", "failed", "cancelled", "closed", "discarded", "abandoned"})


def ctrl_c_here(error: BaseException) -> bool:
    """``error`` is a Ctrl-C that reached this thread: a ``KeyboardInterrupt`` other than
    our own ``RunInterrupted``, on the main thread (the only one Python delivers signals
    to).  The thread must hand it up, never sit waiting for other tasks with it."""
    return (
        isinstance(error, KeyboardInterrupt)
        and not isinstance(error, RunInterrupted)
        and threading.current_thread() is threading.main_thread()
    )


class RunningTask:
    """The task attempt one thread executes for a run, if any (one per thread, reused).

    ``ended`` is held while no attempt runs: the thread releases it when an attempt
    starts and takes it back when it ends; ``interrupt`` delivers only while it can take
    that lock itself, so delivering and ending never overlap."""

    __slots__ = ("ident", "context", "task_context", "record", "ended", "delivered")

    def __init__(self, ident: int):
        self.ident = ident
        self.context: Any = None  # the session's Session
        self.task_context: Any = None  # the TaskExecutionContext the task was given, if any
        self.record: Any = None  # its TaskRun
        self.ended = _new_lock()
        self.ended.acquire()
        self.delivered = False

    def begin(self, context: Any, task_context: Any, record: Any) -> RunningTask:
        """This thread starts an attempt of ``record``'s task; it ends when the thread
        takes ``ended`` back (see ``TaskThreads.withdraw``)."""
        self.context, self.task_context, self.record, self.delivered = context, task_context, record, False
        self.ended.release()
        return self

    @property
    def running(self) -> bool:
        return not self.ended.locked()

    def describe(self) -> str:
        return f"{self.record.task_id} ({self.record.session_id})"


class TaskThreads:
    """The threads executing a run's tasks right now, keyed by thread id.

    ``enter`` starts an attempt on the calling thread; the attempt ends when the
    thread takes ``entry.ended`` (see ``withdraw``)."""

    def __init__(self) -> None:
        self._running: dict[int, RunningTask] = {}

    def here(self) -> RunningTask:
        """The calling thread's entry, to ``begin`` its next attempt with.  A session
        loop takes it once and begins each task's attempt on it: no other code on this
        thread begins an attempt on it meanwhile (an attempt started inside one of
        those attempts finds it running and gets an entry of its own)."""
        ident = _get_ident()
        entry = self._running.get(ident)
        if entry is None:
            entry = self._running[ident] = RunningTask(ident)
        elif not entry.ended.locked():  # an attempt inside an attempt: the outer one is reachable
            entry = RunningTask(ident)
        return entry

    def enter(self, context: Any, task_context: Any, record: Any) -> RunningTask:
        """The calling thread starts an attempt of ``record``'s task."""
        return self.here().begin(context, task_context, record)

    @staticmethod
    def withdraw(entry: RunningTask) -> None:
        """The attempt ended: drop a delivery that has not fired yet.

        The thread ends an attempt with ``entry.ended.acquire()`` written inline in a
        ``finally`` (one C call: a pending delivery can fire right after it, never
        before it is done), then calls this if ``entry.delivered``."""
        _set_async_exc(entry.ident, None)

    def running(self) -> list[RunningTask]:
        """Attempts still executing, oldest first."""
        return sorted((e for e in list(self._running.values()) if e.running), key=lambda e: e.record.start)

    def interrupt(self) -> list[RunningTask]:
        """Deliver ``RunInterrupted`` into every running attempt's thread, except the
        caller's; returns the attempts still running."""
        me = threading.get_ident()
        for entry in self.running():
            if entry.delivered or entry.ident == me or not entry.ended.acquire(blocking=False):
                continue
            try:
                entry.delivered = _set_async_exc(entry.ident, id(RunInterrupted)) == 1
            finally:
                entry.ended.release()
        return self.running()


class StoppableRun(Protocol):
    """What stopping reads and writes of a run (``core.run.Run``, which keeps its
    ``TaskThreads`` and so imports this module)."""

    cancel_event: threading.Event
    task_threads: TaskThreads
    abandoned_any: bool
    settled: bool
    sessions: dict[str, Any]

    def close_session(self, session_id: str, state: str) -> Any: ...


def stop_tasks(run: StoppableRun, finished: Callable[[], bool] | None = None, grace: float | None = None) -> list[RunningTask]:
    """Cancel ``run``, stop its running tasks and wait (at most ``grace`` seconds,
    default ``STOP_GRACE_SECONDS``) until none of them runs and ``finished()`` (if
    given) is true.

    A ``KeyboardInterrupt`` while waiting (a second Ctrl-C) stops the wait at once.
    Attempts still running then are abandoned (``abandon``) and returned."""
    run.cancel_event.set()
    threads = run.task_threads
    me = threading.get_ident()
    deadline = time.monotonic() + (STOP_GRACE_SECONDS if grace is None else grace)
    try:
        while [e for e in threads.interrupt() if e.ident != me] or (finished is not None and not finished()):
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    stuck = [e for e in threads.running() if e.ident != me]
    if stuck or (finished is not None and not finished()):
        abandon(run, stuck)
    return stuck


def abandon(run: StoppableRun, stuck: list[RunningTask]) -> None:
    """Give up on attempts that did not stop: record them ``abandoned``, close their
    sessions ``abandoned`` and every other open session ``cancelled``, so the run's
    record is final now; the late threads can change none of it (``Run.settled``)."""
    run.abandoned_any = True
    now = time.time()
    for entry in stuck:
        entry.record.status = "abandoned"
        entry.record.end = now  # when it was given up on: it is not drawn as running
        entry.context.abandon()  # closed "abandoned" unless it had ended already
        # What it writes through ctx.get_channel() from now on goes nowhere (a task
        # that takes nothing was given no context: it has no ctx.get_channel()).
        task_context = entry.task_context
        if task_context is not None:
            task_context.channel_override = BranchChannel(task_context.get_channel(), f"{entry.record.session_id}/abandoned")
    for record in list(run.sessions.values()):
        if record.state not in _FINAL_SESSION_STATES:
            run.close_session(record.session_id, "cancelled")
    run.settled = True
