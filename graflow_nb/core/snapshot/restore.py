"""Restoring a snapshot: live engine objects rebuilt from the values against a
workflow, and a failed or cancelled run's stopped sessions opened again."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
import site
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..checks import shown
from ..context import ExecutionContext
from ..data.channel import MISSING, BranchChannel, Channel, MemoryChannel
from ..events import EventBus, Observer
from ..model.graph import TaskGraph
from ..model.task import Executable, IterationTask, MapTask, ParallelGroup, Task, TaskWrapper
from ..runtime.groups.coordinator import GroupRun
from ..runtime.groups.mapping import members_of, read_items
from ..runtime.queue import InMemoryTaskQueue
from ..runtime.run import Run, SessionRecord, last_attempt
from ..runtime.session import Session
from .shape import check_shape
from .take import undone_members
from .values import FORMAT, NO_BASE, STOPPED, GroupState, ResumeMark, RunState, SessionState, SnapshotError, TaskSpec

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
    run = _restore_record(state, observers)
    contexts: dict[str, ExecutionContext] = {}
    for session in state.sessions:
        parent = contexts.get(session.parent_id) if session.parent_id is not None else None
        if session.parent_id is not None and parent is None:
            raise SnapshotError(f"session {shown(session.session_id)} comes before its parent {shown(session.parent_id)}")
        ctx = restore_session(session, parent, run, workflow, settings)
        contexts[session.session_id] = ctx
        restore_dynamic(ctx, session, tasks or {})
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


def _restore_record(state: RunState, observers: list[Observer] | None) -> Run:
    """The run's record as saved: settings, step count, attempts, groups, questions."""
    settings = state.settings
    run = Run(state.root_session_id, state.max_steps, state.max_workers, EventBus(observers), state.workflow_name)
    run.default_policy = settings["default_policy"]
    run.set_concurrency(settings["max_concurrency"])
    run.ready_parallel = settings["ready_parallel"]
    run.cache_origin = settings.get("cache")  # absent in checkpoints written before the re-run cache
    run.cache_decisions = dict(settings.get("cache_decisions", {}))
    run.steps = state.steps
    run.adopt_fork_counts(state.fork_counts)
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
    return run


