"""What a Dask worker does with one branch session: the unmodified engine drains it.

The worker rebuilds a stand-in for the parent session (its id, depth, channel as it
stood at the fork and dynamic tasks), opens the branch under the very session id
the run gave it, seeds it with its member and runs ``WorkflowEngine.execute`` on it.
In a run with a re-run cache, the branch's tasks are planned, replayed and kept
here, with the entries and tokens the group's view carries (``core.cache.shipped``);
in a run without one they journal here (``core.runtime.journal``) and the journal
goes home with the outcome, and a ``wf.rerun`` takes them from the last run here,
with the share of it the group's view carries (``core.cache.journal_replay``).
Dynamic tasks stay in the branch; nested groups run on threads inside this worker
(``Run.remote_worker`` tells the coordinator so), so a branch never waits on other
futures and can't deadlock the worker.  Every event is logged to the group's topic
as it happens (``Worker.log_event``) and also kept in the outcome, which is the
record.  The stop flag is a ``distributed.Event`` checked at task boundaries.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from distributed import Event as DaskEvent
from distributed import get_worker

from ..core.cache.journal_replay import JournalReplay
from ..core.cache.run_cache import RunCache
from ..core.cache.shipped import CacheReport, cache_report, worker_cache, written_values
from ..core.context import ExecutionContext
from ..core.errors import SessionPaused
from ..core.events import Event, EventLog
from ..core.runtime.engine import WorkflowEngine
from ..core.runtime.executors.pool import WorkerPool
from ..core.snapshot import branch_outcome, open_branch
from ..core.workflow import WorkflowContext
from .shipping import GroupView, RemoteOutcome, ShippingError, Ticket, dumps, loads, seal_error, seal_outcome

# How long a worker trusts its last look at the stop flag (each look asks the scheduler).
STOP_CHECK_SECONDS = 0.01


class _Loaded:
    """Pickles this worker already loaded, by token: a graph once per cluster and
    change, a parent view once per group, however many branches use them."""

    def __init__(self, kept: int):
        self.kept = kept
        self.items: dict[str, Any] = {}
        # Guards items (a worker runs several branches at once).
        self.lock = threading.Lock()

    def get(self, token: str, blob: bytes) -> Any:
        with self.lock:
            value = self.items.pop(token, None)
            if value is None:
                value = loads(blob)
            self.items[token] = value
            while len(self.items) > self.kept:
                del self.items[next(iter(self.items))]
            return value


_VIEWS = _Loaded(32)


class RemoteStopFlag:
    """The group's stop flag as seen from a worker: ``is_set`` asks the scheduler, at
    most once per ``STOP_CHECK_SECONDS`` (the flag was clear when the branch was
    submitted, so the first look can wait that long too)."""

    def __init__(self, name: str):
        self.name = name
        self._event: DaskEvent | None = None
        self._set = False
        self._looked = time.monotonic()

    def is_set(self) -> bool:
        if self._set:
            return True
        now = time.monotonic()
        if now - self._looked < STOP_CHECK_SECONDS:
            return False
        if self._event is None:
            self._event = DaskEvent(self.name)
        self._set = self._event.is_set()
        self._looked = time.monotonic()
        return self._set

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["name"])


class _Forwarder:
    """An observer on the worker's run: numbers each event, logs it live, keeps it."""

    def __init__(self, worker: Any, topic: str, index: int, attempt: str, skip: int, live: bool):
        self.worker = worker
        self.live = live
        self.topic = topic
        self.index = index
        self.attempt = attempt
        self.events: list[bytes] = []
        self.seq = skip  # events an earlier part of this branch (before a pause) reported

    def __call__(self, event: Event) -> None:
        blob = _portable_event(event, self.worker.address)
        self.events.append(blob)
        if self.live:
            self.worker.log_event(
                self.topic, {"index": self.index, "attempt": self.attempt, "seq": self.seq, "event": blob}
            )
        self.seq += 1

    def started(self) -> None:
        self.worker.log_event(self.topic, {"index": self.index, "attempt": self.attempt, "seq": -1, "worker": self.worker.address})


