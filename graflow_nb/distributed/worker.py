"""What a Dask worker does with one branch session: the unmodified engine drains it.

The worker rebuilds a stand-in for the parent session (its id, depth, channel as it
stood at the fork and dynamic tasks), opens the branch under the very session id
the run gave it, seeds it with its member and runs ``WorkflowEngine.execute`` on it.
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

from ..core.context import ExecutionContext
from ..core.engine import WorkflowEngine
from ..core.errors import SessionPaused
from ..core.events import Event
from ..core.pool import WorkerPool
from .shipping import BranchOutcome, BranchSpec, GroupView, SessionCopy, ShippingError, dumps, loads

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


_GRAPHS = _Loaded(8)
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
    try:
        return dumps(Event(event.kind, event.session_id, event.task_id, event.data, event.time, thread))
    except Exception:
        data = {k: (v if _pickles(v) else repr(v)) for k, v in event.data.items()}
        return dumps(Event(event.kind, event.session_id, event.task_id, data, event.time, thread))


def _pickles(value: Any) -> bool:
    try:
        dumps(value)
        return True
    except Exception:
        return False


def _fresh_branch(graph: Any, view: GroupView, spec: BranchSpec) -> ExecutionContext:
    parent = ExecutionContext(
        graph,
        session_id=view.parent_session_id,
        max_steps=spec.max_steps,
        default_max_cycles=view.default_max_cycles,
        default_max_retries=view.default_max_retries,
        default_policy=view.default_policy,
        max_workers=view.max_workers,
        initial_channel=view.channel,
        ready_parallel=view.ready_parallel,
        config=view.config,
    )
    parent.depth = view.parent_depth
    if view.dynamic_nodes or view.dynamic_succ:
        parent.dynamic_nodes = dict(view.dynamic_nodes)
        parent.dynamic_succ = {k: list(v) for k, v in view.dynamic_succ.items()}
        parent.dynamic_pred = {k: list(v) for k, v in view.dynamic_pred.items()}
        parent._has_dynamic = True
    branch = parent.create_branch_context(
        spec.member_id, group_id=view.group_id, order_key=spec.order_key, session_id=spec.session_id
    )
    branch.add_to_queue(branch.lookup(spec.member_id))
    return branch


def run_branch(token: str, graph_blob: bytes, view_token: str, view_blob: bytes, spec: BranchSpec) -> bytes:
    """The Dask task: run one branch session here and return its pickled outcome."""
    worker = get_worker()
    attempt = uuid.uuid4().hex[:8]
    if spec.paused_state is not None:
        branch = loads(spec.paused_state)
    else:
        branch = _fresh_branch(_GRAPHS.get(token, graph_blob), _VIEWS.get(view_token, view_blob), spec)
    run = branch.run
    run.remote_worker = worker.address
    run.answers.update(spec.answers)
    # The run's one budget: what the rest of the run already took is taken here too.
    run.max_steps = spec.max_steps
    run.steps = spec.max_steps - spec.steps_left
    branch.cancel_event = RemoteStopFlag(spec.stop_flag)
    run.pool = WorkerPool(run.max_workers, name=f"graflow-{spec.session_id}")
    forwarder = _Forwarder(worker, spec.topic, spec.index, attempt, skip=spec.events_seen, live=spec.live)
    if spec.live:  # someone watches: the session's worker shows at once
        forwarder.started()
    run.bus.subscribe(forwarder)
    steps_before = run.steps
    error: BaseException | None = None
    try:
        WorkflowEngine().execute(branch)
    except BaseException as raised:  # the run's side decides what it means
        error = raised
    finally:
        run.pool.shutdown()
    paused = dumps(branch) if isinstance(error, SessionPaused) else None
    outcome = _outcome(branch, spec, worker.address, attempt, forwarder.events, run.steps - steps_before, error, paused)
    try:
        return dumps(outcome)
    except Exception as unpicklable:
        # A task returned (or wrote) something that can't travel back: the branch fails
        # with an error naming it, and the rest of the record still comes home.
        outcome.error = _name_unpicklable(outcome, unpicklable)
        outcome.changes = {k: v for k, v in outcome.changes.items() if _pickles(v)}
        for task_run in outcome.task_runs:
            if not _pickles(task_run.result):
                task_run.result = None
        outcome.paused_state = None
        return dumps(outcome)


def _name_unpicklable(outcome: BranchOutcome, error: Exception) -> ShippingError:
    for key, change in outcome.changes.items():
        if not _pickles(change):
            return ShippingError(
                f"session {outcome.sessions[0].session_id!r}: channel key {key!r} holds "
                f"{type(change.value).__name__}, which can't be pickled back from Dask worker "
                f"{outcome.worker} ({error})"
            )
    return ShippingError(f"the outcome of a branch on Dask worker {outcome.worker} can't be pickled: {error}")


def _outcome(
    branch: ExecutionContext,
    spec: BranchSpec,
    address: str,
    attempt: str,
    events: list[bytes],
    steps: int,
    error: BaseException | None,
    paused: bytes | None,
) -> BranchOutcome:
    run = branch.run
    root = branch.parent_context
    assert root is not None  # a re-created branch always hangs under its stand-in parent
    sessions = [
        SessionCopy(
            r.session_id, r.parent_id, r.depth, r.group_id, r.member_id, r.order_key, r.state, r.started,
            r.ended, list(r.tasks_run), r.queue.metrics, r.queue.snapshot(),
        )
        for r in run.sessions.values()
        if r.session_id != root.session_id
    ]
    dynamic: dict[str, Any] = {}
    for record in run.sessions.values():
        if record.context is not None and record.context is not root:
            dynamic.update(record.context.dynamic_nodes)
    runs_seen, skipped_seen, dynamic_seen, groups_seen = spec.seen
    from_channel = branch.channel.changes() if hasattr(branch.channel, "changes") else {}
    return BranchOutcome(
        worker=address,
        attempt=attempt,
        sessions=sessions,
        changes=from_channel,
        task_runs=run.task_runs[runs_seen:],
        skipped=run.skipped[skipped_seen:],
        dynamic_tasks=run.dynamic_tasks[dynamic_seen:],
        dynamic_nodes=dynamic,
        groups=run.groups[groups_seen:],
        pending=list(run.pending.values()),
        events=events,
        steps=steps,
        fork_counts=dict(run._fork_counts),
        error=error,
        paused_state=paused,
        seen=(len(run.task_runs), len(run.skipped), len(run.dynamic_tasks), len(run.groups)),
    )
