"""What tests synchronise on and read, so that a green run means the named path ran.

No test here waits for a guess of time: a thread that must have reached a point says so
through an event the product emits, a state the product exposes, or a barrier.  Every
wait has the generous bound ``WAIT``; only a broken product ever reaches it, and then
the test fails saying what it was waiting for.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from graflow_nb import task
from graflow_nb.core.events import Event, EventKind

WAIT = 10.0  # seconds; far beyond any healthy wait, so a busy machine never trips it
_POLL = 0.002


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Return ``condition()`` once it is truthy; fail naming ``what`` if it never is.

    For state the product exposes but announces with no event (``ctx.cancelled``,
    ``run.status``, a pending question); poll it, never sleep a guessed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(_POLL)


def wait_for_main_thread_in(function: str) -> None:
    """Return once the main thread is executing ``function`` (anywhere in its stack).

    For a worker that must interrupt the main thread while it waits in a known place
    (a Ctrl-C that has to land in the waiting loop, not before it): the interpreter's
    own view of the main thread's frames, not a guess of how long it takes to get there.
    """
    main = threading.main_thread().ident

    def inside() -> bool:
        frame = sys._current_frames().get(main)
        while frame is not None:
            if frame.f_code.co_name == function:
                return True
            frame = frame.f_back
        return False

    wait_until(inside, f"the main thread to be inside {function}()")


class Calls:
    """What the tasks under test were called: thread-safe, called from inside tasks.

    ``order`` is every call in call order, ``counts`` the calls per name, and for each
    name the session ids it was given (``sessions``) and the thread of its last call
    (``threads``).  ``task(name)`` makes a task that records its call."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.counts: Counter[str] = Counter()
        self.sessions: dict[str, list[str]] = {}
        self.threads: dict[str, str] = {}
        # Guards every field above: each branch thread records its calls.
        self._lock = threading.Lock()

    def hit(self, name: str, session: str | None = None) -> None:
        with self._lock:
            self.order.append(name)
            self.counts[name] += 1
            self.sessions.setdefault(name, []).append(session or "")
            self.threads[name] = threading.current_thread().name

    def count(self, name: str) -> int:
        with self._lock:
            return self.counts[name]

    __getitem__ = count

    def index(self, name: str) -> int:
        """Position of ``name``'s first call."""
        with self._lock:
            return self.order.index(name)

    def task(self, name: str, then: Callable[[], Any] | None = None, **options: Any) -> Any:
        """A task ``name`` that records its call, then returns ``then()`` (or raises
        what ``then`` raises)."""

        def body() -> Any:
            self.hit(name)
            return then() if then is not None else None

        return task(name, **options)(body)


class EventWaiter:
    """An observer that keeps every event and lets another thread wait for one.

    Observers run on the emitting thread, so a task can wait here for an event from a
    sibling branch (``waiter.wait_for(EventKind.TASK_FINISHED, task_id="a")``).
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        # Guards events: every emitting thread appends, waiting threads read.  Its
        # default lock is an RLock, so wait_for's predicate can call matching().
        self._changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def matching(self, kind: EventKind, session_id: str | None = None, task_id: str | None = None) -> list[Event]:
        with self._changed:
            return [
                e
                for e in self.events
                if e.kind == kind
                and (session_id is None or e.session_id == session_id)
                and (task_id is None or e.task_id == task_id)
            ]

    def wait_for(
        self, kind: EventKind, session_id: str | None = None, task_id: str | None = None, timeout: float = WAIT
    ) -> Event:
        """The first ``kind`` event (of that session / task), waiting until it is emitted."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.matching(kind, session_id, task_id), timeout):
                raise AssertionError(f"no {kind} event (session {session_id}, task {task_id}) within {timeout} s")
            return self.matching(kind, session_id, task_id)[0]

    def clear(self) -> None:
        """Forget what was seen (before running the same workflow again)."""
        with self._changed:
            self.events.clear()

    def kinds(self, session_id: str | None = None) -> list[tuple[str, str | None]]:
        """``(kind, task_id)`` of every event (of one session), in emission order."""
        with self._changed:
            return [(e.kind.value, e.task_id) for e in self.events if session_id is None or e.session_id == session_id]


class Gauge:
    """How many instrumented task bodies are running at once, the peak, start order and
    run counts.

    ``hold_until(n)`` keeps a body inside until the gauge has *seen* ``n`` bodies at
    once, so a peak that a concurrency limit allows is certainly reached however the
    threads are scheduled; a limit that is too low makes the wait fail by name.
    """

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[str] = []
        self.runs: dict[str, int] = {}
        # Guards now, peak, starts and runs: every branch thread enters and leaves.
        self._changed = threading.Condition()

    def enter(self, name: str) -> None:
        with self._changed:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.append(name)
            self.runs[name] = self.runs.get(name, 0) + 1
            self._changed.notify_all()

    def leave(self) -> None:
        with self._changed:
            self.now -= 1

    def hold_until(self, peak: int, timeout: float = WAIT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.peak >= peak, timeout):
                raise AssertionError(f"never {peak} bodies at once (peak {self.peak}, started {self.starts})")

    def reset(self) -> None:
        with self._changed:
            self.now = self.peak = 0
            self.starts.clear()
            self.runs.clear()


def spans(run: Any, task_ids: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """``{task_id: (start, end)}`` of each task's last attempt, from the run record."""
    out = {tr.task_id: (tr.start, tr.end) for tr in run.finished_runs()}
    return out if task_ids is None else {t: out[t] for t in task_ids}


def overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    """True if two (start, end) intervals share a moment: both were running at once."""
    return first[0] < second[1] and second[0] < first[1]