def _portable_event(event: Event, address: str) -> bytes:
    thread = f"{address}/{event.thread}"
    data = event.data
    if any(isinstance(value, BaseException) for value in data.values()):  # a failure's error: sealed
        where = f"the error task {event.task_id!r} raised"
        data = {k: seal_error(v, where) if isinstance(v, BaseException) else v for k, v in data.items()}
    try:
        return dumps(Event(event.kind, event.session_id, event.task_id, data, event.time, thread))
    except Exception:
        data = {k: (v if _pickles(v) else repr(v)) for k, v in event.data.items()}
        return dumps(Event(event.kind, event.session_id, event.task_id, data, event.time, thread))


def _pickles(value: Any) -> bool:
    try:
        dumps(value)
        return True
    except Exception:
        return False


class _Workflows(_Loaded):
    """Shipped graphs, each as a workflow of this worker's own (branches built at run
    time register in it, as they would in the notebook's)."""

    def get(self, token: str, blob: bytes, name: str = "") -> Any:
        with self.lock:
            workflow = self.items.pop(token, None)
            if workflow is None:
                workflow = WorkflowContext(name)
                workflow.graph = loads(blob)
            self.items[token] = workflow
            while len(self.items) > self.kept:
                del self.items[next(iter(self.items))]
            return workflow


_WORKFLOWS = _Workflows(8)


def _fresh_branch(workflow: Any, view: GroupView, ticket: Ticket) -> ExecutionContext:
    """The engine's detached branch (``snapshot.open_branch``) under a stand-in parent
    holding the group's view; dynamic tasks of its ancestors come by value."""
    spec = ticket.spec
    spec.parent_view = view.channel
    branch = open_branch(spec, workflow, tasks=ticket.dynamic_nodes, dynamic=view.dynamic_nodes)
    parent = branch.parent_context
    assert parent is not None  # open_branch hangs the branch under its stand-in parent
    if view.dynamic_nodes or view.dynamic_succ:
        parent.dynamic_succ = {k: list(v) for k, v in view.dynamic_succ.items()}
        parent.dynamic_pred = {k: list(v) for k, v in view.dynamic_pred.items()}
        parent.has_dynamic = branch.has_dynamic = True
    run = branch.run
    run.max_workers = view.max_workers
    run.ready_parallel = spec.settings.get("ready_parallel", False)
    parent.config = branch.config = dict(spec.settings.get("config") or {})
    return branch


