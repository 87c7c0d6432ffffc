"""Waits that a Ctrl-C ends at once, on the one thread Ctrl-C stops: the main thread.

CPython runs a signal's Python handler (the one raising ``KeyboardInterrupt``) only
when the main thread next executes bytecode; a signal wakes a blocking wait only if
it reaches that wait's system call.  So a SIGINT that arrives while the main thread is
on its way into a wait (past its last bytecode, before the call that sleeps; CPython
3.13 even yields the processor there while it spins on the lock), or one the kernel
hands to another thread (Jupyter's interrupt button signals the process, and any
thread may take a process's signal), leaves the main thread asleep: the interrupt
waits with it, for the wait's whole timeout or for ever.  A wait on the main thread
therefore sleeps at most ``SLICE_SECONDS`` at a time, and each wake-up runs the handler
of a signal that came in meanwhile.  Other threads sleep as long as they are asked:
no handler ever runs there.

>>> import threading
>>> done = threading.Event()
>>> wait_set(done.wait, 0.01)  # sliced on this (main) thread, same answer as done.wait
False
>>> done.set(); wait_set(done.wait, None)
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SLICE_SECONDS = 0.05  # the longest a pending Ctrl-C waits for the main thread to notice


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def wait_slice(timeout: float | None) -> float | None:
    """The timeout to hand one wait (``Condition.wait``, ``Lock.acquire``) inside a loop
    that re-checks its condition after every wake-up: ``timeout`` itself off the main
    thread, at most ``SLICE_SECONDS`` on it."""
    if not on_main_thread():
        return timeout
    return SLICE_SECONDS if timeout is None or timeout > SLICE_SECONDS else timeout


def wait_set(wait: Callable[[float | None], bool], timeout: float | None) -> bool:
    """``wait(timeout)`` for a wait that says True once what it waits for happened (an
    Event's, a Future's), called in slices on the main thread; False on timeout."""
    if not on_main_thread():
        return wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = SLICE_SECONDS if deadline is None else min(SLICE_SECONDS, deadline - time.monotonic())
        if step <= 0:
            return wait(0)
        if wait(step):
            return True

