"""Detachable session state: a run's session tree as plain, picklable values.

A checkpoint, a resumed run and a branch shipped to another process all use these
values; nothing here is a side copy kept in sync with the engine: ``take_*`` reads
the live objects (``ExecutionContext``, ``SessionRecord``, ``GroupRun``, channels,
``Run``) and ``restore_*`` builds live ones again against a workflow.

State, as dask/local.py would list it:

    RunState
      sessions:   [SessionState]            every session of the tree, in fork order
      task_runs:  [TaskRun]                 every attempt, in start order
      fork_counts {branch base id: n}       so a re-fork never reuses an id (S_a#2)
      steps, max_steps, status, error, pending {key: PendingInput}, answers {key: value},
      skipped, groups, dynamic_tasks, settings {default_max_cycles, ...}
      shape:      GraphShape                 the graph it ran, to refuse a changed one
      resumes:    [ResumeMark]               where earlier resumes split the history
    SessionState
      record fields, queue [task id], counters, steps, cycle_counts, completed_tasks
      dynamic:    [TaskSpec]                tasks this session created while running
      dynamic_succ / dynamic_pred / join_arrivals
      channel:    ChannelState              root: its values; branch: its own changes
      groups:     [GroupState]              groups parked here (paused or failed)
      waiting_key, abandoned
    GroupState    one parked GroupRun: members, branch session ids, each member's
                  outcome, why it is parked ("paused" or "failed"), time left

Code is never pickled: a task is saved as its id, and found again by id in the
workflow it is restored against.  A task created at run time (``next_task(t)``, a
group built in a branch, ``next_iteration``) is saved as a ``TaskSpec``: its
settings and where its function lives (``module:qualname``); restoring looks the
function up in ``tasks=`` (``{task id: task or function}``) first, then by that
name (in a notebook, ``__main__``: re-run the cell that defines it).  A function
defined inside another function has no such name: pass it in ``tasks=``.

One branch session on its own (what the Dask executor ships):

    BranchSpec     in:  session id, member, group, order key, remaining step budget,
                        the parent's channel view (a plain dict), the run's settings
    BranchOutcome  out: its own channel changes, task results, task-run and session
                        records (nested ones included), events, skipped tasks, error

``open_branch(spec, graph)`` gives a detached context that runs the member;
``branch_outcome(ctx)`` reads what came of it; ``apply_outcome(outcome, branch)``
folds it into the live branch session it stands for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .channel import MISSING, BranchChannel, Change, Channel, MemoryChannel
from .checks import shown
from .context import ExecutionContext
from .coordinator import GroupRun
from .errors import GraflowError
from .events import Event, EventBus, EventKind, EventLog, Observer
from .graph import TaskGraph
from .policies import TaskResult, resolve_policy
from .queue import InMemoryTaskQueue
from .run import GroupOutcome, PendingInput, Run, SessionRecord, TaskRun
from .task import Executable, IterationTask, ParallelGroup, Task, TaskWrapper

FORMAT = 1  # bumped when a saved RunState can no longer be read by this code
_STOPPED = ("failed", "cancelled", "closed", "discarded", "abandoned")  # states _reopen opens again


class _NoBase:
    """Saved in place of the channel's MISSING (a bare object, which a pickle round
    trip would turn into another object): an additive change to a key that did not
    exist at the fork."""

    def __reduce__(self) -> str:
        return "NO_BASE"


NO_BASE = _NoBase()


class SnapshotError(GraflowError):
    """A run's state cannot be saved, or a saved state cannot be restored here."""


class GraphChangedError(SnapshotError):
    """The workflow to resume with is wired differently from the one that ran."""

    def __init__(self, message: str, added: dict[str, list[Any]], removed: dict[str, list[Any]]):
        super().__init__(message)
        self.added = added
        self.removed = removed