def run_branch(token: str, graph_blob: bytes, view_token: str, view_blob: bytes, ticket: Ticket) -> bytes:
    """The Dask task: run one branch session here and return its pickled outcome, each
    value a task produced sealed on its own (``shipping.seal_outcome``)."""
    worker = get_worker()
    attempt = uuid.uuid4().hex[:8]
    view = _VIEWS.get(view_token, view_blob)
    if ticket.paused_state is not None:
        branch = loads(ticket.paused_state)
        _attach(branch, _WORKFLOWS.get(token, graph_blob, branch.run.workflow_name))
    else:
        branch = _fresh_branch(_WORKFLOWS.get(token, graph_blob, view.workflow_name), view, ticket)
    run = branch.run
    run.journaling = view.cache is None  # as at home: a cache records its own way
    if view.cache is not None:  # the run's cache: plan, replay and keep here, keys made here
        run.cache = worker_cache(view.cache, view.channel)
    elif view.replay is not None:  # a rerun: the last run's tasks of this branch taken here
        run.cache = JournalReplay.shipped(view.replay)
    run.remote_worker = worker.address
    run.answers.update(ticket.answers)
    # The run's one budget: what the rest of the run already took is taken here too.
    run.max_steps = ticket.max_steps
    run.steps = ticket.max_steps - ticket.spec.steps_left
    branch.cancel_event = RemoteStopFlag(ticket.stop_flag)
    run.pool = WorkerPool(run.max_workers, name=f"graflow-{branch.session_id}")
    forwarder = _Forwarder(worker, ticket.topic, ticket.index, attempt, skip=ticket.events_seen, live=ticket.live)
    if ticket.live:  # someone watches: the session's worker shows at once
        forwarder.started()
    run.bus.subscribe(forwarder)
    error: BaseException | None = None
    try:
        with branch.graph.reading():  # read-only while it runs, as at home (snapshot.run_branch)
            WorkflowEngine().execute(branch)
    except BaseException as raised:  # the run's side decides what it means
        error = raised
    finally:
        run.pool.shutdown()
        run.close_loop()  # the branch's async tasks ran on a loop of this worker's
    journal, run.journal = run.journal, {}  # home with this outcome: a paused branch goes on without it
    paused = None
    if isinstance(error, SessionPaused):
        branch.event_log = EventLog()  # its events came home already
        _attach(branch, None)  # this worker's workflow (and its locks) stays here
        try:
            paused = dumps(branch)
        except Exception as unpicklable:
            error = ShippingError(
                f"session {branch.session_id!r} paused for input on Dask worker {worker.address}, but its "
                f"state can't be shipped back to resume it ({unpicklable}); a question asked inside a "
                f"nested group of a Dask branch is not supported: run that group on threads"
            )
    remote = _outcome(branch, ticket, worker.address, attempt, forwarder.events, error, paused)
    remote.journal = journal
    try:
        # A value that can't travel back (a result, a channel value, an error) travels
        # as the problem, sealed, and fails the branch naming it when the run reads it.
        return dumps(seal_outcome(remote))
    except Exception as unpicklable:  # another part of it: the branch fails with this
        raise ShippingError(
            f"branch session {branch.session_id!r} (task {ticket.spec.member_id!r}) on Dask worker {worker.address}: "
            f"its outcome can't be pickled to come back ({type(unpicklable).__name__}: {unpicklable})"
        ) from unpicklable


def _attach(branch: ExecutionContext, workflow: Any) -> None:
    """Point every session of the branch's run at ``workflow``."""
    for record in branch.run.sessions.values():
        if record.context is not None:
            record.context.workflow = workflow


def _outcome(
    branch: ExecutionContext,
    ticket: Ticket,
    address: str,
    attempt: str,
    events: list[bytes],
    error: BaseException | None,
    paused: bytes | None,
) -> RemoteOutcome:
    """The engine's ``branch_outcome``, less what an earlier part (before a pause)
    already reported, with what the run at home needs besides."""
    run = branch.run
    outcome = branch_outcome(branch, error)
    runs_seen, skipped_seen, dynamic_seen, groups_seen = ticket.seen
    outcome.task_runs = outcome.task_runs[runs_seen:]
    outcome.skipped = outcome.skipped[skipped_seen:]
    outcome.dynamic_tasks = outcome.dynamic_tasks[dynamic_seen:]
    outcome.steps = run.steps - (ticket.max_steps - ticket.spec.steps_left)
    outcome.events = []  # they travel as pickles, numbered like the live ones
    dynamic: dict[str, Any] = {}
    for record in run.sessions.values():
        if record.context is not None and run.is_within(record.session_id, branch.session_id):
            dynamic.update(record.context.dynamic_nodes)
    return RemoteOutcome(
        outcome=outcome,
        worker=address,
        attempt=attempt,
        events=events,
        pending=list(run.pending.values()),
        groups=run.groups[groups_seen:],
        fork_counts=run.fork_counts(),
        dynamic_nodes=dynamic,
        paused_state=paused,
        cache=_cache_report(run.cache, outcome.changes),
        seen=(runs_seen + len(outcome.task_runs), skipped_seen + len(outcome.skipped),
              dynamic_seen + len(outcome.dynamic_tasks), len(run.groups)),
    )


def _cache_report(cache: Any, changes: Any) -> CacheReport | None:
    """What the branch's cache decided and kept here; a rerun's replay keeps nothing
    and gives no tokens: its decisions only."""
    if isinstance(cache, RunCache):
        return cache_report(cache, written_values(changes))
    if isinstance(cache, JournalReplay):
        return CacheReport(dict(cache.decisions), [], {})
    return None
