"""A run as pandas frames: one row per session, per task attempt, per event.

``run.sessions`` stays the engine's dict of records; the frames are built on demand
from a snapshot of the run, so they work during a run as well as after it.  Every
column has a fixed dtype, whatever the run held (an empty run gives empty columns of
the same dtypes):

``sessions_frame(run)``: one row per session, depth-first from the root, children in
fork (declaration) order.

    session_id  string          parent_id  string (<NA> for the root)
    depth       int64           group_id   string: the group that forked it (<NA>: root)
    member_id   string          state      string: open, merged, failed, cancelled, closed
    enqueued    int64           dequeued   int64: tasks through its queue (group nodes not counted)
    queued      int64: tasks waiting in its queue now
    tasks_run   int64: task executions it ran, group nodes included (``SessionRecord.tasks_run``)
    worker      string: the Dask worker's address for a session that ran on one, else missing
    start, end  datetime64[ns, UTC] (end NaT while open)
    duration    timedelta64[ns] (NaT while open; ``.dt.total_seconds()`` for floats): fork
                to merge for a branch, so every branch of a group reads about the same
    ran         timedelta64[ns]: from the start of the session's first task attempt to
                the end of its last (what the branch itself took; NaT if it ran none
                or one still runs; nested sessions' tasks not counted)
    resumed     bool: it ran tasks after the run was last resumed from a checkpoint

``tasks_frame(run)``: one row per task attempt (a retried task has one row per
attempt), in canonical order: topological and declaration order, then attempt, so two
runs of one graph list the same rows in the same order whatever the threads did.
Queued-but-never-run tasks have no row (they are in ``run.skipped``).

    task_id     string          session_id  string: where it ran
    kind        string: "task", or "group" for a parallel group node (it runs too: its
                row spans the fork, the branches and the merge)
    dynamic     bool: added at run time (``next_task``, a group built in a branch)
    attempt     int64 (from 1)  status      string: running, succeeded, failed, cancelled
    start, end  datetime64[ns, UTC] (end NaT while running)
    duration    timedelta64[ns] (NaT while running)
    thread      string: the thread that ran it
    error       string: ``"ValueError: message"`` or <NA>
    resumed     bool: it ran after the run was last resumed from a checkpoint (False:
                before, in the process that saved it)
    cached      bool: replayed from the re-run cache instead of called
                (``execute(cache=...)``)
    reason      string: in a run with a cache, what ``run.why`` says of this execution
                ("cached from run <id>", "code of t changed (...)", "input `x` changed",
                "not cached: ..."); <NA> without a cache, and for group nodes

``events_frame(events)``: the raw stream, one row per event in arrival order (a run,
an ``EventLog`` or a list of events).

    time        datetime64[ns, UTC]         kind        string (``EventKind`` value)
    session_id  string                      task_id     string (<NA> if none)
    thread      string                      attempt     Int64 (nullable; task events)
    state       string: the new state of SESSION_CLOSED / GROUP_FINISHED / RUN_FINISHED
    data        object: the event's details dict, as emitted

Times come from ``time.time()`` and convert with ``pd.to_datetime(unit="s", utc=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.events import Event, EventLog
from ..core.model.task import ParallelGroup
from .record import events_of
from .state import RunView

if TYPE_CHECKING:
    from ..core.runtime.run import Run, TaskRun

TIME = "datetime64[ns, UTC]"
SPAN = "timedelta64[ns]"
SESSION_COLUMNS = {
    "session_id": "string",
    "parent_id": "string",
    "depth": "int64",
    "group_id": "string",
    "member_id": "string",
    "state": "string",
    "enqueued": "int64",
    "dequeued": "int64",
    "queued": "int64",
    "tasks_run": "int64",
    "worker": "string",
    "start": TIME,
    "end": TIME,
    "duration": SPAN,
    "ran": SPAN,
    "resumed": "bool",
}
TASK_COLUMNS = {
    "task_id": "string",
    "session_id": "string",
    "kind": "string",
    "dynamic": "bool",
    "attempt": "int64",
    "status": "string",
    "start": TIME,
    "end": TIME,
    "duration": SPAN,
    "thread": "string",
    "error": "string",
    "resumed": "bool",
    "cached": "bool",
    "reason": "string",
}
EVENT_COLUMNS = {
    "time": TIME,
    "kind": "string",
    "session_id": "string",
    "task_id": "string",
    "thread": "string",
    "attempt": "Int64",
    "state": "string",
    "data": "object",
}


def _times(values: list[float | None]) -> pd.Series:
    seconds = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
    return pd.to_datetime(seconds, unit="s", utc=True).astype(TIME)


def _frame(columns: dict[str, str], rows: dict[str, list[Any]]) -> pd.DataFrame:
    """A frame with exactly ``columns``, each of its dtype (``start``/``end``/``time``
    given as epoch seconds, ``duration`` computed from them)."""
    data: dict[str, pd.Series] = {}
    for name, dtype in columns.items():
        if dtype == TIME:
            data[name] = _times(rows[name])
        elif dtype == SPAN and name in rows:  # given as seconds (None: unknown)
            seconds = pd.Series([float("nan") if v is None else v for v in rows[name]], dtype="float64")
            data[name] = pd.to_timedelta(seconds, unit="s").astype(SPAN)
        elif dtype == SPAN:
            data[name] = (data["end"] - data["start"]).astype(SPAN)
        else:
            data[name] = pd.Series(rows[name], dtype=dtype)
    return pd.DataFrame(data, columns=list(columns))


def sessions_frame(run: Run) -> pd.DataFrame:
    """One row per session of ``run``; columns in the module docstring."""
    view = RunView(run)
    rows: dict[str, list[Any]] = {name: [] for name in SESSION_COLUMNS if name != "duration"}
    ran = _time_ran(view.attempts)
    for rec in view.tree:
        for name, value in (
            ("session_id", rec.session_id),
            ("parent_id", rec.parent_id),
            ("depth", rec.depth),
            ("group_id", rec.group_id),
            ("member_id", rec.member_id),
            ("state", rec.state),
            ("enqueued", rec.enqueued),
            ("dequeued", rec.dequeued),
            ("queued", len(rec.queued)),
            ("tasks_run", len(rec.tasks_run)),
            ("worker", rec.worker),
            ("start", rec.started),
            ("end", rec.ended),
            ("ran", ran.get(rec.session_id)),
            ("resumed", run.session_after_checkpoint(rec)),
        ):
            rows[name].append(value)
    return _frame(SESSION_COLUMNS, rows)


def _time_ran(attempts: list[TaskRun]) -> dict[str, float | None]:
    """Per session: first task start to last task end, in seconds (None while one runs)."""
    spans: dict[str, list[float]] = {}
    running: set[str] = set()
    for tr in attempts:
        if tr.end is None:
            running.add(tr.session_id)
            continue
        span = spans.setdefault(tr.session_id, [tr.start, tr.end])
        span[0], span[1] = min(span[0], tr.start), max(span[1], tr.end)
    return {sid: (None if sid in running else end - start) for sid, (start, end) in spans.items()} | dict.fromkeys(
        running
    )


def tasks_frame(run: Run) -> pd.DataFrame:
    """One row per task attempt of ``run``; columns in the module docstring."""
    view = RunView(run)
    rows: dict[str, list[Any]] = {name: [] for name in TASK_COLUMNS if name != "duration"}
    resumed = {id(tr) for tr in run.runs_after_checkpoint()}
    decisions = dict(run.cache.decisions) if run.cache is not None else {}
    for tr in view.attempts:
        decision = decisions.get(tr.order_key)
        for name, value in (
            ("task_id", tr.task_id),
            ("session_id", tr.session_id),
            ("kind", _kind(run, tr, view.group_ids)),
            ("dynamic", tr.task_id in view.dynamic),
            ("attempt", tr.attempt),
            ("status", tr.status),
            ("start", tr.start),
            ("end", tr.end),
            ("thread", tr.thread),
            ("error", None if tr.error is None else f"{type(tr.error).__name__}: {tr.error}"),
            ("resumed", id(tr) in resumed),
            ("cached", decision is not None and decision.cached and tr.status == "succeeded"),
            ("reason", None if decision is None else decision.reason),
        ):
            rows[name].append(value)
    return _frame(TASK_COLUMNS, rows)


def events_frame(events: Run | EventLog | list[Event]) -> pd.DataFrame:
    """The raw event stream; ``events`` is a run (its recorded events), an ``EventLog``
    or a list of events."""
    if isinstance(events, EventLog):
        stream = list(events.events)
    elif isinstance(events, list):
        stream = events
    else:
        stream = events_of(events)
    rows: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
    for event in stream:
        data = event.data
        for name, value in (
            ("time", event.time),
            ("kind", event.kind.value),
            ("session_id", event.session_id),
            ("task_id", event.task_id),
            ("thread", event.thread),
            ("attempt", data.get("attempt")),
            ("state", data.get("state", data.get("status"))),
            ("data", data),
        ):
            rows[name].append(value)
    return _frame(EVENT_COLUMNS, rows)


def _kind(run: Run, tr: TaskRun, groups: set[str]) -> str:
    """"group" for a parallel group node: a group that forked is known by its sessions,
    any other is looked up in the session that ran it."""
    if tr.task_id in groups:
        return "group"
    rec = run.sessions.get(tr.session_id)
    ctx = rec.context if rec is not None else None
    if ctx is None:
        return "task"
    try:
        return "group" if isinstance(ctx.lookup(tr.task_id), ParallelGroup) else "task"
    except KeyError:
        return "task"


class RunFrames:
    """``run.frames``-style access: ``RunFrames(run).sessions()``, ``.tasks()``, ``.events()``."""

    def __init__(self, run: Run):
        self.run = run

    def sessions(self) -> pd.DataFrame:
        return sessions_frame(self.run)

    def tasks(self) -> pd.DataFrame:
        return tasks_frame(self.run)

    def events(self) -> pd.DataFrame:
        return events_frame(self.run)

    def __repr__(self) -> str:
        return f"<RunFrames of run {self.run.root_session_id!r}: .sessions() .tasks() .events()>"