# -- the values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphShape:
    """What a graph is, without its code: node ids with their kind, edges, and each
    group's members in declaration order."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr((self.nodes, self.edges, self.groups)).encode()).hexdigest()[:16]


@dataclass
class TaskSpec:
    """A task created at run time, without its code (see the module docstring)."""

    task_id: str
    kind: str  # "function" | "iteration" | "group" | "pseudo"
    function: str | None = None  # "module:qualname" of a function task
    options: dict[str, Any] = field(default_factory=dict)
    base_id: str | None = None  # an iteration's task
    data: Any = None  # an iteration's data
    members: tuple[str, ...] = ()  # a group's member ids


@dataclass
class ChannelState:
    """A root channel's values, or a branch channel's own changes since its fork."""

    values: dict[str, Any] = field(default_factory=dict)  # root: every key; branch: keys it set
    deleted: tuple[str, ...] = ()
    ops: dict[str, tuple[Any, list[tuple[str, Any]]]] = field(default_factory=dict)  # key -> (base, ops)


@dataclass
class GroupState:
    group_id: str
    why: str  # "paused": members wait for input; "failed": the group failed and may run again
    branch_ids: list[str]
    outcomes: list[TaskResult | None]
    remaining: float | None  # seconds of the group's timeout still left


@dataclass
class SessionState:
    session_id: str
    parent_id: str | None
    depth: int
    group_id: str | None
    member_id: str | None
    order_key: tuple[Any, ...]
    state: str
    started: float
    ended: float | None
    tasks_run: list[str]
    queue: list[str]
    counters: dict[str, int]
    steps: int
    cycle_counts: dict[str, int]
    completed_tasks: list[str]
    dynamic: list[TaskSpec]
    dynamic_succ: dict[str, list[str]]
    dynamic_pred: dict[str, list[str]]
    join_arrivals: dict[str, set[str]]
    channel: ChannelState
    groups: list[GroupState]
    waiting_key: str | None
    abandoned: bool
    current_order_key: tuple[Any, ...]


@dataclass
class ResumeMark:
    """Where a resume split a run's history: what existed when it was restored."""

    checkpoint_id: str
    source: str  # what it was resumed from, as a person would name it (the file's name)
    at: float
    task_runs: int  # task_runs[:n] ran before
    sessions: int  # the first n sessions were opened before
    tasks_run: dict[str, int]  # session id -> how many of its tasks ran before


@dataclass
class RunState:
    format: int
    root_session_id: str
    workflow_name: str
    shape: GraphShape
    status: str
    max_steps: int
    max_workers: int
    steps: int
    fork_counts: dict[str, int]
    sessions: list[SessionState]
    task_runs: list[TaskRun]
    dynamic_tasks: list[tuple[str, str, str | None]]
    skipped: list[tuple[str, str, str]]
    groups: list[GroupOutcome]
    pending: dict[str, PendingInput]
    answers: dict[str, Any]
    error: BaseException | None
    result: Any
    started: float
    ended: float | None
    settings: dict[str, Any]
    resumes: list[ResumeMark]

    @property
    def frontier(self) -> dict[str, list[str]]:
        """Each session that has work left, with the tasks it runs first on resume (for
        a failed or cancelled run: the task that stopped and what was dropped from its
        queue, in the sessions a resume opens again; see ``_reopen``)."""
        if self.status not in ("failed", "cancelled"):
            return {s.session_id: s.queue for s in self.sessions if s.queue}
        by_id = {s.session_id: s for s in self.sessions}
        out: dict[str, list[str]] = {}
        stack = [self.root_session_id]
        while stack:
            session = by_id[stack.pop()]
            again = list(session.queue)
            if session.state in _STOPPED:
                last = session.tasks_run[-1] if session.tasks_run else None
                status = next((tr.status for tr in reversed(self.task_runs)
                               if tr.session_id == session.session_id and tr.task_id == last), None)
                if last is not None and status not in ("succeeded", None):
                    again.insert(0, last)
                again += [t for t, sid, _ in self.skipped if sid == session.session_id]
            if again:
                out[session.session_id] = again
            for group in reversed(session.groups):
                if group.why == "failed":
                    stack += [sid for sid, o in zip(group.branch_ids, group.outcomes, strict=True) if o is None or not o.success][::-1]
        return dict(sorted(out.items(), key=lambda kv: [s.session_id for s in self.sessions].index(kv[0])))


@dataclass
class BranchSpec:
    """What a branch session needs to run anywhere (see the module docstring)."""

    session_id: str
    member_id: str
    group_id: str | None
    order_key: tuple[Any, ...]
    depth: int
    steps_left: int
    parent_view: dict[str, Any]
    settings: dict[str, Any]
    dynamic: list[TaskSpec]  # tasks the branch's ancestors created that it may run


@dataclass
class BranchOutcome:
    """What came of one branch session (see the module docstring)."""

    session_id: str
    changes: dict[str, Change]
    results: dict[str, Any]
    task_runs: list[TaskRun]
    sessions: list[SessionState]  # this branch and every session below it
    events: list[Event]
    skipped: list[tuple[str, str, str]]
    steps: int
    error: BaseException | None
    dynamic_tasks: list[tuple[str, str, str | None]]


# -- graph shape ------------------------------------------------------------------------
def graph_shape(graph: TaskGraph) -> GraphShape:
    nodes = tuple(sorted(f"{_kind(node)}:{task_id}" for task_id, node in graph.nodes.items()))
    edges = tuple(sorted(graph.edges))
    groups = tuple(sorted((g.task_id, tuple(g.member_ids)) for g in graph.groups()))
    return GraphShape(nodes, edges, groups)


def _kind(node: Executable) -> str:
    return "group" if node.is_group else "task"


