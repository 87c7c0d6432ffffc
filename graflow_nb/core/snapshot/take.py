"""Taking a snapshot: the values of ``core.snapshot`` read from live engine objects,
without changing them, and pickled with one clear error for what cannot be."""

from __future__ import annotations

import dataclasses
import pickle
import time
from typing import Any

from ..checks import shown
from ..data.channel import MISSING, BranchChannel, Channel, MemoryChannel
from ..model.task import Executable, IterationTask, MapTask, ParallelGroup, Task, TaskWrapper
from ..runtime.groups.coordinator import GroupRun
from ..runtime.run import Run
from ..runtime.session import Session
from .shape import graph_shape
from .values import (
    FORMAT,
    NO_BASE,
    BranchOutcome,
    ChannelState,
    GroupState,
    RunState,
    SessionState,
    SnapshotError,
    TaskSpec,
    UnpicklableError,
)


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
        fork_counts=run.fork_counts(),
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
        settings=run_settings(root, run),
        resumes=list(run.resumes),
    )


def run_settings(ctx: Session, run: Run) -> dict[str, Any]:
    return {
        "default_max_cycles": ctx.default_max_cycles,
        "default_max_retries": ctx.default_max_retries,
        "config": dict(ctx.config),
        "default_policy": run.default_policy,
        "max_concurrency": run.max_concurrency,
        "ready_parallel": run.ready_parallel,
        "max_workers": run.max_workers,
        "cache": run.cache_origin,
        "cache_decisions": dict(run.cache.decisions) if run.cache is not None else {},
    }


def take_session(ctx: Session) -> SessionState:
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
        join_arrivals={k: set(v) for k, v in ctx.join_arrivals.items()},
        channel=take_channel(ctx.channel),
        groups=groups,
        waiting_key=ctx.waiting_key,
        abandoned=ctx.abandoned_here,
        current_order_key=ctx.current_order_key,
    )


def _take_group(group_run: GroupRun, why: str) -> GroupState:
    remaining = None if group_run.deadline is None else max(0.0, group_run.deadline - time.monotonic())
    return GroupState(
        group_run.group.task_id, why, [b.session_id for b in group_run.branches], list(group_run.outcomes), remaining,
        undone_members(group_run),
    )


def undone_members(group_run: GroupRun) -> list[bool]:
    """Per member: its compensation ran (a ``rollback`` group undid what it did)."""
    return [
        (c := getattr(member, "compensation", None)) is not None and c.task_id in branch.record.tasks_run
        for member, branch in zip(group_run.members, group_run.branches, strict=True)
    ]


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
            base = channel._op_base.get(key, MISSING)  # the value its ops applied to; channels expose no reader
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
        options = node.settings()
        return TaskSpec(node.task_id, "function", function=where, options=options)
    if isinstance(node, MapTask):  # an item of a map of maps: rebuilt from its map and item
        return TaskSpec(node.task_id, "map", data=node.handed)
    if isinstance(node, ParallelGroup):
        options = {name: getattr(node, name) for name in ("backend", "backend_config", "max_concurrency", "policy", "merge", "timeout")}
        return TaskSpec(node.task_id, "group", options=options, members=tuple(node.member_ids))
    if isinstance(node, Task):
        return TaskSpec(node.task_id, "pseudo")
    raise SnapshotError(f"task {shown(node.task_id)} is a {type(node).__name__}, which a checkpoint cannot describe")


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


def pickles(value: Any) -> bool:
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
            if not pickles(value):
                return f"channel key {shown(key)} (session {shown(session.session_id)}, a {type(value).__name__})"
        for spec in session.dynamic:
            if not pickles(spec):
                return f"task {shown(spec.task_id)} created at run time in session {shown(session.session_id)} (its settings)"
        for group in session.groups:
            for outcome in group.outcomes:
                if outcome is not None and not pickles(outcome):
                    return f"the outcome of member {shown(outcome.task_id)} of group {shown(group.group_id)}"
    for tr in state.task_runs:
        if not pickles(tr.result):
            return f"the result of task {shown(tr.task_id)} (session {shown(tr.session_id)}, a {type(tr.result).__name__})"
        if not pickles(tr.error):
            return f"the error of task {shown(tr.task_id)} (session {shown(tr.session_id)}, a {type(tr.error).__name__})"
    if isinstance(state, RunState):
        for key, value in state.answers.items():
            if not pickles(value):
                return f"the answer to {shown(key)}"
        for key, question in state.pending.items():
            if not pickles(question):
                return f"the question {shown(key)} (its metadata)"
        if not pickles(state.settings):
            return "the run's settings (default_policy or config)"
    return None


def loads(data: bytes) -> Any:
    """The value ``dumps`` wrote."""
    return pickle.loads(data)