def restore_session(
    session: SessionState, parent: Session | None, run: Run, workflow: Any, settings: dict[str, Any]
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
        ctx.llm_agents = dict(getattr(workflow, "llm_agents", {}))
        ctx.trace_id = session.session_id
        ctx.completed_tasks = []
        ctx.cycle_counts = {}
    else:
        ctx = ExecutionContext.make_branch(parent, session.session_id, _branch_channel(parent.channel, session), record)
    record.context = ctx
    run.add_session(record)
    ctx.steps = session.steps
    ctx.cycle_counts = dict(session.cycle_counts)
    ctx.completed_tasks = list(session.completed_tasks)
    if session.dynamic_succ:
        ctx.dynamic_succ = {k: list(v) for k, v in session.dynamic_succ.items()}
        ctx.has_dynamic = True
    if session.dynamic_pred:
        ctx.dynamic_pred = {k: list(v) for k, v in session.dynamic_pred.items()}
    if session.join_arrivals:
        ctx.join_arrivals = {k: set(v) for k, v in session.join_arrivals.items()}
    if session.waiting_key is not None and session.waiting_key in run.pending:
        # (a question withdrawn when its run stopped is asked again: its task runs anew)
        ctx.waiting_key = session.waiting_key
    if session.abandoned:
        ctx.abandoned_here = True
    ctx.current_order_key = tuple(session.current_order_key)
    return ctx


def _branch_channel(base: Channel, session: SessionState) -> BranchChannel:
    channel = BranchChannel(base, session.session_id)
    state = session.channel
    for key, value in state.values.items():
        if key in state.ops:
            op_base, ops = state.ops[key]
            channel.load_ops(key, value, MISSING if op_base is NO_BASE else op_base, ops)
        else:
            channel.set(key, value)
    for key in state.deleted:
        channel._mut("_deleted")[key] = None  # a saved delete: the channel has no public "deleted" write
    return channel


def restore_dynamic(ctx: Session, session: SessionState, tasks: Resolver) -> None:
    if not session.dynamic:
        return
    ctx.has_dynamic = True
    table = ctx.own("dynamic_nodes")
    for spec in session.dynamic:  # in creation order: a group's members come before it
        table[spec.task_id] = build_task(spec, ctx, tasks)


def build_task(spec: TaskSpec, ctx: Session, tasks: Resolver) -> Executable:
    """The live task ``spec`` describes, its code found by id in ``tasks`` or by name."""
    given = tasks.get(spec.task_id)
    if isinstance(given, Executable):
        return given
    item = _map_member(spec, ctx)
    if item is not None:
        return item
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
        group.member_id_set = set(spec.members)
        group.depth = 1 + max((getattr(m, "depth", 0) for m in group.tasks if m.is_group), default=0)
        for name, value in spec.options.items():
            setattr(group, name, value)
        return group
    func = given if callable(given) else _find_function(spec, ctx)
    options = dict(spec.options)
    options["bound_kwargs"] = dict(options.get("bound_kwargs") or {})
    return TaskWrapper(spec.task_id, func, register_to_context=False, **options)


def _map_member(spec: TaskSpec, ctx: Session) -> Executable | None:
    """The member ``spec`` stands for when ``ctx`` is a branch of a map and ``spec`` its
    item's task: made again by the map from the saved item, so it runs the code the
    map's task has now (None for any other task)."""
    record, parent = ctx.record, ctx.parent_context
    if parent is None or record.group_id is None or spec.task_id != record.member_id:
        return None
    node = parent.lookup(record.group_id) if parent.knows(record.group_id) else None
    if not isinstance(node, MapTask) or not spec.task_id.startswith(node.task_id + "["):
        return None
    label = spec.task_id[len(node.task_id) + 1 : -1]
    if spec.kind == "map" and spec.data is not None:
        return node.member(label, spec.data[0])
    bound = spec.options.get("bound_kwargs") or {}
    if spec.kind == "function" and node.param in bound:
        return node.member(label, bound[node.param])
    return None


def _find_function(spec: TaskSpec, ctx: Session) -> Callable[..., Any]:
    """The function a task created at run time runs: one a task of the workflow in
    scope runs under that ``module:qualname``, else that name looked up in the user's
    own code (``own_code``).  A checkpoint names the function; it never chooses code
    outside the user's modules and notebooks: such a function is handed in
    (``tasks=``), or the resume stops here, before anything runs."""
    session_id = ctx.session_id
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
    for node in ctx.graph.nodes.values():
        if isinstance(node, TaskWrapper) and _name_of(node.func) == spec.function:
            return node.func
    outside = _outside_own_code(module_name)
    if outside is not None:
        raise SnapshotError(
            f"task {shown(spec.task_id)} (created at run time in session {shown(session_id)}) runs "
            f"{shown(spec.function)}, and {shown(module_name, 80)} is {outside}, not your own code: a checkpoint "
            f"looks up only functions of your own modules and notebooks; if that task should run it, "
            f"pass it when resuming: tasks={{{spec.task_id!r}: <the function>}}"
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


def _name_of(func: Any) -> str:
    return f"{getattr(func, '__module__', None)}:{getattr(func, '__qualname__', None)}"


def _outside_own_code(module_name: str) -> str | None:
    """None if ``module_name`` is the user's own code: ``__main__`` (a notebook, a
    script), or a module whose file is outside the standard library and installed
    packages (site-packages, dist-packages) and not graflow_nb itself.  Else what it
    is.  Nothing is imported to decide: the top-level package is located, not run."""
    if module_name == "__main__":
        return None
    top = module_name.partition(".")[0]
    if not top.isidentifier():
        return "not a module name"
    if top in sys.builtin_module_names:
        return "built into Python"
    if top == __name__.partition(".")[0]:
        return "graflow_nb itself"
    loaded = sys.modules.get(top)
    if loaded is not None:
        where = getattr(loaded, "__file__", None)
    else:
        try:
            found = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            found = None
        if found is None:
            return None  # not importable: the lookup says so
        where = found.origin if found.has_location else None
        if where is None and found.submodule_search_locations:
            where = next(iter(found.submodule_search_locations), None)
    if not where:
        return "built into Python"
    place = os.path.realpath(where)
    parts = pathlib.PurePath(place).parts
    if "site-packages" in parts or "dist-packages" in parts or any(_inside(place, f) for f in _installed_folders()):
        return "an installed package"
    if any(_inside(place, folder) for folder in _standard_library()):
        return "part of the standard library"
    return None


def _standard_library() -> list[str]:
    paths = sysconfig.get_paths()
    return [os.path.realpath(paths[name]) for name in ("stdlib", "platstdlib") if name in paths]


def _installed_folders() -> list[str]:
    paths = sysconfig.get_paths()
    folders = [paths[name] for name in ("purelib", "platlib") if name in paths]
    folders += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    folders.append(site.getusersitepackages())
    return [os.path.realpath(folder) for folder in folders]


def _inside(place: str, folder: str) -> bool:
    return place == folder or place.startswith(folder.rstrip(os.sep) + os.sep)


def _restore_group(group: GroupState, parent: Session, contexts: dict[str, ExecutionContext]) -> None:
    node = parent.lookup(group.group_id)
    if not isinstance(node, ParallelGroup):
        raise SnapshotError(f"{shown(group.group_id)} in session {shown(parent.session_id)} is no longer a group")
    branches: list[Session] = [contexts[sid] for sid in group.branch_ids]
    if isinstance(node, MapTask):
        # Its members are the ones its branches hold; its keys are read again from the
        # value it mapped over, as saved in the parent's channel.
        items = read_items(node, parent)
        state = GroupRun(node, parent, None, members_of(branches), items.keys)
        state.map_source = items.source_key
    else:
        state = GroupRun(node, parent)  # its own stop flag; the branches are the saved ones
    state.branches = branches
    state.outcomes = list(group.outcomes)
    state.deadline = None if group.remaining is None else time.monotonic() + group.remaining
    for branch in state.branches:
        branch.cancel_event = state.stop_event
    table = "parked_groups" if group.why == "paused" else "failed_groups"
    parent.own(table)[group.group_id] = state


# -- opening a failed or cancelled run again ------------------------------------------
def _reopen(ctx: Session, run: Run) -> None:
    """Give ``ctx`` back the work it had left when the run stopped: the task that was
    running (it runs again, as the same step of the session) and the tasks that were
    dropped from its queue; then do the same below, for each group that failed here."""
    record = ctx.record
    if record.state not in STOPPED:
        return
    dropped = [i for i, (_, sid, _) in enumerate(run.skipped) if sid == ctx.session_id]
    again: list[Executable] = []
    last = record.tasks_run[-1] if record.tasks_run else None
    attempt = None if last is None else last_attempt(run.task_runs, ctx.session_id, last)
    if last is not None and attempt is not None and attempt.status != "succeeded":
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
    if ctx.abandoned_here:  # a timed-out group gave up on it; running again, it is not
        del ctx.abandoned_here
    failed = ctx.failed_groups
    if failed:
        for group_run in failed.values():
            _retry_group(group_run, run)
        ctx.own("parked_groups").update(failed)
        ctx.failed_groups = {}


def _retry_group(group_run: GroupRun, run: Run) -> None:
    """Members that succeeded keep their outcome and changes; the others (failed,
    cancelled, never started, or undone by a compensation) run again in their own
    sessions, from where they stopped, with the group's whole timeout again."""
    timeout = group_run.group.timeout
    group_run.deadline = None if timeout is None else time.monotonic() + timeout
    for index, (branch, undone) in enumerate(zip(group_run.branches, undone_members(group_run), strict=True)):
        outcome = group_run.outcomes[index]
        member = group_run.members[index]
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
