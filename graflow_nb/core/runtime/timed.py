"""Threads for timed task attempts (``@task(timeout=...)``), reused and bounded.

A timed attempt runs on a thread of its own so the session can stop waiting for it.
Python threads can't be killed, so an attempt that outlives its timeout is
*abandoned*: its thread keeps running the task until the task returns, and then
comes back here for the next attempt like any other.  Threads that finished in time
park for ``KEEPALIVE_SECONDS`` and are reused, so a loop of timed tasks does not
start a thread per attempt.

What is bounded is the leak: at most ``MAX_ABANDONED`` abandoned attempts can be
alive at once in this process.  Past that a new timed attempt is refused with
``AbandonedAttemptsLimitError`` (naming the hung attempts) instead of starting yet
another thread, until one of them returns.

State (``_cond`` guards all of it; idle threads wait on it for work):

    queue:      deque[Attempt]   submitted, no thread took it yet
    idle:       int              threads waiting for an attempt
    starting:   int              threads started that have not looked at the queue yet
    abandoned:  {Attempt}        timed out and still running, in submission order
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import AbandonedAttemptsLimitError
from .interruptible import wait_set

MAX_ABANDONED = 32
KEEPALIVE_SECONDS = 5.0


class Attempt:
    """One timed attempt: what to call, and what came of it."""

    __slots__ = ("call", "label", "done", "result", "error")

    def __init__(self, call: Callable[[], Any], label: str):
        self.call = call
        self.label = label  # "task 'x' in session 'S'", for the refusal message
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as error:  # handed to the waiting session, which raises it
            self.error = error


class TimedAttempts:
    def __init__(self, max_abandoned: int = MAX_ABANDONED, keepalive: float = KEEPALIVE_SECONDS):
        self.max_abandoned = max_abandoned
        self.keepalive = keepalive
        self.threads_started = 0
        self._queue: deque[Attempt] = deque()
        self._idle = 0
        self._starting = 0
        self._abandoned: dict[Attempt, None] = {}
        # Guards every field above; idle threads wait on it.
        self._cond = threading.Condition(threading.Lock())

    def run(self, call: Callable[[], Any], timeout: float, task_id: str, session_id: str) -> tuple[bool, Attempt]:
        """Run ``call`` on a pooled thread and wait up to ``timeout`` seconds.

        Returns ``(finished, attempt)``; when not finished the attempt is abandoned
        (it still runs, and counts against ``max_abandoned`` until it returns).
        """
        attempt = Attempt(call, f"task {task_id!r} in session {session_id!r}")
        with self._cond:
            if len(self._abandoned) >= self.max_abandoned:
                hung = [a.label for a in self._abandoned]
                raise AbandonedAttemptsLimitError(task_id, session_id, self.max_abandoned, hung)
            self._queue.append(attempt)
            start = len(self._queue) > self._idle + self._starting
            if start:
                self._starting += 1
                self.threads_started += 1
            else:
                self._cond.notify()
        if start:
            self._start_thread(attempt)
        try:
            finished = wait_set(attempt.done.wait, timeout)  # in slices: a Ctrl-C ends it
        except BaseException:  # the waiting thread was interrupted: nobody waits any more
            self._abandon(attempt)
            raise
        if finished or not self._abandon(attempt):
            return True, attempt  # (it may have finished just as the wait ended)
        return False, attempt

    def _start_thread(self, attempt: Attempt) -> None:
        """Start the thread counted in ``_starting`` for ``attempt``.

        ``Thread.start()`` waits for the new thread to begin, and a Ctrl-C can land in
        that wait: the new thread may already be running the attempt (a task that
        interrupts at once does exactly that).  So whatever ``start()`` raises, the
        count is settled exactly (``_ThreadStart``), the attempt is withdrawn if no
        thread took it, and an interrupt always propagates: nobody waits for an
        attempt a thread took, it is abandoned like an interrupted wait's."""
        begun = _ThreadStart()
        try:
            threading.Thread(target=self._serve, args=(begun,), name="graflow-timed-attempt", daemon=True).start()
        except BaseException as error:
            with self._cond:
                if not begun.begun:  # it never began, or begins later without counting
                    begun.counted = False
                    self._starting -= 1
                    self.threads_started -= 1
                queued = attempt in self._queue
                if queued:
                    self._queue.remove(attempt)
                elif not isinstance(error, Exception) and not attempt.done.is_set():
                    self._abandoned[attempt] = None  # a thread runs it and nobody waits
            if queued or not isinstance(error, Exception):
                raise
            # no thread to be had, but a thread that just finished took it: it runs after all

    def _abandon(self, attempt: Attempt) -> bool:
        """Count ``attempt`` as abandoned unless it is done; True if it was."""
        with self._cond:
            if attempt.done.is_set():
                return False
            self._abandoned[attempt] = None
            return True

    @property
    def abandoned(self) -> int:
        """How many abandoned attempts are running now."""
        with self._cond:
            return len(self._abandoned)

    def _serve(self, begun: _ThreadStart) -> None:
        with self._cond:
            begun.begun = True
            if begun.counted:
                self._starting -= 1
            self._idle += 1
            while True:
                while not self._queue:
                    if not self._cond.wait(self.keepalive) and not self._queue:
                        self._idle -= 1
                        return  # nothing came within the keepalive: this thread ends
                attempt = self._queue.popleft()
                self._idle -= 1
                self._cond.release()
                try:
                    attempt.run()
                finally:
                    self._cond.acquire()
                self._abandoned.pop(attempt, None)
                # Idle again before the waiting session hears of it, so the session's
                # next timed attempt finds this thread instead of starting another.
                self._idle += 1
                attempt.done.set()


class _ThreadStart:
    """Whether a started thread has begun serving and still counts in ``_starting``:
    read and written under ``TimedAttempts._cond`` by the starter and the thread."""

    __slots__ = ("begun", "counted")

    def __init__(self) -> None:
        self.begun = False
        self.counted = True


# The process's timed-attempt threads: abandoned threads outlive runs, so the bound is
# the process's, not one run's.
ATTEMPTS = TimedAttempts()