def check_shape(saved: GraphShape, graph: TaskGraph, workflow_name: str) -> None:
    """Refuse ``graph`` if it is not wired as ``saved`` was, naming every difference."""
    now = graph_shape(graph)
    if now == saved:
        return
    added: dict[str, list[Any]] = {
        "tasks": sorted(set(now.nodes) - set(saved.nodes)),
        "edges": sorted(set(now.edges) - set(saved.edges)),
        "groups": sorted(set(now.groups) - set(saved.groups)),
    }
    removed: dict[str, list[Any]] = {
        "tasks": sorted(set(saved.nodes) - set(now.nodes)),
        "edges": sorted(set(saved.edges) - set(now.edges)),
        "groups": sorted(set(saved.groups) - set(now.groups)),
    }
    parts = []
    for verb, table in (("added", added), ("removed", removed)):
        for what, items in table.items():
            if items:
                listed = ", ".join(_show_item(i) for i in items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "")
                parts.append(f"{verb} {what}: {listed}")
    raise GraphChangedError(
        f"workflow {shown(workflow_name)} is wired differently from the run in the checkpoint "
        f"({'; '.join(parts)}); a checkpoint continues only the graph it was taken from: undo "
        f"the change, or run the new graph from the start",
        added,
        removed,
    )


def _show_item(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], tuple):
        return f"{shown(item[0], 40)}[{', '.join(shown(m, 30) for m in item[1])}]"
    if isinstance(item, tuple):
        return " >> ".join(shown(x, 40) for x in item)
    return shown(item, 60)


# -- taking state from live objects -------------------------------------------------------
def take_run(run: Run) -> RunState:
    """The whole run as a value.  The run must not be executing (paused, failed,
    cancelled, finished, or inside a root-session task asking for a checkpoint)."""
    root = run.root_context
    if root is None:
        raise SnapshotError(f"run {shown(run.root_session_id)} has no root session to save")
    if run.ready_parallel and run.status != "succeeded":
        raise SnapshotError(
            f"run {shown(run.root_session_id)} ran with ready_parallel=True, whose tasks in flight a checkpoint "
            f"cannot describe yet; only its finished run can be saved"
        )
    sessions = [take_session(record.context) for record in run.sessions.values() if record.context is not None]
    for session in sessions:
        for group in session.groups:
            group.outcomes = [None if o is None else dataclasses.replace(o, error=portable_error(o.error)) for o in group.outcomes]
    return RunState(
        format=FORMAT,
        root_session_id=run.root_session_id,
        workflow_name=run.workflow_name,
        shape=graph_shape(root.graph),
        status=run.status,
        max_steps=run.max_steps,
        max_workers=run.max_workers,
        steps=run.steps,
        fork_counts=dict(run._fork_counts),
        sessions=sessions,
        task_runs=[tr if tr.error is None else dataclasses.replace(tr, error=portable_error(tr.error)) for tr in run.task_runs],
        dynamic_tasks=list(run.dynamic_tasks),
        skipped=list(run.skipped),
        groups=list(run.groups),
        pending=dict(run.pending),
        answers=dict(run.answers),
        error=portable_error(run.error),
        result=run.result,
        started=run.started,
        ended=run.ended,
        settings=_settings(root, run),
        resumes=list(run.resumes),
    )


def _settings(ctx: ExecutionContext, run: Run) -> dict[str, Any]:
    return {
        "default_max_cycles": ctx.default_max_cycles,
        "default_max_retries": ctx.default_max_retries,
        "config": dict(ctx.config),
        "default_policy": run.default_policy,
        "max_concurrency": run.max_concurrency,
        "ready_parallel": run.ready_parallel,
    }


def take_session(ctx: ExecutionContext) -> SessionState:
    """One session as a value: its record, queue, tables, channel and parked groups."""
    record = ctx.record
    queue = ctx.task_queue
    groups = [_take_group(g, "paused") for g in ctx.parked_groups.values()]
    groups += [_take_group(g, "failed") for g in ctx.failed_groups.values()]
    return SessionState(
        session_id=ctx.session_id,
        parent_id=record.parent_id,
        depth=record.depth,
        group_id=record.group_id,
        member_id=record.member_id,
        order_key=record.order_key,
        state=record.state,
        started=record.started,
        ended=record.ended,
        tasks_run=list(record.tasks_run),
        queue=queue.snapshot(),
        counters=dict(queue.metrics),
        steps=ctx.steps,
        cycle_counts=dict(ctx.cycle_counts),
        completed_tasks=list(ctx.completed_tasks),
        dynamic=[task_spec(node) for node in ctx.dynamic_nodes.values()],
        dynamic_succ={k: list(v) for k, v in ctx.dynamic_succ.items()},
        dynamic_pred={k: list(v) for k, v in ctx.dynamic_pred.items()},
        join_arrivals={k: set(v) for k, v in ctx._join_arrivals.items()},
        channel=take_channel(ctx.channel),
        groups=groups,
        waiting_key=ctx.waiting_key,
        abandoned=ctx._abandoned,
        current_order_key=ctx.current_order_key,
    )


