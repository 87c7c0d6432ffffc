"""Keeping a run's events, so ``events_frame`` and the explainers can read them later.

The engine builds no event at all unless an observer listens, and a ``Run`` keeps
none: a run only has an event stream if something recorded it.  Two things do:

- the live view (``execute(..., live=True)``) records the run it shows;
- ``record(wf)`` adds a ``Recorder`` to ``wf.observers``, recording every later run.

Either files the events on the run itself (``run.event_logs``, keyed by who keeps
them), so they go when the run does, e.g. when ``wf.runs`` drops it; ``events_of(run)``
finds them.  Not in a weak table beside the run: a failed task's event holds its error,
whose traceback holds the run, and a weak key whose value holds it is never freed.
When both record one run, each keeps its own complete copy and the later one is found.

A ``Recorder`` is one observer shared by all runs of its workflow, so it must tell
which run an event belongs to.  Inside a session the engine says so
(``core.model.scope.running_session``).  Outside one, the event names the root session, and the run
is the newest of ``wf.runs`` with that root (for ``RUN_STARTED`` and the start node's
``TASK_ENQUEUED`` that follows it, the newest still running).  Two runs of one
workflow with the same session id at the same time would be told apart only inside
their sessions.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..core.events import Event, EventKind, EventLog
from ..core.model.scope import running_session

if TYPE_CHECKING:
    from ..core.runtime.run import Run

# Guards writes to runs' event_logs: a Recorder files its log from whichever thread
# brings a run's first event (reads need no lock).
_LOCK = threading.Lock()

NOTHING_RECORDED = (
    "run {run} kept no events: execute with live=True, or call graflow_nb.observe.record(wf) before executing, "
    "or pass observers=[EventLog()] and give the log to events_frame()"
)


def keep_events(run: Run, log: EventLog) -> None:
    """File ``log`` as the event stream of ``run``."""
    with _LOCK:
        run.event_logs[log] = log


def events_of(run: Run) -> list[Event]:
    """The events recorded for ``run`` (the log filed last), in arrival order;
    LookupError if none were."""
    logs = run.event_logs
    if not logs:
        raise LookupError(NOTHING_RECORDED.format(run=run.root_session_id))
    return list(next(reversed(list(logs.values()))).events)


class Recorder:
    """An observer filing each event of ``workflow``'s runs under its run."""

    def __init__(self, workflow: Any):
        self.workflow = workflow

    def __call__(self, event: Event) -> None:
        ctx = running_session()
        if ctx is not None and ctx.workflow is self.workflow:
            run = ctx.run
        else:
            starting = event.kind is EventKind.RUN_STARTED or event.kind is EventKind.TASK_ENQUEUED
            run = self._find(event.session_id, running=starting)
            if run is None:
                return  # not a run of this workflow
        # Its own log of the run, filed under itself: a live view may file the same run
        # too, and each must keep one copy of each event.
        log = run.event_logs.get(self)
        if log is None:
            log = self._start_log(run)
        log(event)

    def _start_log(self, run: Run) -> EventLog:
        with _LOCK:
            log = run.event_logs.get(self)
            if log is None:
                log = run.event_logs[self] = EventLog()
        return log

    def _find(self, root_session_id: str, running: bool) -> Run | None:
        """The newest run of the workflow with this root session (a running one for
        RUN_STARTED: an earlier run may have used the same session id)."""
        for run in reversed(list(self.workflow.runs)):
            if run.root_session_id == root_session_id and (run.status == "running" or not running):
                return run
        return None

    def stop(self) -> None:
        """Stop recording later runs (what was recorded stays with its runs)."""
        observers = self.workflow.observers
        observers[:] = [o for o in observers if o is not self]


def record(workflow: Any) -> Recorder:
    """Record the events of every later run of ``workflow`` (once: a second call
    returns the same recorder)."""
    for observer in workflow.observers:
        if isinstance(observer, Recorder):
            return observer
    recorder = Recorder(workflow)
    workflow.observers.append(recorder)
    return recorder
