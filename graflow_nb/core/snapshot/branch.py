"""One branch session as a value: its spec shipped to run elsewhere, its outcome
brought back and folded into the live branch it stands for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..checks import shown
from ..context import ExecutionContext
from ..data.channel import BranchChannel
from ..events import EventKind, EventLog
from ..model.task import Executable
from ..runtime.engine import WorkflowEngine
from ..runtime.executors.pool import WorkerPool
from ..runtime.queue import InMemoryTaskQueue
from ..runtime.run import SessionRecord
from ..runtime.session import Session
from .restore import Resolver, build_task, restore_dynamic, restore_session
from .take import run_settings, take_session, task_spec
from .values import BranchOutcome, BranchSpec, SessionState, SnapshotError, TaskSpec


# -- one branch session on its own ----------------------------------------------------
def branch_spec(branch: Session) -> BranchSpec:
    """What ``branch`` (forked, not yet run) needs to run elsewhere."""
    run = branch.run
    parent = branch.parent_context
    if parent is None:
        raise SnapshotError(f"session {shown(branch.session_id)} is a root session, not a branch")
    dynamic: list[TaskSpec] = []
    ctx: Session | None = parent
    while ctx is not None:
        dynamic[:0] = [task_spec(node) for node in ctx.dynamic_nodes.values()]
        ctx = ctx.parent_context
    return BranchSpec(
        session_id=branch.session_id,
        parent_id=parent.session_id,
        member_id=branch.record.member_id or "",
        group_id=branch.record.group_id,
        order_key=branch.record.order_key,
        depth=branch.depth,
        steps_left=max(0, run.max_steps - run.steps),
        parent_view={key: parent.channel.peek(key) for key in parent.channel.keys()},
        settings=run_settings(parent, run),
        dynamic=dynamic,
        state=branch_state(branch),
    )


def branch_state(branch: Session) -> SessionState | None:
    """What a ``BranchSpec`` carries of ``branch`` itself: nothing while none of it has
    run (its member starts it), else the session as it stopped (paused, failed or
    cancelled, say in a resumed checkpoint), so it goes on from there, not from the start."""
    record = branch.record
    channel = branch.channel
    changed = isinstance(channel, BranchChannel) and bool(channel.changes())
    if not (record.tasks_run or branch.waiting_key is not None or branch.steps or changed):
        return None
    return take_session(branch)


def open_branch(
    spec: BranchSpec, workflow: Any, *, tasks: Resolver | None = None, dynamic: Mapping[str, Executable] | None = None
) -> Session:
    """A detached branch context for ``spec``: its own run (budget: what was left), a
    parent channel holding the parent's view, its member queued (or, for a spec that
    carries the branch's ``state``, the branch as it stood: its queue, channel changes,
    record and counters, so it goes on from there); run it with
    ``WorkflowEngine().execute(ctx)`` and read ``branch_outcome(ctx)``.  ``dynamic``:
    the ancestors' run-time tasks by value, for a process that has them that way."""
    log = EventLog()
    parent = ExecutionContext(
        workflow.graph,
        session_id=spec.parent_id,
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
    if spec.dynamic or dynamic:
        parent.has_dynamic = True
        table = parent.own("dynamic_nodes")
        table.update(dynamic or {})
        for task_spec_ in spec.dynamic:
            table[task_spec_.task_id] = build_task(task_spec_, parent, tasks or {})
    state = spec.state
    if state is None:
        queue = InMemoryTaskQueue(spec.session_id)
        record = SessionRecord(spec.session_id, parent.session_id, spec.depth, spec.group_id, spec.member_id, spec.order_key, queue)
        branch = ExecutionContext.make_branch(parent, spec.session_id, BranchChannel(parent.channel, spec.session_id), record)
        record.context = branch
        parent.run.add_session(record)
    else:
        if state.session_id != spec.session_id:
            raise SnapshotError(f"spec of {shown(spec.session_id)} carries the state of {shown(state.session_id)}")
        branch = restore_session(state, parent, parent.run, workflow, run_settings(parent, parent.run))
        restore_dynamic(branch, state, tasks or {})
        branch.record.state = "open"
        branch.record.ended = None
    parent.run.pool = None
    branch.event_log = log  # type: ignore[attr-defined]  # read back by branch_outcome
    if state is None:
        own = (tasks or {}).get(spec.member_id)
        if isinstance(own, Executable):  # a member made at run time (a map's item): the branch holds it
            branch.dynamic_nodes = {spec.member_id: own}
        branch.add_to_queue(own if isinstance(own, Executable) else branch.lookup(spec.member_id))
    else:
        branch.task_queue.restore([branch.lookup(task_id) for task_id in state.queue])
    return branch


def run_branch(spec: BranchSpec, workflow: Any, *, tasks: Resolver | None = None, max_workers: int | None = None) -> BranchOutcome:
    """Run ``spec`` here, start to end, and return its outcome (what a worker process
    does): ``open_branch``, a worker pool of its own for groups nested in it (default:
    the run's ``max_workers``), the graph held read-only, ``branch_outcome``.  Its
    error, if any, is in ``outcome.error`` (a paused branch's is ``SessionPaused``)."""
    branch = open_branch(spec, workflow, tasks=tasks)
    run = branch.run
    workers = max_workers or spec.settings.get("max_workers") or run.max_workers  # a spec built by hand may lack it
    run.pool = WorkerPool(workers, name=f"graflow-{spec.session_id}")
    error: BaseException | None = None
    try:
        with branch.graph.reading():
            WorkflowEngine().execute(branch)
    except BaseException as raised:  # the outcome carries it home, whatever it is
        error = raised
    finally:
        run.pool.shutdown()
    return branch_outcome(branch, error)


def branch_outcome(branch: Session, error: BaseException | None = None) -> BranchOutcome:
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


def apply_outcome(
    outcome: BranchOutcome, branch: Session, *, tasks: Resolver | None = None, delivered: int = 0
) -> None:
    """Fold ``outcome`` into the live ``branch`` it was run for, as if it had run here.

    The one fold of a branch's outcome, for every caller (a subprocess, a Dask worker,
    a branch that paused there and went on later), so it reads the outcome as a state,
    never as a diff to replay:

    - ``changes`` are the branch's own since the fork (for a branch that paused and
      went on, all of them, not just the last part's): they replace its overlay, so
      an op already folded in from an earlier part is never added twice;
    - ``sessions`` are records: one that exists here already (the branch, or a
      session it opened before a pause) is brought up to date in place, keeping its
      context; only sessions new to this run are opened;
    - ``task_runs``, ``skipped``, ``dynamic_tasks`` and ``steps`` are what this part
      added, appended and counted once;
    - ``events[delivered:]`` reach the run's observers with their own time and
      thread; the first ``delivered`` already did, live, while the branch ran.
    """
    run = branch.run
    if outcome.session_id != branch.session_id:
        raise SnapshotError(f"outcome of {shown(outcome.session_id)} cannot be applied to {shown(branch.session_id)}")
    channel = branch.channel
    if not isinstance(channel, BranchChannel):
        raise SnapshotError(f"session {shown(branch.session_id)} is a root session, not a branch")
    channel.load_changes(outcome.changes)
    run.add_steps(outcome.steps)
    run.task_runs.extend(outcome.task_runs)
    run.skipped.extend(outcome.skipped)
    run.dynamic_tasks.extend(outcome.dynamic_tasks)
    resolver = tasks or {}
    contexts = {branch.session_id: branch}
    for session in outcome.sessions:
        record = run.sessions.get(session.session_id)
        ctx = record.context if record is not None else None
        if ctx is None:
            parent = contexts.get(session.parent_id or "")
            if parent is None:
                raise SnapshotError(
                    f"outcome of {shown(branch.session_id)}: session {shown(session.session_id)} comes before "
                    f"its parent {shown(session.parent_id)}"
                )
            ctx = restore_session(session, parent, run, branch.workflow, run_settings(branch, run))
        else:
            _copy_record(session, ctx)
        restore_dynamic(ctx, session, resolver)
        ctx.task_queue.drain()
        ctx.task_queue.restore([ctx.lookup(task_id) for task_id in session.queue if ctx.knows(task_id)])
        for name, value in session.counters.items():
            setattr(ctx.task_queue, name, value)
        contexts[session.session_id] = ctx
    if run.bus.active:
        for event in outcome.events[delivered:]:
            if event.kind not in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED) and run.is_within(event.session_id, branch.session_id):
                run.bus.deliver(event)


def _copy_record(session: SessionState, ctx: Session) -> None:
    record = ctx.record
    record.state = session.state
    record.ended = session.ended
    record.started = session.started
    record.tasks_run[:] = session.tasks_run
    ctx.steps = session.steps
    ctx.cycle_counts = dict(session.cycle_counts)
    ctx.completed_tasks = list(session.completed_tasks)