def _take_group(group_run: GroupRun, why: str) -> GroupState:
    remaining = None if group_run.deadline is None else max(0.0, group_run.deadline - time.monotonic())
    return GroupState(
        group_run.group.task_id, why, [b.session_id for b in group_run.branches], list(group_run.outcomes), remaining
    )


def take_channel(channel: Channel) -> ChannelState:
    """A root channel's values; a branch channel's changes since its fork only (what it
    merely read is not saved: it reads it from its parent again)."""
    if isinstance(channel, MemoryChannel):
        return ChannelState(values={k: channel.get(k) for k in channel.keys()})
    if not isinstance(channel, BranchChannel):
        raise SnapshotError(f"channel {shown(channel.name)} is a {type(channel).__name__}, which cannot be saved")
    state = ChannelState()
    deleted = []
    for key, change in channel.changes().items():
        if change.kind == "delete":
            deleted.append(key)
        elif change.kind == "ops":
            base = channel._op_base.get(key, MISSING)
            state.ops[key] = (NO_BASE if base is MISSING else base, list(change.ops))
            state.values[key] = change.value
        else:
            state.values[key] = change.value
    state.deleted = tuple(deleted)
    return state


def task_spec(node: Executable) -> TaskSpec:
    """How a task created at run time is found again (no code inside)."""
    if isinstance(node, IterationTask):
        return TaskSpec(node.task_id, "iteration", base_id=node.base_id, data=node.data)
    if isinstance(node, TaskWrapper):
        func = node.func
        where = f"{getattr(func, '__module__', None)}:{getattr(func, '__qualname__', None)}"
        options = {
            name: getattr(node, name)
            for name in ("inject_context", "inject_llm_client", "inject_llm_agent", "handler_type",
                         "resolve_keyword_args", "max_cycles", "max_retries", "retry_policy", "bound_kwargs", "timeout")
        }
        return TaskSpec(node.task_id, "function", function=where, options=options)
    if isinstance(node, ParallelGroup):
        options = {name: getattr(node, name) for name in ("backend", "backend_config", "max_concurrency", "policy", "merge", "timeout")}
        return TaskSpec(node.task_id, "group", options=options, members=tuple(node.member_ids))
    if isinstance(node, Task):
        return TaskSpec(node.task_id, "pseudo")
    raise SnapshotError(f"task {shown(node.task_id)} is a {type(node).__name__}, which a checkpoint cannot describe")


