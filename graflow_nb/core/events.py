"""The event stream every observer (metrics, renders, debugger, tracer) is built on.

Emitting is guarded by ``EventBus.active`` at each call site, so a run with no
observers builds no event objects at all: the cost is one attribute read.
Observers are called synchronously on the thread that emitted the event (a worker
thread for branch events); an observer that draws must hand the work to the thread
that owns its output, never print from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    SESSION_FORKED = "session_forked"
    SESSION_CLOSED = "session_closed"
    TASK_ENQUEUED = "task_enqueued"
    TASK_STARTED = "task_started"
    TASK_FINISHED = "task_finished"
    TASK_FAILED = "task_failed"
    TASK_RETRIED = "task_retried"
    TASK_SKIPPED = "task_skipped"
    DYNAMIC_TASK_ADDED = "dynamic_task_added"
    GROUP_STARTED = "group_started"
    GROUP_FINISHED = "group_finished"
    BRANCH_MERGED = "branch_merged"
    SESSION_PAUSED = "session_paused"
    TASK_RESUMED = "task_resumed"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened: ``data`` carries the kind-specific details.

    Details by kind: SESSION_FORKED ``parent``, ``group``, ``member``;
    SESSION_CLOSED ``state``, ``enqueued``, ``dequeued``; TASK_FINISHED ``attempt``;
    TASK_FAILED ``attempt``, ``error``, ``will_retry``; GROUP_STARTED / GROUP_FINISHED
    ``members``, ``state``; BRANCH_MERGED ``group``, ``member``, ``changes``
    (``{key: new_value}`` as the parent saw it after this branch's merge).
    """

    kind: EventKind
    session_id: str
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    thread: str = field(default_factory=lambda: threading.current_thread().name)


Observer = Callable[[Event], None]


class EventBus:
    """Fan-out of events to observers; one bus per run, shared by all its sessions."""

    def __init__(self, observers: list[Observer] | None = None):
        self._observers: tuple[Observer, ...] = tuple(observers or ())
        self.active = bool(self._observers)
        # Guards replacement of the observer tuple; emit reads the tuple without it.
        self._lock = threading.Lock()

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        with self._lock:
            self._observers = self._observers + (observer,)
            self.active = True

        def unsubscribe() -> None:
            with self._lock:
                self._observers = tuple(o for o in self._observers if o is not observer)
                self.active = bool(self._observers)

        return unsubscribe

    def __getstate__(self) -> dict[str, Any]:
        return {}  # observers are live callbacks of this process; a restored run has none

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self)

    def emit(self, kind: EventKind, session_id: str, task_id: str | None = None, **data: Any) -> None:
        event = Event(kind, session_id, task_id, data)
        for observer in self._observers:
            observer(event)


class EventLog:
    """An observer that keeps every event, for inspection after (or during) a run."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        # list.append is atomic under the GIL; no lock needed for appends.

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_kind(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
