"""Sessions: one per queue drained, a tree per run; where a branch's state changes.

A ``Session`` owns exactly one in-memory queue and one channel and has a
``session_id``.  ``fork_branches(members, ...)`` makes one child per group member whose
queue is new, whose channel is an overlay over the parent's (O(1): nothing is copied),
and whose session id is ``f"{parent}_{member}"``.  The graph is shared and read-only;
tasks a session creates while running (``next_task``, a group built inside a branch)
are kept in that session's ``dynamic`` tables, visible to it and its descendants only,
so a sibling's dynamic task can never turn another branch's ``next_task`` into a goto.

State, as dask/local.py lists a scheduler's.  Fixed when the session is made:

    graph:           the run's TaskGraph (read-only while the run holds it)
    run:             the Run (core.runtime.run): the record every session writes into
    session_id, depth, parent_context, workflow, tracer, default_max_cycles/_retries
    record:          its SessionRecord in run.sessions: state, order_key, tasks_run

Changing, all written on the session's own thread unless noted:

    task_queue:      what runs next (FIFO); channel: its values (an overlay on a branch)
    completed_tasks: [task_id]            finished here, in order
    cycle_counts:    {task_id: runs}      for max_cycles
    dynamic_nodes / dynamic_succ / dynamic_pred: {task_id: ...}  tasks made while running
    join_arrivals:   {join_id: {pred_id}} predecessors that reached a waiting AND-join
    parked_groups / failed_groups: {group_id: GroupRun}  for a resume or a checkpoint
    waiting_key:     the input key its next task waits on (None: not waiting)
    control_set, goto_called, terminate_called, cancel_called, goto_joins, ctrl_message:
                     what the running task asked for (reset before each attempt)
    abandoned_here:  given up on by a group timeout or an interrupt (any thread)

Each tree node, branch or root, moves through record.state by these methods, each of
which records the state, takes the queue and emits the event in one call::

    open --pause()--> paused --reopen()--> open
    open|paused --close(state)--> closed | failed | cancelled | merged | discarded
    open|paused --cancel()--> cancelled      (stopped from outside; queue skipped)
    open|paused --abandon()--> abandoned     (final: nothing it does later counts)

and a parent opens its branches with ``fork_branches`` (``SESSION_FORKED`` each).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Self

from ..checks import MAX_GROUP_DEPTH, check_count, check_id, check_timeout, describe, shown
from ..data.channel import MISSING, BranchChannel, Channel, MemoryChannel
from ..data.typed_channel import TypedChannel
from ..errors import ConfigError, CycleLimitExceededError, DuplicateTaskError, GraphCompilationError, TaskTimeoutError
from ..events import EventBus, EventKind, Observer
from ..model import scope
from ..model.graph import TaskGraph, known_ids
from ..model.policies import resolve_policy
from ..model.task import Executable, IterationTask, SequentialTask, TaskWrapper
from .cycle import CycleController
from .feedback import request_feedback
from .feedback_manager import FeedbackManager
from .journal import JournalChannel, TaskJournal
from .queue import InMemoryTaskQueue
from .run import Run, SessionRecord, last_attempt
from .threadless import threads_available

DEFAULT_MAX_WORKERS = 256
RESULT_SUFFIX = ".__result__"  # a task's result is the channel key f"{task_id}{RESULT_SUFFIX}"
GRAFLOW_MAX_CYCLES = 10  # next_iteration's limit when neither the task nor the run sets one
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Session:
    """One session of a run: its queue, its channel, its place in the session tree.

    The runtime makes branches (``fork_branches``) of whatever class the root is; the
    root itself is made above the runtime, as graflow's ``core.context.ExecutionContext``
    (which adds ``execute()`` with an engine of its own), so nothing here imports the
    engine that drains it."""

    def __init__(
        self,
        graph: TaskGraph,
        start_node: str | None = None,
        max_steps: int = 10000,
        default_max_cycles: int | None = None,
        default_max_retries: int = 0,
        channel_backend: str = "memory",
        config: dict[str, Any] | None = None,
        tracer: Any = None,
        llm_client: Any = None,
        prompt_manager: Any = None,
        *,
        session_id: str | None = None,
        max_workers: int | None = None,
        observers: list[Observer] | None = None,
        initial_channel: dict[str, Any] | None = None,
        workflow: Any = None,  # the front door's WorkflowContext (core.workflow, above): its name and group count
        gate: Any = None,
        default_policy: Any = "strict",
        max_concurrency: int | None = None,
        ready_parallel: bool = False,
        executor: Any = None,
    ):
        if channel_backend != "memory":
            raise ValueError(
                f"channel_backend {channel_backend!r} is not supported: graflow_nb keeps "
                f"every session's channel in memory"
            )
        _check_run_arguments(max_steps, default_max_cycles, default_max_retries, max_workers, max_concurrency,
                             initial_channel, session_id, observers)
        self.graph = graph
        self.default_max_cycles = default_max_cycles
        self.default_max_retries = default_max_retries
        self.config = dict(config or {})
        self.tracer = tracer
        self.llm_client_instance = llm_client
        self.prompt_manager = prompt_manager
        self.workflow = workflow
        self.start_node = start_node
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.run = _new_run(self.session_id, max_steps, max_workers, observers, workflow, gate, default_policy,
                            max_concurrency, ready_parallel, executor)
        self.run.root_context = self
        self.run.checkpointer = getattr(graph, "checkpointer", None)  # the saver the graph's workflow handed in, if any
        self.channel: Channel = MemoryChannel(self.session_id, initial_channel)
        self.depth = 0
        self.task_queue = InMemoryTaskQueue(self.session_id)
        self.record = SessionRecord(self.session_id, None, 0, None, None, (), self.task_queue, self)
        self.run.add_session(self.record)
        self.llm_agents: dict[str, Any] = {}
        self.trace_id = self.session_id
        self.completed_tasks: list[str] = []
        self.cycle_counts: dict[str, int] = {}
        if start_node is not None:
            self.add_to_queue(self.start_task(start_node))

    # Per-session state that most sessions never change lives on the class; the first
    # write gives the session its own container (see _own).  A branch then costs a
    # handful of attribute stores instead of a dozen new containers.
    parent_context: Session | None = None
    cancel_event: Any = None  # the group's stop flag, set by the coordinator on branches
    steps = 0
    current_task_id: str | None = None
    current_order_key: tuple[Any, ...] = ()
    dynamic_nodes: Mapping[str, Executable] = _EMPTY
    dynamic_succ: Mapping[str, list[str]] = _EMPTY
    dynamic_pred: Mapping[str, list[str]] = _EMPTY
    join_arrivals: Mapping[str, set[str]] = _EMPTY
    parked_groups: Mapping[str, Any] = _EMPTY  # group id -> GroupRun waiting on human input
    failed_groups: Mapping[str, Any] = _EMPTY  # group id -> GroupRun that failed (for a checkpoint)
    waiting_key: str | None = None  # the input key the session's next task waits on
    checkpoint_request: tuple[str, Any, Any] | None = None  # (task id, path, metadata) of ctx.checkpoint(deferred=True)
    # graflow's names, on the run's root context: the .pkl path and the metadata (as a
    # dict) of the last checkpoint written of this run, or of the one it resumed from.
    last_checkpoint_path: str | None = None
    checkpoint_metadata: Mapping[str, Any] = _EMPTY
    _added_this_task: frozenset[str] | set[str] = frozenset()
    has_dynamic = False
    # Set with any of the running task's control flags below (and _added_this_task), so
    # a task that asked for nothing costs the engine one check, not five.
    control_set = False
    goto_called = False
    goto_joins: tuple[str, ...] = ()  # joins the running task jumped into (next_task)
    terminate_called = False
    cancel_called = False
    ctrl_message: str | None = None
    current_task_context: Any = None  # the running task's context, while a handler runs it
    # Where this branch went on elsewhere (a Dask worker): the executor keeps what it
    # needs to go on from a pause there (see graflow_nb.distributed).
    remote: Any = None
    # An async task's attempt may park this session (core.runtime.loop): set while the
    # worker pool runs it as a branch; ``awaiting``: the attempt it parked on.
    parkable = False
    awaiting: Any = None

    def own(self, name: str) -> dict[str, Any]:
        """This session's own dict for ``name``, made on first write."""
        table = self.__dict__.get(name)
        if table is None:
            table = {}
            setattr(self, name, table)
        return table

    @classmethod
    def make_branch(cls, parent: Session, session_id: str, channel: Channel, record: SessionRecord) -> Self:
        child = cls.__new__(cls)
        child.graph = parent.graph
        child.parent_context = parent
        child.default_max_cycles = parent.default_max_cycles
        child.default_max_retries = parent.default_max_retries
        child.config = parent.config
        tracer = parent.tracer
        child.tracer = tracer.clone(parent.trace_id) if tracer is not None and hasattr(tracer, "clone") else tracer
        child.llm_client_instance = parent.llm_client_instance
        child.prompt_manager = parent.prompt_manager
        child.workflow = parent.workflow
        child.start_node = None
        child.session_id = session_id
        child.run = parent.run
        child.channel = channel
        child.depth = parent.depth + 1
        child.task_queue = record.queue
        child.record = record
        child.llm_agents = parent.llm_agents
        child.trace_id = parent.trace_id
        child.completed_tasks = []
        child.cycle_counts = {}
        if parent.has_dynamic:
            child.has_dynamic = True
        return child

    # -- construction ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        graph: TaskGraph,
        start_node: str | None = None,
        max_steps: int = 10000,
        default_max_cycles: int | None = None,
        default_max_retries: int = 0,
        channel_backend: str = "memory",
        config: dict[str, Any] | None = None,
        tracer: Any = None,
        llm_client: Any = None,
        prompt_manager: Any = None,
        **extras: Any,
    ) -> Self:
        return cls(
            graph,
            start_node,
            max_steps,
            default_max_cycles,
            default_max_retries,
            channel_backend,
            config,
            tracer,
            llm_client,
            prompt_manager,
            **extras,
        )

    def create_branch_context(
        self,
        branch_id: str,
        *,
        group_id: str | None = None,
        order_key: tuple[Any, ...] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """A child session for one group member: own queue (empty), overlay channel.

        ``session_id`` is given only when a branch forked elsewhere is re-created (on
        a Dask worker); otherwise the run derives it.  Refused past ``MAX_GROUP_DEPTH``
        levels (groups built at run time or reached through chains are only known
        here), before the branch exists."""
        self._check_fork_depth(group_id)
        if session_id is None:
            session_id = self.run.branch_session_id(self.session_id, branch_id)
        key = order_key if order_key is not None else (*self.record.order_key, len(self.run.sessions))
        child = self._new_branch(session_id, branch_id, group_id, key)
        self.run.add_session(child.record)
        if self.run.bus.active:
            self._announce_fork(child, group_id)
        return child

    def fork_branches(self, members: list[Executable], group_id: str, order_key: tuple[Any, ...]) -> list[Session]:
        """One branch session per member of group ``group_id`` (as
        ``create_branch_context``), member ``i`` ordered at ``(*order_key, i)`` and
        queued in its session: the whole fork takes the run's lock twice, not twice
        per member."""
        self._check_fork_depth(group_id)
        run = self.run
        ids = run.branch_session_ids(self.session_id, [member.task_id for member in members])
        branches = [
            self._new_branch(session_id, member.task_id, group_id, (*order_key, index))
            for index, (member, session_id) in enumerate(zip(members, ids, strict=True))
        ]
        observed = run.bus.active
        if not observed:
            run.add_sessions([branch.record for branch in branches])
        for branch, member in zip(branches, members, strict=True):
            if observed:  # an observer sees each session open just before it is announced
                run.add_session(branch.record)
                self._announce_fork(branch, group_id)
            branch.add_to_queue(member)
        return branches

    def _check_fork_depth(self, group_id: str | None) -> None:
        if self.depth >= MAX_GROUP_DEPTH:
            raise GraphCompilationError(
                f"group {shown(group_id)} in session {shown(self.session_id)} would open a branch "
                f"session {self.depth + 1} levels deep; parallel groups may nest at most "
                f"{MAX_GROUP_DEPTH} deep: flatten the inner groups or chain them with >>"
            )

    def _new_branch(self, session_id: str, branch_id: str, group_id: str | None, key: tuple[Any, ...]) -> Session:
        queue = InMemoryTaskQueue(session_id)
        record = SessionRecord(session_id, self.session_id, self.depth + 1, group_id, branch_id, key, queue)
        child = type(self).make_branch(self, session_id, BranchChannel(self.channel, session_id), record)
        record.context = child
        return child

    def _announce_fork(self, child: Session, group_id: str | None) -> None:
        member = child.record.member_id
        self.run.bus.emit(EventKind.SESSION_FORKED, child.session_id, member, parent=self.session_id, group=group_id, member=member)

    # -- transitions: each records the state, takes the queue and says so, in one call --
    def pause(self) -> None:
        """open -> paused: its next task waits for an answer (its queue is kept)."""
        self.record.state = "paused"
        if self.run.bus.active:
            self.run.bus.emit(EventKind.SESSION_PAUSED, self.session_id, None, waiting=self.waiting_key)

    def reopen(self) -> None:
        """paused -> open: its question was answered, or a parked group goes on."""
        self.record.state = "open"

    def close(self, state: str, skip: str | None = None) -> None:
        """End in ``state`` (closed, failed, cancelled; merged or discarded by its group);
        with ``skip``, what is still queued is recorded as skipped for that reason.  A
        session given up on, or any closed one of a settled run, keeps its state."""
        self.run.close_record(self.record, state)
        if skip is not None:
            self.skip_queued(skip)

    def cancel(self) -> None:
        """Stopped from outside at a task boundary: cancelled if still open or paused (a
        session its group already closed, or gave up on, keeps that), queue skipped."""
        if self.record.state in ("open", "paused"):
            self.run.close_record(self.record, "cancelled")
        self.skip_queued("cancelled")

    def abandon(self) -> None:
        """Given up on while its task still runs (a group timed out, an interrupt could not
        stop it): nothing it does from now on counts, and it is closed ``abandoned``."""
        self.abandoned_here = True
        if self.record.state in ("open", "paused"):
            self.run.close_record(self.record, "abandoned")

    # -- cancellation ------------------------------------------------------------------
    abandoned_here = False  # set by abandon(): a timed-out group stopped waiting for it

    @property
    def abandoned(self) -> bool:
        """True if this session or an ancestor was abandoned by a group timeout."""
        ctx: Session | None = self
        while ctx is not None:
            if ctx.abandoned_here:
                return True
            ctx = ctx.parent_context
        return False

    @property
    def cancelled(self) -> bool:
        """True once this session should stop at its next task boundary."""
        ctx: Session | None = self
        while ctx is not None:
            if ctx.cancel_event is not None and ctx.cancel_event.is_set():
                return True
            ctx = ctx.parent_context
        return self.run.cancel_event.is_set()

    # -- graph lookups with this session's dynamic tasks -------------------------------
    def lookup(self, task_id: str) -> Executable:
        node = self.graph.nodes.get(task_id)
        if node is not None:
            return node
        ctx: Session | None = self
        while ctx is not None:
            node = ctx.dynamic_nodes.get(task_id)
            if node is not None:
                return node
            ctx = ctx.parent_context
        raise KeyError(f"no task {shown(task_id)} in the graph or in session {shown(self.session_id)}")

    def start_task(self, task_id: Any) -> Executable:
        """The task ``execute(start_node)`` names, or a KeyError listing what could start."""
        check_id(task_id, "execute(start_node)")
        if not self.knows(task_id):
            raise KeyError(
                f"execute({shown(task_id)}): no such task in the graph; start at one of "
                f"{known_ids(self.graph.get_start_nodes() or self.graph.nodes)}"
            )
        return self.lookup(task_id)

    # -- graflow's view of a deferred ctx.checkpoint() request ---------------------------
    @property
    def checkpoint_requested(self) -> bool:
        return self.checkpoint_request is not None

    @property
    def checkpoint_request_path(self) -> Any:
        return None if self.checkpoint_request is None else self.checkpoint_request[1]

    @property
    def checkpoint_request_metadata(self) -> dict[str, Any] | None:
        request = self.checkpoint_request
        return None if request is None else dict(request[2] or {})

    def knows(self, task_id: str) -> bool:
        try:
            self.lookup(task_id)
            return True
        except KeyError:
            return False

    def _dynamic_chain(self, table: str, task_id: str) -> list[str]:
        out: list[str] = []
        ctx: Session | None = self
        while ctx is not None:
            out.extend(getattr(ctx, table).get(task_id, ()))
            ctx = ctx.parent_context
        return out

    def successors(self, task_id: str) -> list[str]:
        base = self.graph.successors(task_id)
        if not self.has_dynamic:
            return base
        return base + [s for s in self._dynamic_chain("dynamic_succ", task_id) if s not in base]

    def predecessors(self, task_id: str) -> list[str]:
        base = self.graph.predecessors(task_id)
        if not self.has_dynamic:
            return base
        return base + [p for p in self._dynamic_chain("dynamic_pred", task_id) if p not in base]

    def add_dynamic_node(self, task: Executable) -> None:
        existing = self.graph.nodes.get(task.task_id) or self.dynamic_nodes.get(task.task_id)
        if existing is task:
            return
        if existing is not None:
            raise DuplicateTaskError(task.task_id)
        self.own("dynamic_nodes")[task.task_id] = task
        if not isinstance(self._added_this_task, set):
            self._added_this_task = set()
        self._added_this_task.add(task.task_id)
        self.control_set = True
        self.has_dynamic = True
        self.run.dynamic_tasks.append((task.task_id, self.session_id, self.current_task_id))
        if self.run.bus.active:
            self.run.bus.emit(EventKind.DYNAMIC_TASK_ADDED, self.session_id, task.task_id, spawned_by=self.current_task_id)

    def adopt_dynamic_nodes(self, nodes: Mapping[str, Executable]) -> None:
        """Tasks this session created while it ran elsewhere (a Dask worker), by value."""
        if nodes:
            self.own("dynamic_nodes").update(nodes)
            self.has_dynamic = True

    def add_dynamic_edge(self, from_id: str, to_id: str) -> None:
        succ = self.own("dynamic_succ").setdefault(from_id, [])
        if to_id not in succ:
            succ.append(to_id)
            self.own("dynamic_pred").setdefault(to_id, []).append(from_id)
        self.has_dynamic = True

    # -- the scope new tasks go to while this session's task runs (core.model.scope) --
    @property
    def running_session(self) -> Session:
        return self

    def register(self, task: Executable) -> None:
        if self.graph.nodes.get(task.task_id) is not task:  # else it is in the graph already
            self.add_dynamic_node(task)

    register_new = add_dynamic_node

    def link(self, left: Executable, right: Executable) -> None:
        self.add_dynamic_node(left)
        self.add_dynamic_node(right)
        self.add_dynamic_edge(left.task_id, right.task_id)

    successors_of = successors

    def remove_node(self, task_id: str) -> None:
        self.remove_dynamic_node(task_id)

    def rename_node(self, old_id: str, new_id: str) -> None:
        self.rename_dynamic_node(old_id, new_id)

    def direct_call_context(self, task_id: str) -> TaskExecutionContext:
        """A task of another session called directly gets a throwaway context, as outside a run."""
        return TaskExecutionContext(task_id, type(self).create(TaskGraph(), session_id="direct_call"))

    def new_group_name(self) -> str:
        """Groups built while a task runs are named by its workflow's count, as in wiring."""
        return (self.workflow if self.workflow is not None else scope.default()).new_group_name()

    def remove_dynamic_node(self, task_id: str) -> None:
        self.own("dynamic_nodes").pop(task_id, None)

    def rename_dynamic_node(self, old_id: str, new_id: str) -> None:
        nodes = self.own("dynamic_nodes")
        node = nodes.pop(old_id, None)
        if node is not None:
            nodes[new_id] = node

    # -- queue -------------------------------------------------------------------------
    def add_to_queue(self, task: Executable) -> None:
        """Queue ``task``; ``task_enqueued`` follows ``run_started``: what is queued
        before the run starts (the start node) is announced when it starts."""
        self.task_queue.enqueue(task)
        if self.run.bus.active and self.run.announced:
            self.run.bus.emit(EventKind.TASK_ENQUEUED, self.session_id, task.task_id)

    def enqueue_successors(self, task_id: str, targets: tuple[str, ...] | None = None) -> None:
        """Enqueue what follows ``task_id`` (its successors, or ``targets``: the joins it
        jumped into); a node with several predecessors waits for all of them (AND-join)
        and so runs once."""
        self.queue_successors(task_id, targets, False)

    def queue_successors(self, task_id: str, targets: tuple[str, ...] | None, take_next: bool) -> Executable | None:
        """``enqueue_successors``; with ``take_next``, then the queue's next task, taken
        off it in the same step (how the engine goes from a finished task to the next),
        or None when nothing was queued (the engine's own dequeue then looks).

        Every task of every session ends here, so a session without dynamic tasks
        reads the graph's edge tables itself (it runs while the graph is read-only)
        and queues without add_to_queue/lookup per successor (same order, counts and
        events)."""
        graph = self.graph
        # The graph's own edge tables, read here rather than through successors() and
        # predecessors(): this is every task's step, and the graph is read-only meanwhile.
        graph_preds = graph._pred
        if self.has_dynamic:
            ids = self.successors(task_id) if targets is None else targets
            dynamic_preds = self.predecessors
        else:
            ids = graph._succ.get(task_id, ()) if targets is None else targets
            dynamic_preds = None
            if take_next and len(ids) == 1 and len(graph_preds.get(ids[0], ())) == 1:
                # A chain's link: one successor, whose only predecessor is this task.
                node = graph.nodes.get(ids[0])
                if node is not None:
                    return self._take_next((node,))
        ready: list[Executable] = []
        nodes = graph.nodes
        for succ_id in ids:
            preds = graph_preds.get(succ_id, ()) if dynamic_preds is None else dynamic_preds(succ_id)
            if len(preds) > 1:
                arrived = self.own("join_arrivals").setdefault(succ_id, set())
                arrived.add(task_id)
                if not arrived.issuperset(preds):
                    continue
                del self.own("join_arrivals")[succ_id]
            node = nodes.get(succ_id)
            ready.append(self.lookup(succ_id) if node is None else node)
        if take_next:
            # With nothing ready (a leaf) nothing is handed over: the engine dequeues.
            return self._take_next(ready) if ready else None
        queue = self.task_queue
        run = self.run
        announce = run.bus.active and run.announced
        for node in ready:
            queue.enqueue(node)
            if announce:
                run.bus.emit(EventKind.TASK_ENQUEUED, self.session_id, node.task_id)
        return None

    def _take_next(self, ready: Sequence[Executable]) -> Executable | None:
        """Queue ``ready`` and take the queue's next task in one step: a lone task
        passes straight through an empty queue."""
        queue = self.task_queue
        if len(ready) == 1 and queue.pass_through(ready[0]):
            head: Executable | None = ready[0]
        else:
            head = queue.enqueue_then_dequeue(ready)
        run = self.run
        if run.bus.active and run.announced:
            for node in ready:
                run.bus.emit(EventKind.TASK_ENQUEUED, self.session_id, node.task_id)
        return head

    def skip_queued(self, why: str) -> None:
        """Empty this session's queue, which will not run, recording each task as skipped."""
        run = self.run
        for task in self.task_queue.drain():
            run.skipped.append((task.task_id, self.session_id, why))
            if run.bus.active:
                run.bus.emit(EventKind.TASK_SKIPPED, self.session_id, task.task_id, reason=why)

    def fire_partial_join(self) -> bool:
        """When the queue is empty, a join some of whose predecessors will never run in
        this session (a goto took another path) is queued with what arrived; False if
        no join is waiting."""
        if not self.join_arrivals:
            return False
        topo = self.graph.topological_index()
        succ_id = min(self.join_arrivals, key=lambda n: topo.get(n, len(topo)))
        del self.own("join_arrivals")[succ_id]
        self.add_to_queue(self.lookup(succ_id))
        return True

    # -- channel and results -----------------------------------------------------------
    def get_channel(self) -> Channel:
        return self.channel

    def set_result(self, task_id: str, value: Any) -> None:
        self.channel.set(task_id + RESULT_SUFFIX, value)

    def get_result(self, task_id: str, default: Any = None) -> Any:
        return self.channel.get(task_id + RESULT_SUFFIX, default)

    def mark_task_completed(self, task_id: str) -> None:
        self.completed_tasks.append(task_id)

    def last_completed_result(self) -> Any:
        """What the session's last finished task returned, or None when none has.

        A session continued from a checkpoint taken in its last task has nothing left
        to run, yet its run's result is that task's result, not None."""
        if not self.completed_tasks:
            return None
        attempt = last_attempt(self.run.task_runs, self.session_id, self.completed_tasks[-1])
        return attempt.result if attempt is not None and attempt.status == "succeeded" else None

    # -- control flow requested by tasks -----------------------------------------------
    def next_task(self, executable: Executable | str, goto: bool = False) -> str:
        """Queue ``executable`` (a task, a group, or the id of a task this session
        knows) in this session.  A task new to the run is added and the current
        task's successors still run; a known one (or ``goto=True``) is a jump."""
        if isinstance(executable, str):
            if not self.knows(executable):
                raise ValueError(
                    f"next_task({shown(executable)}) in session {shown(self.session_id)}: no task with "
                    f"that id in the graph or this session (known: {known_ids(self.graph.nodes)}); pass "
                    f"a task object to add a new one"
                )
            executable = self.lookup(executable)
        elif isinstance(executable, SequentialTask):
            # ``ctx.next_task(group >> task)``: the chain's head runs, the rest follows it.
            executable = executable._leftmost()  # the model's own chain helper (tests pin its name)
        elif not isinstance(executable, Executable):
            hint = ": decorate it with @task" if callable(executable) else ""
            raise TypeError(f"next_task() takes a task, a group or a task id, got {describe(executable)}{hint}")
        task_id = executable.task_id
        # A task built while this task runs (say a group from parallel()) registered
        # itself already; it is still new here, not a jump to an existing node.
        is_new = task_id in self._added_this_task or not self.knows(task_id)
        if is_new:
            self.add_dynamic_node(executable)
        elif len(self.predecessors(task_id)) > 1:
            # A jump into a join is this task arriving there: the join still waits for
            # the predecessors that can run and runs once (README "Joins").
            self.goto_called = self.control_set = True
            self.goto_joins = (*self.goto_joins, task_id)
            return task_id
        self.add_to_queue(executable if is_new else self.lookup(task_id))
        if goto or not is_new:
            self.goto_called = self.control_set = True
        return task_id

    def next_iteration(self, data: Any = None, task_id: str | None = None) -> str:
        task_id = task_id or self.current_task_id
        if task_id is None:
            raise ValueError("next_iteration() needs a running task")
        node = self.lookup(task_id)
        base = self.lookup(node.base_id) if isinstance(node, IterationTask) else node
        if not isinstance(base, TaskWrapper):
            raise TypeError(f"next_iteration(): {base.task_id!r} is not a function task")
        count = self.cycle_counts.get(base.task_id, 0)
        limit = self.max_cycles_for(base)
        if count >= limit:
            raise CycleLimitExceededError(task_id=base.task_id, cycle_count=count, max_cycles=limit)
        # graflow's id shape, but the suffix is derived, not random: the same run gives
        # the same ids, so renders and notebook outputs stay comparable.
        digest = hashlib.blake2s(f"{self.session_id}/{base.task_id}/{count}".encode(), digest_size=4).hexdigest()
        iteration_id = f"{base.task_id}_cycle_{count}_{digest}"
        iteration = IterationTask(iteration_id, base, data)
        self.add_dynamic_node(iteration)
        self.add_to_queue(iteration)
        return iteration_id

    def max_cycles_for(self, task: Executable) -> int:
        """How many runs ``next_iteration`` allows: the task's ``max_cycles``, else the
        run's ``default_max_cycles``, else graflow's 10."""
        if task.max_cycles is not None:
            return task.max_cycles
        return self.default_max_cycles if self.default_max_cycles is not None else GRAFLOW_MAX_CYCLES

    @property
    def cycle_controller(self) -> CycleController:
        """graflow's view of this session's cycle counts (``get_cycle_count(task_id)``)."""
        return CycleController(self)

    @property
    def feedback_manager(self) -> FeedbackManager:
        """Where another thread lists and answers this run's questions (graflow's
        ``list_pending_requests()`` / ``provide_feedback(feedback_id, response)``); the
        one handed in with ``ctx.feedback_manager = manager``, if any."""
        handed = self.run.feedback_manager
        return handed if handed is not None else FeedbackManager(run=self.run)

    @feedback_manager.setter
    def feedback_manager(self, manager: FeedbackManager) -> None:
        """graflow's way of giving a run (or the context resumed from its checkpoint) a
        manager it made: the manager answers this run's questions, with the answers it
        was already given."""
        if not isinstance(manager, FeedbackManager):
            raise TypeError(f"ctx.feedback_manager takes a FeedbackManager, got {type(manager).__name__}")
        manager.attach(self.run)
        self.run.feedback_manager = manager

    def terminate_workflow(self, message: str) -> None:
        self.terminate_called = self.control_set = True
        self.ctrl_message = message

    def cancel_workflow(self, message: str) -> None:
        self.cancel_called = self.control_set = True
        self.ctrl_message = message

    def reset_control_flags(self) -> None:
        if not self.control_set:
            return
        self.control_set = False
        if self.goto_called or self.terminate_called or self.cancel_called:
            self.goto_called = self.terminate_called = self.cancel_called = False
            self.ctrl_message = None
            self.goto_joins = ()
        if self._added_this_task:
            self._added_this_task = frozenset()

    # -- misc --------------------------------------------------------------------------
    @property
    def llm_client(self) -> Any:
        if self.llm_client_instance is None:
            raise RuntimeError("no llm_client was given to this run")
        return self.llm_client_instance

    def get_llm_agent(self, name: str) -> Any:
        if name not in self.llm_agents:
            raise KeyError(f"LLMAgent {name!r} not found in registry")
        return self.llm_agents[name]

    def register_llm_agent(self, name: str, agent: Any) -> None:
        self.llm_agents[name] = agent

    def execute(self) -> Any:
        """Run this session on with the engine its run was handed (graflow's
        ``context.execute()``; ``Run.resume`` continues a paused run this way)."""
        driver = self.run.driver
        if driver is None:
            raise ConfigError(
                f"session {self.session_id!r} has no engine yet: run it with "
                f"WorkflowEngine().execute(ctx) (or wf.execute(...)), which hands the run its engine"
            )
        return driver.execute(self)

    def __repr__(self) -> str:
        return f"<ExecutionContext {self.session_id!r} queue={self.task_queue.snapshot()}>"


class TaskExecutionContext:
    """What a task with ``inject_context=True`` receives as its first argument."""

    __slots__ = (
        "task_id", "execution_context", "retry_count", "cycle_count", "start_time",
        "_local_data", "channel_override", "abandoned", "_requests",
    )

    def __init__(
        self,
        task_id: str,
        execution_context: Session,
        retry_count: int = 0,
        cycle_count: int = 1,
        start_time: float | None = None,
    ):
        self.task_id = task_id
        self.execution_context = execution_context
        self.retry_count = retry_count
        self.cycle_count = cycle_count
        self.start_time = time.time() if start_time is None else start_time
        self._local_data: dict[str, Any] | None = None
        # Set when the task runs under a timeout: its writes go to a private overlay
        # that is merged only if it finishes in time; after that it is abandoned.
        self.channel_override: Channel | None = None
        self.abandoned = False
        self._requests = 0

    @property
    def local_data(self) -> dict[str, Any]:
        if self._local_data is None:
            self._local_data = {}
        return self._local_data

    @property
    def session_id(self) -> str:
        return self.execution_context.session_id

    @property
    def trace_id(self) -> str:
        return self.execution_context.trace_id

    @property
    def graph(self) -> TaskGraph:
        return self.execution_context.graph

    @property
    def max_cycles(self) -> int:
        ctx = self.execution_context
        return ctx.max_cycles_for(ctx.lookup(self.task_id))

    @property
    def max_retries(self) -> int:
        ctx = self.execution_context
        configured = ctx.lookup(self.task_id).max_retries
        return configured if configured is not None else ctx.default_max_retries

    @property
    def retries(self) -> int:
        return self.retry_count

    @property
    def cancelled(self) -> bool:
        """Poll this in long loops: True once the group or run asked this branch to stop,
        or once this attempt timed out and was abandoned."""
        return self.abandoned or self.execution_context.cancelled

    @property
    def llm_client(self) -> Any:
        return self.execution_context.llm_client

    @property
    def prompt_manager(self) -> Any:
        return self.execution_context.prompt_manager

    def can_iterate(self) -> bool:
        return self.cycle_count < self.max_cycles

    def _check_live(self) -> None:
        if self.abandoned:
            raise TaskTimeoutError(self.task_id, self.execution_context.lookup(self.task_id).timeout or 0, self.session_id)

    def next_task(self, executable: Executable, goto: bool = False) -> str:
        self._check_live()
        task_id = self.execution_context.next_task(executable, goto=goto)
        self._note_control("next_task", (executable, goto))
        return task_id

    def next_iteration(self, data: Any = None) -> str:
        self._check_live()
        task_id = self.execution_context.next_iteration(data, self.task_id)
        self._note_control("next_iteration", (data,))
        return task_id

    def terminate_workflow(self, message: str) -> None:
        self._check_live()
        self.execution_context.terminate_workflow(message)
        self._note_control("terminate_workflow", (message,))

    def cancel_workflow(self, message: str) -> None:
        self._check_live()
        self.execution_context.cancel_workflow(message)
        self._note_control("cancel_workflow", (message,))

    def get_channel(self) -> Channel:
        override = self.channel_override
        channel = self.execution_context.channel if override is None else override
        return JournalChannel(channel, self) if self.execution_context.run.journaling else channel

    def input_channel(self) -> Channel:
        """The channel its parameters are read from: reads need no journal."""
        override = self.channel_override
        return self.execution_context.channel if override is None else override

    # -- the run's journal (core.runtime.journal): what wf.rerun(from_=...) takes ------
    def journal(self) -> TaskJournal | None:
        """This attempt's entry in ``run.journal``, made on its first change or control
        call; None in a run that keeps none (a run with a cache records its own way)
        and once the attempt was abandoned (what it does then never counts)."""
        ctx = self.execution_context
        run = ctx.run
        if self.abandoned or not run.journaling:
            return None
        key = (ctx.session_id, ctx.current_order_key, self.retry_count + 1)
        entry = run.journal.get(key)
        if entry is None:
            entry = run.journal[key] = TaskJournal()
        return entry

    def _note_control(self, name: str, args: tuple[Any, ...]) -> None:
        journal = self.journal()
        if journal is not None:
            journal.controls.append((name, args))

    def _not_to_take(self, why: str) -> None:
        """What this attempt did can't be taken from the run without calling it."""
        journal = self.journal()
        if journal is not None and journal.refusal is None:
            journal.refusal = why

    # -- human input (graflow's names); see core.feedback ------------------------------
    def request_feedback(
        self,
        feedback_type: str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        channel_key: str | None = None,
        write_to_channel: bool = False,
        handler: Any = None,
        *,
        default: Any = MISSING,
    ) -> Any:
        self._check_live()
        check_timeout(timeout, f"task {shown(self.task_id)}: request_feedback()")
        self._requests += 1
        self._not_to_take("it asked for human input")
        return request_feedback(
            self, str(getattr(feedback_type, "value", feedback_type)), prompt, options, metadata,
            timeout, channel_key, write_to_channel, default, self._requests, handler,
        )

    def request_approval(self, prompt: str, metadata: dict[str, Any] | None = None, timeout: float | None = None,
                         channel_key: str | None = None, write_to_channel: bool = False, *, default: Any = MISSING) -> bool:
        response = self.request_feedback("approval", prompt, None, metadata, timeout, channel_key, write_to_channel,
                                         default=default)
        return bool(response.approved)

    def request_text_input(self, prompt: str, metadata: dict[str, Any] | None = None, timeout: float | None = None,
                           channel_key: str | None = None, write_to_channel: bool = False, *,
                           default: Any = MISSING) -> str:
        response = self.request_feedback("text", prompt, None, metadata, timeout, channel_key, write_to_channel,
                                         default=default)
        return response.text or ""

    def request_selection(self, prompt: str, options: list[str], metadata: dict[str, Any] | None = None,
                          timeout: float | None = None, channel_key: str | None = None, write_to_channel: bool = False, *,
                          default: Any = MISSING) -> str:
        response = self.request_feedback("selection", prompt, options, metadata, timeout, channel_key,
                                         write_to_channel, default=default)
        return response.selected or ""

    def run_coroutine(self, coroutine: Any) -> Any:
        """A custom handler's ``task.run()`` of an async task: the coroutine it made, run
        to its end on the run's event loop while this thread waits."""
        ctx = self.execution_context
        return ctx.run.event_loop().run_to_end(coroutine, ctx, self)

    # -- the same, awaitable, for async tasks --------------------------------------------
    # Asked without a timeout (and no default), a question pauses the session at once
    # and the blocking forms are fine in an async task too; asked with one, they wait
    # for the answer, which on the run's loop would stall every other async task.
    # These wait on a thread instead (``asyncio.to_thread``, context carried over);
    # where threads can't start they ask here (``_asked``).
    async def arequest_feedback(self, *args: Any, **kwargs: Any) -> Any:
        """``await ctx.arequest_feedback(...)``: ``request_feedback`` from an async task."""
        return await _asked(self.request_feedback, *args, **kwargs)

    async def arequest_approval(self, *args: Any, **kwargs: Any) -> bool:
        """``await ctx.arequest_approval(...)``: ``request_approval`` from an async task."""
        return await _asked(self.request_approval, *args, **kwargs)

    async def arequest_text_input(self, *args: Any, **kwargs: Any) -> str:
        """``await ctx.arequest_text_input(...)``: ``request_text_input`` from an async task."""
        return await _asked(self.request_text_input, *args, **kwargs)

    async def arequest_selection(self, *args: Any, **kwargs: Any) -> str:
        """``await ctx.arequest_selection(...)``: ``request_selection`` from an async task."""
        return await _asked(self.request_selection, *args, **kwargs)

    # -- checkpoints (graflow's name); see core.checkpoint --------------------------------
    def checkpoint(self, metadata: dict[str, Any] | None = None, *, path: Any = None, deferred: bool = True) -> Any:
        """Save the run from this root-session task.  ``deferred`` (graflow's default):
        written once this task has finished and its successors are queued, so resuming
        starts after it; returns None.  ``deferred=False``: written now, resuming runs
        this task again from its start; returns ``(path, CheckpointMetadata)``.
        ``path``: a ``.pkl`` file, a base name (``dir/x``: ``dir/x.pkl``, as graflow) or
        a directory (default: ``execute(checkpoint_dir=)``).  A deferred checkpoint that
        can't be written goes to ``run.checkpoint_errors`` and leaves the run going."""
        self._check_live()
        self._not_to_take("it asked for a checkpoint")
        ctx = self.execution_context
        return ctx.run.saver().checkpoint_from_task(ctx, self.task_id, metadata, path, deferred)

    def get_typed_channel(self, message_type: type) -> Any:
        return TypedChannel(self.get_channel(), message_type)

    def get_result(self, task_id: str, default: Any = None) -> Any:
        return self.execution_context.get_result(task_id, default)

    def get_llm_agent(self, name: str) -> Any:
        return self.execution_context.get_llm_agent(name)

    def register_llm_agent(self, name: str, agent: Any) -> None:
        self.execution_context.register_llm_agent(name, agent)

    def set_local_data(self, key: str, value: Any) -> None:
        self.local_data[key] = value

    def get_local_data(self, key: str, default: Any = None) -> Any:
        return default if self._local_data is None else self._local_data.get(key, default)

    def elapsed_time(self) -> float:
        return time.time() - self.start_time

    def __repr__(self) -> str:
        return f"<TaskExecutionContext {self.task_id!r} session={self.session_id!r}>"


def _new_run(
    session_id: str, max_steps: int, max_workers: int | None, observers: list[Observer] | None, workflow: Any,
    gate: Any, default_policy: Any, max_concurrency: int | None, ready_parallel: bool, executor: Any,
) -> Run:
    """The run a root session starts, with its settings checked and set."""
    workers = max_workers if max_workers is not None else DEFAULT_MAX_WORKERS
    run = Run(session_id, max_steps, workers, EventBus(observers), workflow_name=workflow.name if workflow is not None else "")
    run.gate = gate
    if default_policy is not None:
        resolve_policy(default_policy)
        run.default_policy = default_policy
    run.set_concurrency(max_concurrency)
    run.ready_parallel = ready_parallel
    if executor is not None and not (callable(getattr(executor, "submit", None)) and callable(getattr(executor, "scatter", None))):
        raise TypeError(f"execute(executor=...) takes a Dask distributed.Client, got {describe(executor)}")
    run.executor = executor
    return run


def _check_run_arguments(
    max_steps: Any,
    default_max_cycles: Any,
    default_max_retries: Any,
    max_workers: Any,
    max_concurrency: Any,
    initial_channel: Any,
    session_id: Any,
    observers: Any,
) -> None:
    """Refuse a run's bad settings before its first session exists."""
    owner = "execute()"
    check_count(max_steps, "max_steps", owner, minimum=1)
    check_count(default_max_cycles, "default_max_cycles", owner, minimum=1, optional=True)
    check_count(default_max_retries, "default_max_retries", owner, minimum=0)
    check_count(max_workers, "max_workers", owner, minimum=1, optional=True)
    check_count(max_concurrency, "max_concurrency", owner, minimum=1, optional=True)
    if session_id is not None:
        check_id(session_id, "execute(session_id=...)")
    if initial_channel is not None:
        if not isinstance(initial_channel, Mapping):
            raise TypeError(
                f"{owner}: initial_channel must be a mapping of channel keys to values, "
                f"got {describe(initial_channel)}"
            )
        bad = next((k for k in initial_channel if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"{owner}: initial_channel keys must be strings, got {describe(bad)}")
    if observers is not None:
        bad = next((o for o in observers if not callable(o)), None)
        if bad is not None:
            raise TypeError(f"{owner}: observers must be callables taking an event, got {describe(bad)}")


async def _asked(ask: Any, *args: Any, **kwargs: Any) -> Any:
    """``ask(...)`` (a blocking ``request_*``) on a thread, or, where threads can't
    start (a run driven from its loop: ``core.runtime.loop_driven``), here: asked
    without a timeout, a question pauses its session at once."""
    if threads_available():
        return await asyncio.to_thread(ask, *args, **kwargs)
    return ask(*args, **kwargs)