class UnpicklableError(GraflowError):
    """Stands in, in a checkpoint, for an error of the run that cannot be pickled (its
    class lives where no other process can import it, it holds a lock...): the history
    keeps its type's name and message."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


def portable_error(error: BaseException | None) -> BaseException | None:
    """``error`` itself if it pickles, else an ``UnpicklableError`` saying what it was."""
    if error is None or _round_trips(error):
        return error
    return UnpicklableError(type(error).__name__, str(error)[:2000])


# -- checking that a state can be saved -------------------------------------------------
def dumps(state: Any) -> bytes:
    """``state`` pickled; if part of it can't be, one ``SnapshotError`` naming the
    channel key, task result, answer or error that is at fault."""
    try:
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        inner = getattr(state, "state", state)  # a checkpoint wraps the run's state
        culprit = _find_unpicklable(inner) if isinstance(inner, (RunState, BranchOutcome)) else None
        where = culprit or "a part of the run's state"
        name = getattr(inner, "root_session_id", getattr(inner, "session_id", "?"))
        raise SnapshotError(
            f"cannot save run {shown(name)}: {where} "
            f"cannot be pickled ({type(error).__name__}: {str(error)[:200]}); keep locks, clients, open files "
            f"and generators out of the channel and task results (the run itself is unchanged)"
        ) from error


def _pickles(value: Any) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return True
    except Exception:
        return False


def _round_trips(value: Any) -> bool:
    """``value`` pickles and unpickles (an exception whose ``__init__`` needs other
    arguments than its message pickles, then fails to load)."""
    try:
        pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return True
    except Exception:
        return False


def _find_unpicklable(state: RunState | BranchOutcome) -> str | None:
    sessions = state.sessions
    for session in sessions:
        for key, value in [*session.channel.values.items(), *((k, v) for k, v in session.channel.ops.items())]:
            if not _pickles(value):
                return f"channel key {shown(key)} (session {shown(session.session_id)}, a {type(value).__name__})"
        for spec in session.dynamic:
            if not _pickles(spec):
                return f"task {shown(spec.task_id)} created at run time in session {shown(session.session_id)} (its settings)"
        for group in session.groups:
            for outcome in group.outcomes:
                if outcome is not None and not _pickles(outcome):
                    return f"the outcome of member {shown(outcome.task_id)} of group {shown(group.group_id)}"
    for tr in state.task_runs:
        if not _pickles(tr.result):
            return f"the result of task {shown(tr.task_id)} (session {shown(tr.session_id)}, a {type(tr.result).__name__})"
        if not _pickles(tr.error):
            return f"the error of task {shown(tr.task_id)} (session {shown(tr.session_id)}, a {type(tr.error).__name__})"
    if isinstance(state, RunState):
        for key, value in state.answers.items():
            if not _pickles(value):
                return f"the answer to {shown(key)}"
        for key, question in state.pending.items():
            if not _pickles(question):
                return f"the question {shown(key)} (its metadata)"
        if not _pickles(state.settings):
            return "the run's settings (default_policy or config)"
    return None


def loads(data: bytes) -> Any:
    return pickle.loads(data)


# -- restoring live objects ---------------------------------------------------------------
Resolver = Mapping[str, Any]


def restore_run(
    state: RunState,
    workflow: Any,
    *,
    tasks: Resolver | None = None,
    observers: list[Observer] | None = None,
    checkpoint_id: str = "",
    source: str = "",
) -> ExecutionContext:
    """A live root context for ``state``, against ``workflow`` (its graph must be wired as
    the saved one was: ``GraphChangedError`` otherwise).  Sessions that stopped because
    the run failed or was cancelled are opened again with the work they had left, so
    ``WorkflowEngine().execute(root)`` continues the run without re-running anything
    that finished."""
    if state.format != FORMAT:
        raise SnapshotError(f"checkpoint format {state.format} is not {FORMAT}, the one this graflow_nb reads")
    graph: TaskGraph = workflow.graph
    check_shape(state.shape, graph, getattr(workflow, "name", state.workflow_name))
    settings = state.settings
    run = Run(state.root_session_id, state.max_steps, state.max_workers, EventBus(observers), state.workflow_name)
    run.default_policy = settings["default_policy"]
    run.set_concurrency(settings["max_concurrency"])
    run.ready_parallel = settings["ready_parallel"]
    run.steps = state.steps
    run._fork_counts = dict(state.fork_counts)
    run.task_runs = list(state.task_runs)
    run.dynamic_tasks = list(state.dynamic_tasks)
    run.skipped = list(state.skipped)
    run.groups = list(state.groups)
    run.pending = dict(state.pending)
    run.answers = dict(state.answers)
    run.status = state.status
    run.error = state.error
    run.result = state.result
    run.started = state.started
    run.ended = state.ended
    run.resumes = list(state.resumes)
    contexts: dict[str, ExecutionContext] = {}
    for session in state.sessions:
        parent = contexts.get(session.parent_id) if session.parent_id is not None else None
        if session.parent_id is not None and parent is None:
            raise SnapshotError(f"session {shown(session.session_id)} comes before its parent {shown(session.parent_id)}")
        ctx = _restore_session(session, parent, run, workflow, settings)
        contexts[session.session_id] = ctx
        _restore_dynamic(ctx, session, tasks or {})
    for session in state.sessions:
        ctx = contexts[session.session_id]
        ctx.task_queue.restore([ctx.lookup(task_id) for task_id in session.queue])
        for group in session.groups:
            _restore_group(group, ctx, contexts)
    root = contexts[state.root_session_id]
    run.root_context = root
    if state.status in ("failed", "cancelled"):
        _reopen(root, run)
    run.resumes.append(
        ResumeMark(
            checkpoint_id or state.root_session_id,
            source or checkpoint_id or state.root_session_id,
            time.time(),
            len(run.task_runs),
            len(run.sessions),
            {sid: len(rec.tasks_run) for sid, rec in run.sessions.items()},
        )
    )
    return root


def _restore_session(
    session: SessionState, parent: ExecutionContext | None, run: Run, workflow: Any, settings: dict[str, Any]
) -> ExecutionContext:
    queue = InMemoryTaskQueue(session.session_id)
    for name, value in session.counters.items():
        setattr(queue, name, value)
    record = SessionRecord(
        session.session_id, session.parent_id, session.depth, session.group_id, session.member_id,
        tuple(session.order_key), queue, None, session.state, session.started, session.ended, list(session.tasks_run),
    )
    if parent is None:
        ctx = ExecutionContext.__new__(ExecutionContext)
        ctx.graph = workflow.graph
        ctx.default_max_cycles = settings["default_max_cycles"]
        ctx.default_max_retries = settings["default_max_retries"]
        ctx.config = dict(settings["config"])
        ctx.tracer = getattr(workflow, "tracer", None)
        ctx.llm_client_instance = None
        ctx.prompt_manager = getattr(workflow, "prompt_manager", None)
        ctx.workflow = workflow
        ctx.start_node = None
        ctx.session_id = session.session_id
        ctx.run = run
        ctx.channel = MemoryChannel(session.session_id, session.channel.values)
        ctx.depth = 0
        ctx.task_queue = queue
        ctx.record = record
        ctx._llm_agents = dict(getattr(workflow, "_llm_agents", {}))
        ctx.trace_id = session.session_id
        ctx.completed_tasks = []
        ctx.cycle_counts = {}
    else:
        ctx = ExecutionContext._branch(parent, session.session_id, _branch_channel(parent.channel, session), record)
    record.context = ctx
    run.add_session(record)
    ctx.steps = session.steps
    ctx.cycle_counts = dict(session.cycle_counts)
    ctx.completed_tasks = list(session.completed_tasks)
    if session.dynamic_succ:
        ctx.dynamic_succ = {k: list(v) for k, v in session.dynamic_succ.items()}
        ctx._has_dynamic = True
    if session.dynamic_pred:
        ctx.dynamic_pred = {k: list(v) for k, v in session.dynamic_pred.items()}
    if session.join_arrivals:
        ctx._join_arrivals = {k: set(v) for k, v in session.join_arrivals.items()}
    if session.waiting_key is not None:
        ctx.waiting_key = session.waiting_key
    if session.abandoned:
        ctx._abandoned = True
    ctx.current_order_key = tuple(session.current_order_key)
    return ctx


def _branch_channel(base: Channel, session: SessionState) -> BranchChannel:
    channel = BranchChannel(base, session.session_id)
    state = session.channel
    for key, value in state.values.items():
        if key in state.ops:
            op_base, ops = state.ops[key]
            channel._local[key] = value
            channel._mut("_ops")[key] = list(ops)
            channel._mut("_op_base")[key] = MISSING if op_base is NO_BASE else op_base
        else:
            channel.set(key, value)
    for key in state.deleted:
        channel._mut("_deleted")[key] = None
    return channel


def _restore_dynamic(ctx: ExecutionContext, session: SessionState, tasks: Resolver) -> None:
    if not session.dynamic:
        return
    ctx._has_dynamic = True
    table = ctx._own("dynamic_nodes")
    for spec in session.dynamic:  # in creation order: a group's members come before it
        table[spec.task_id] = build_task(spec, ctx, tasks)


def build_task(spec: TaskSpec, ctx: ExecutionContext, tasks: Resolver) -> Executable:
    """The live task ``spec`` describes, its code found by id in ``tasks`` or by name."""
    given = tasks.get(spec.task_id)
    if isinstance(given, Executable):
        return given
    if spec.kind == "iteration":
        base = ctx.lookup(spec.base_id or "")
        if not isinstance(base, TaskWrapper):
            raise SnapshotError(f"iteration {shown(spec.task_id)}: its task {shown(spec.base_id)} is not a function task")
        return IterationTask(spec.task_id, base, spec.data)
    if spec.kind == "pseudo":
        return Task(spec.task_id, register_to_context=False)
    if spec.kind == "group":
        group = ParallelGroup.__new__(ParallelGroup)
        group.task_id = spec.task_id
        group.tasks = [ctx.lookup(m) for m in spec.members]
        group._member_ids = set(spec.members)
        group.depth = 1 + max((getattr(m, "depth", 0) for m in group.tasks if m.is_group), default=0)
        for name, value in spec.options.items():
            setattr(group, name, value)
        return group
    func = given if callable(given) else _find_function(spec, ctx.session_id)
    options = dict(spec.options)
    options["bound_kwargs"] = dict(options.get("bound_kwargs") or {})
    return TaskWrapper(spec.task_id, func, register_to_context=False, **options)


def _find_function(spec: TaskSpec, session_id: str) -> Callable[..., Any]:
    module_name, _, qualname = (spec.function or ":").partition(":")
    hint = (
        f"pass it when resuming: tasks={{{spec.task_id!r}: <the task or its function>}}, "
        f"or define it at the top level of a module or notebook cell"
    )
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise SnapshotError(
            f"task {shown(spec.task_id)} was created at run time in session {shown(session_id)} from "
            f"{shown(qualname)}, a function defined inside another one, which has no name to find it by; {hint}"
        )
    try:
        found: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as error:
        raise SnapshotError(
            f"task {shown(spec.task_id)} (created at run time in session {shown(session_id)}) runs "
            f"{shown(spec.function)}, which is not defined here ({type(error).__name__}: {error}); {hint}"
        ) from None
    if isinstance(found, TaskWrapper):
        found = found.func
    if not callable(found):
        raise SnapshotError(f"task {shown(spec.task_id)}: {shown(spec.function)} is not a function here; {hint}")
    return found


def _restore_group(group: GroupState, parent: ExecutionContext, contexts: dict[str, ExecutionContext]) -> None:
    node = parent.lookup(group.group_id)
    if not isinstance(node, ParallelGroup):
        raise SnapshotError(f"{shown(group.group_id)} in session {shown(parent.session_id)} is no longer a group")
    state = GroupRun.__new__(GroupRun)
    state.group = node
    state.parent = parent
    state.run = parent.run
    state.policy = resolve_policy(node.policy if node.policy is not None else parent.run.default_policy)
    state.members = list(node.tasks)
    state.stop_event = threading.Event()
    state.branches = [contexts[sid] for sid in group.branch_ids]
    state.outcomes = list(group.outcomes)
    state.deadline = None if group.remaining is None else time.monotonic() + group.remaining
    state.policy_error = None
    for branch in state.branches:
        branch.cancel_event = state.stop_event
    table = "parked_groups" if group.why == "paused" else "failed_groups"
    parent._own(table)[group.group_id] = state


# -- opening a failed or cancelled run again ------------------------------------------
def _reopen(ctx: ExecutionContext, run: Run) -> None:
    """Give ``ctx`` back the work it had left when the run stopped: the task that was
    running (it runs again, as the same step of the session) and the tasks that were
    dropped from its queue; then do the same below, for each group that failed here."""
    record = ctx.record
    if record.state not in _STOPPED:
        return
    dropped = [i for i, (_, sid, _) in enumerate(run.skipped) if sid == ctx.session_id]
    again: list[Executable] = []
    last = record.tasks_run[-1] if record.tasks_run else None
    if last is not None and _last_attempt(run, ctx.session_id, last) not in ("succeeded", None):
        record.tasks_run.pop()
        again.append(ctx.lookup(last))
        if not again[0].is_group:
            ctx.task_queue.dequeued -= 1  # as push_front does: it did not run to an end
    again += [ctx.lookup(run.skipped[i][0]) for i in dropped]
    run.skipped = [s for i, s in enumerate(run.skipped) if i not in set(dropped)]
    if again:
        ctx.task_queue.restore(again)
    record.state = "open"
    record.ended = None
    if ctx._abandoned:  # a timed-out group gave up on it; running again, it is not
        del ctx._abandoned
    failed = ctx.failed_groups
    if failed:
        for group_run in failed.values():
            _retry_group(group_run, run)
        ctx._own("parked_groups").update(failed)
        ctx.failed_groups = {}


def _last_attempt(run: Run, session_id: str, task_id: str) -> str | None:
    for tr in reversed(run.task_runs):
        if tr.session_id == session_id and tr.task_id == task_id:
            return tr.status
    return None


def _retry_group(group_run: GroupRun, run: Run) -> None:
    """Members that succeeded keep their outcome and changes; the others (failed,
    cancelled, never started, or undone by a compensation) run again in their own
    sessions, from where they stopped, with the group's whole timeout again."""
    timeout = group_run.group.timeout
    group_run.deadline = None if timeout is None else time.monotonic() + timeout
    for index, branch in enumerate(group_run.branches):
        outcome = group_run.outcomes[index]
        member = group_run.members[index]
        compensation = getattr(member, "compensation", None)
        undone = compensation is not None and compensation.task_id in branch.record.tasks_run
        if outcome is not None and outcome.success and not undone:
            branch.record.state = "open"
            branch.record.ended = None
            continue
        group_run.outcomes[index] = None
        if undone:
            branch.channel = BranchChannel(group_run.parent.channel, branch.session_id)
            branch.task_queue.restore([member])
            branch.record.state = "open"
            branch.record.ended = None
            continue
        _reopen(branch, run)


