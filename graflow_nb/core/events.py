"""The event stream every observer (metrics, renders, debugger, tracer) is built on.

Emitting is guarded by ``EventBus.active`` at each call site, so a run with no
observers builds no event objects at all: the cost is one attribute read.
Observers are called synchronously on the thread that emitted the event (a worker
thread for branch events); an observer that draws must hand the work to the thread
that owns its output, never print from here.

Observers never change a run.  An observer that raises is reported once (an
``ObserverWarning`` naming it and the event kind, and an ``ObserverError`` in
``run.observer_errors``) and muted for the rest of the run; the event still reaches
every other observer, and ``emit`` never raises into the engine.  The same goes for
the run's other hooks (a gate, a tracer, the live view), reported through
``EventBus.call``.
A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
``SystemExit``) is a request to stop, not a bug to report: it is recorded too, and
handed to ``on_stop`` so the run ends the way it would if a task had raised it.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class EventKind(StrEnum):
    """The kind of each event a run emits (``Event.kind``)."""

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
    INPUT_REQUESTED = "input_requested"
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


def _short(value: Any, show: Callable[[Any], str] = repr, limit: int = 200) -> str:
    """``show(value)`` cut to ``limit`` characters; a value whose repr raises is named by type."""
    try:
        text = show(value)
    except Exception:
        text = f"<{type(value).__name__} (its {show.__name__} raised)>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ObserverWarning(RuntimeWarning):
    """An observer or hook raised; the run went on without it."""


class ObserverError(NamedTuple):
    """One observer's failure: ``event`` is the ``Event`` it was given, or for a hook
    (a gate, the live view) the hook's name."""

    observer: Any
    event: Any
    error: BaseException


class EventBus:
    """Fan-out of events to observers; one bus per run, shared by all its sessions.

    ``errors`` is the run's list of ``ObserverError`` (``run.observer_errors``);
    ``on_stop(error)`` is told about a ``BaseException`` an observer or hook raised.
    """

    def __init__(self, observers: list[Observer] | None = None, errors: list[ObserverError] | None = None):
        self._observers: tuple[Observer, ...] = tuple(observers or ())
        self.active = bool(self._observers)
        self.errors: list[ObserverError] = [] if errors is None else errors
        self.on_stop: Callable[[BaseException], None] | None = None
        self.label = ""  # named in warnings (the run's root session id)
        # Guards replacement of the observer tuple and _reported; emit reads the
        # tuple without it.
        self._lock = threading.Lock()
        self._reported: list[Any] = []  # observers and hooks that failed once (by identity)

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        with self._lock:
            self._observers = self._observers + (observer,)
            self.active = True

        def unsubscribe() -> None:
            with self._lock:
                self._drop(observer)

        return unsubscribe

    def _drop(self, observer: Any) -> None:
        """Caller holds _lock."""
        self._observers = tuple(o for o in self._observers if o is not observer)
        self.active = bool(self._observers)

    def __getstate__(self) -> dict[str, Any]:
        return {}  # observers are live callbacks of this process; a restored run has none

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self)

    def emit(self, kind: EventKind, session_id: str, task_id: str | None = None, **data: Any) -> None:
        self.deliver(Event(kind, session_id, task_id, data))

    def deliver(self, event: Event) -> None:
        """Hand a built event to every observer (one that happened elsewhere, say on a
        Dask worker, keeps its own time and thread)."""
        for observer in self._observers:
            try:
                observer(event)
            except BaseException as error:
                self.report(observer, event, error)

    def call(self, hook_owner: Any, hook: str, *args: Any, **kwargs: Any) -> bool:
        """Call ``hook_owner.<hook>(*args, **kwargs)``; on an error report it (once per
        owner) and return False, so a broken hook never changes the run that called it."""
        try:
            getattr(hook_owner, hook)(*args, **kwargs)
            return True
        except BaseException as error:
            self.report(hook_owner, hook, error)
            return False

    def report(self, observer: Any, event: Any, error: BaseException) -> None:
        """Record ``observer``'s first error, warn once and mute it for the rest of the run."""
        with self._lock:
            if any(o is observer for o in self._reported):
                return  # a second event reached it on another thread before it was muted
            self._reported.append(observer)
            self._drop(observer)
        self.errors.append(ObserverError(observer, event, error))
        kind = event.kind if isinstance(event, Event) else event
        stops = not isinstance(error, Exception)
        consequence = "the run stops" if stops else "it is muted for the rest of the run, which goes on unchanged"
        message = (
            f"observer {_short(observer)} raised {type(error).__name__}: {_short(error, str)} on {kind}"
            f"{f' in run {self.label!r}' if self.label else ''}; {consequence} (see run.observer_errors)"
        )
        try:
            warnings.warn(message, ObserverWarning, stacklevel=2)
        except Exception:  # warnings turned into errors: the record above still says it
            pass
        if stops and self.on_stop is not None:
            self.on_stop(error)

    def reported(self, observer: Any) -> bool:
        """True once ``observer`` failed in this run (hooks check it to stay muted)."""
        return any(o is observer for o in self._reported)


class EventLog:
    """An observer that keeps every event, for inspection after (or during) a run."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        # list.append is atomic under the GIL; no lock needed for appends.

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_kind(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