# -- one branch session on its own ----------------------------------------------------
def branch_spec(branch: ExecutionContext) -> BranchSpec:
    """What ``branch`` (forked, not yet run) needs to run elsewhere."""
    run = branch.run
    parent = branch.parent_context
    if parent is None:
        raise SnapshotError(f"session {shown(branch.session_id)} is a root session, not a branch")
    dynamic: list[TaskSpec] = []
    ctx: ExecutionContext | None = parent
    while ctx is not None:
        dynamic[:0] = [task_spec(node) for node in ctx.dynamic_nodes.values()]
        ctx = ctx.parent_context
    return BranchSpec(
        session_id=branch.session_id,
        member_id=branch.record.member_id or "",
        group_id=branch.record.group_id,
        order_key=branch.record.order_key,
        depth=branch.depth,
        steps_left=max(0, run.max_steps - run.steps),
        parent_view={key: parent.channel.peek(key) for key in parent.channel.keys()},
        settings=_settings(parent, run),
        dynamic=dynamic,
    )


def open_branch(spec: BranchSpec, workflow: Any, *, tasks: Resolver | None = None) -> ExecutionContext:
    """A detached branch context for ``spec``: its own run (budget: what was left), a
    parent channel holding the parent's view, its member queued; run it with
    ``WorkflowEngine().execute(ctx)`` and read ``branch_outcome(ctx)``."""
    log = EventLog()
    parent = ExecutionContext(
        workflow.graph,
        session_id=spec.session_id.rsplit("_", 1)[0] or spec.session_id,
        max_steps=max(1, spec.steps_left),
        default_max_cycles=spec.settings["default_max_cycles"],
        default_max_retries=spec.settings["default_max_retries"],
        observers=[log],
        initial_channel=spec.parent_view,
        workflow=workflow,
        default_policy=spec.settings["default_policy"],
    )
    parent.run.max_steps = spec.steps_left  # a budget of 0 refuses the first task, as it would at home
    parent.depth = spec.depth - 1
    if spec.dynamic:
        parent._has_dynamic = True
        table = parent._own("dynamic_nodes")
        for task_spec_ in spec.dynamic:
            table[task_spec_.task_id] = build_task(task_spec_, parent, tasks or {})
    queue = InMemoryTaskQueue(spec.session_id)
    record = SessionRecord(spec.session_id, parent.session_id, spec.depth, spec.group_id, spec.member_id, spec.order_key, queue)
    branch = ExecutionContext._branch(parent, spec.session_id, BranchChannel(parent.channel, spec.session_id), record)
    record.context = branch
    parent.run.add_session(record)
    parent.run.pool = None
    branch.event_log = log  # type: ignore[attr-defined]  # read back by branch_outcome
    branch.add_to_queue(branch.lookup(spec.member_id))
    return branch


def branch_outcome(branch: ExecutionContext, error: BaseException | None = None) -> BranchOutcome:
    """What came of ``branch`` once it ran: its changes, results, records and events."""
    run = branch.run
    below = [rec.context for rec in run.sessions.values() if rec.context is not None and run.is_within(rec.session_id, branch.session_id)]
    channel = branch.channel
    changes = channel.changes() if isinstance(channel, BranchChannel) else {}
    results = {k[: -len(".__result__")]: c.value for k, c in changes.items() if k.endswith(".__result__") and c.kind == "set"}
    log = getattr(branch, "event_log", None)
    return BranchOutcome(
        session_id=branch.session_id,
        changes=changes,
        results=results,
        task_runs=[tr for tr in run.task_runs if run.is_within(tr.session_id, branch.session_id)],
        sessions=[take_session(ctx) for ctx in below],
        events=list(log.events) if log is not None else [],
        skipped=[s for s in run.skipped if run.is_within(s[1], branch.session_id)],
        steps=sum(ctx.steps for ctx in below),
        error=error,
        dynamic_tasks=[d for d in run.dynamic_tasks if run.is_within(d[1], branch.session_id)],
    )


def apply_outcome(outcome: BranchOutcome, branch: ExecutionContext, *, tasks: Resolver | None = None) -> None:
    """Fold ``outcome`` into the live ``branch`` it was run for: its channel changes,
    records, nested sessions, counters and events (re-emitted on the run's bus)."""
    run = branch.run
    if outcome.session_id != branch.session_id:
        raise SnapshotError(f"outcome of {shown(outcome.session_id)} cannot be applied to {shown(branch.session_id)}")
    channel = branch.channel
    for key, change in outcome.changes.items():
        if change.kind == "delete":
            channel.delete(key)
        elif change.kind == "ops":
            for op, arg in change.ops:
                {"append": channel.append, "prepend": channel.prepend}.get(op, channel.atomic_add)(key, arg)
        else:
            channel.set(key, change.value)
    with run._lock:
        run.steps += outcome.steps
    run.task_runs.extend(outcome.task_runs)
    run.skipped.extend(outcome.skipped)
    run.dynamic_tasks.extend(outcome.dynamic_tasks)
    contexts = {branch.session_id: branch}
    for session in outcome.sessions:
        if session.session_id == branch.session_id:
            _copy_record(session, branch)
            _restore_dynamic(branch, session, tasks or {})
            continue
        parent = contexts[session.parent_id or ""]
        ctx = _restore_session(session, parent, run, branch.workflow, _settings(branch, run))
        _restore_dynamic(ctx, session, tasks or {})
        contexts[session.session_id] = ctx
    if run.bus.active:
        for event in outcome.events:
            if event.kind not in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED) and run.is_within(event.session_id, branch.session_id):
                run.bus.emit(event.kind, event.session_id, event.task_id, **event.data)


def _copy_record(session: SessionState, ctx: ExecutionContext) -> None:
    record = ctx.record
    record.state = session.state
    record.ended = session.ended
    record.tasks_run[:] = session.tasks_run
    for name, value in session.counters.items():
        setattr(ctx.task_queue, name, value)
    ctx.steps = session.steps
    ctx.cycle_counts = dict(session.cycle_counts)
    ctx.completed_tasks = list(session.completed_tasks)


def sessions_in(state: RunState) -> Iterable[str]:
    return (s.session_id for s in state.sessions)
