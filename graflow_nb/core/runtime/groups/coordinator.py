"""Running one parallel group: fork, run branches, apply the policy, merge, close.

    fork     one branch session per member, in declaration order; each queue is
             seeded with its member exactly once
    run      members go to the group's executor (``executors``: the run's worker
             pool, or a Dask cluster), which settles each one as it ends
    decide   the policy looks at every member's outcome (declared order)
    merge    successful branches' changes fold into the parent in declared order
    close    each branch session ends merged, failed, cancelled or discarded

The group's successors are not enqueued here: the group node returns to the parent
loop, which enqueues them once, in the parent's queue.

A member that asks for human input pauses its branch (``SessionPaused``).  Its
siblings run on to the barrier; then the whole ``GroupRun`` is parked on the parent
context and the pause travels up to the run.  ``resume`` re-enters the same group
node, finds the parked ``GroupRun`` and runs only the paused branches that now have
answers, from where they stopped.  A step debugger without threads holds a branch the
same way (``SessionHeld``, ``core.runtime.gate``): the group parks, and a resume runs
the branches the debugger let go; a merge it holds parks the group before the merge.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ...data.merge import merge_branches
from ...errors import (
    AwaitParked,
    GraflowWorkflowCanceledError,
    GroupTimeoutError,
    SessionHeld,
    SessionPaused,
    StepLimitExceededError,
    ends_run,
    stop_status,
    stopped_by_cancel,
)
from ...events import EventKind
from ...model.policies import CANCELLED_AT_AWAIT, TaskResult, listed, resolve_policy
from ..executors.base import Batch
from ..executors.registry import executor_for
from ..interrupt import ctrl_c_here
from ..loop import settle_parked
from ..loop_driven import GroupParked
from . import mapping
from .base import Driver
from .direct import execute_direct

if TYPE_CHECKING:
    from ...data.channel import BranchChannel
    from ...model.task import Executable, MapTask, ParallelGroup
    from ..session import Session


def execute_group(group: ParallelGroup, parent: Session, engine: Driver, waiting: GroupRun | None = None) -> Any:
    """Run one group node of ``parent`` to its end; ``engine`` drains each branch.
    Returns the node's result: None for a group, the items' results for a map.
    ``waiting``: this node's group run that parked its parent because none of its
    members could go on (a run driven from its loop, ``core.runtime.loop_driven``);
    it goes on from there.  ``GroupParked`` says it parked again."""
    if waiting is not None:
        state = waiting
        state.engine = engine
        _parking(state, state.wait_members)
    elif group.backend == "direct":
        execute_direct(group, parent, engine)  # graflow's DIRECT: members in the parent session
        return None
    else:
        state = _started(group, parent, engine)
    paused = state.paused_branches()
    # A held branch (paused, yet open: not asking) waits to be let go even once the group
    # stops, as a held thread would, and then sees the stop; the parent stays open.
    held = any(b.record.state == "open" for b in paused)
    if held or paused and not state.stop_event.is_set() and not state.already_failed():
        parent.own("parked_groups")[group.task_id] = state
        if held:
            raise SessionHeld(parent.session_id)
        raise SessionPaused(parent.session_id, [b.session_id for b in paused])
    try:
        state.finish()
    except SessionHeld:
        parent.own("parked_groups")[group.task_id] = state  # held before its merge
        raise
    if group.is_map:
        return mapping.collect(state.members, state.branches, state._succeeded(), state.keys)
    return None


def _started(group: ParallelGroup, parent: Session, engine: Driver) -> GroupRun:
    """The group run of this node, its members run (or parked): a new one, or the one
    parked on ``parent`` for human input, with the members that now have answers."""
    parked = parent.own("parked_groups").pop(group.task_id, None) if parent.parked_groups else None
    if parked is None:
        if group.is_map:  # its members are made now, one per item (core.runtime.groups.mapping)
            items = mapping.read_items(cast("MapTask", group), parent)
            state = GroupRun(group, parent, engine, mapping.members_for(cast("MapTask", group), items, parent), items.keys)
            state.map_source = items.source_key
        else:
            state = GroupRun(group, parent, engine)
        state.fork()
        _parking(state, state.run_members, range(len(state.members)))
    else:
        state = parked
        state.engine = engine  # a group restored from a checkpoint was parked by another engine
        state.parent.reopen()
        _parking(state, state.run_members, state.resumable())
    return state


def _parking(state: GroupRun, call: Any, *args: Any) -> None:
    """``call(*args)``; a batch that can't wait (``AwaitParked``) parks the group run."""
    try:
        call(*args)
    except AwaitParked:
        raise GroupParked(state.parent.session_id, state) from None


class GroupRun:
    """One execution of one group node in one parent session."""

    _batch: Batch  # the members running now (set by run_members before any can settle)
    _indices: list[int]  # the members of that batch
    # Branch threads see the context variables of the thread that forked them: one
    # snapshot per run_members, and each member runs in its own copy of it (one
    # context can't be entered by two threads at once), made as it starts and dropped
    # as it ends, so a finished member keeps nothing of it.
    _context: contextvars.Context

    def __init__(
        self, group: ParallelGroup, parent: Session, engine: Driver | None = None,
        members: list[Executable] | None = None, keys: list[Any] | None = None,
    ):
        self.group = group
        # Drains the branches run here; a group restored from a checkpoint gets the
        # resuming engine when execute_group re-enters it.
        self.engine: Driver | None = engine
        self.parent = parent
        self.run = parent.run
        self.policy = resolve_policy(group.policy if group.policy is not None else self.run.default_policy)
        # A map's members are made at run time, one per item; ``keys``: a keyed map's
        # result keys, in item order (None: its results are a list).
        self.members = list(group.tasks) if members is None else members
        self.keys = keys
        # The channel key a map read its items from: a remote executor ships each
        # member its own item, and leaves the whole value out of the parent's view.
        self.map_source: str | None = None
        self.stop_event = threading.Event()
        self.branches: list[Session] = []
        self.outcomes: list[TaskResult | None] = [None] * len(self.members)
        self.deadline = None if group.timeout is None else time.monotonic() + group.timeout
        self.policy_error: BaseException | None = None  # the policy's should_stop raised

    def fork(self) -> None:
        parent, group = self.parent, self.group
        self.branches = parent.fork_branches(self.members, group.task_id, parent.current_order_key)
        if group.is_map:
            mapping.hold_members(self.branches, self.members)
        for branch in self.branches:
            branch.cancel_event = self.stop_event
        if self.run.bus.active:
            self.run.bus.emit(EventKind.GROUP_STARTED, parent.session_id, group.task_id, members=self.member_ids)
        if parent.tracer is not None and hasattr(parent.tracer, "on_parallel_group_start"):
            self.run.call_hook(parent.tracer, "on_parallel_group_start", group.task_id, self.member_ids, parent)

    @property
    def member_ids(self) -> list[str]:
        return [m.task_id for m in self.members]

    # -- running -----------------------------------------------------------------------
    @property
    def batch(self) -> Batch:
        """The members running now (``run_members``)."""
        return self._batch

    def run_members(self, indices: Any) -> None:
        indices = list(indices)
        if not indices:
            return
        group = self.group
        limit = group.max_concurrency or len(indices)
        self._context = contextvars.copy_context()
        try:
            self._batch = executor_for(group, self.run).start(self, indices, limit)
        except Exception as error:
            # The executor refused the batch (a value that can't be shipped, say):
            # nothing started, so every member is cancelled and the group fails with it.
            self._close_unstarted()
            self._fail(error, compensate=False)
        self._indices = indices
        self.wait_members()

    def wait_members(self) -> None:
        """Wait at the barrier for the batch ``run_members`` started; where no thread may
        wait, ``AwaitParked`` says no member can go on now, and this is called again
        once one can."""
        batch, indices = self._batch, self._indices
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        try:
            finished = batch.wait(timeout)
        except AwaitParked:
            raise
        except BaseException:
            # Interrupted at the barrier, or in a member this thread ran (Ctrl-C):
            # members that have not started never will; the interrupted run stops the
            # running ones (core.interrupt).  Kept, as a failed group is, for a
            # checkpoint: a resume runs again only the members that did not succeed.
            self.stop_event.set()
            batch.stop()
            self._close_skipped([indices[p] for p in batch.never_started()])
            self.parent.own("failed_groups")[self.group.task_id] = self
            raise
        if not finished:
            self.stop_event.set()
            batch.stop()
            running = [indices[p] for p in batch.still_running()]
            batch.settle_parked()  # async members: cancelled at their await, they end cancelled
            self._time_out(indices, running)
        # Every member settled, so nothing asks the batch again: what it holds of this
        # group run goes now, not when the pool next looks at its queue.
        batch.close()

    def run_here(self, index: int) -> None:
        """Drain branch ``index`` on this thread (the thread executor's job).

        On an executor that takes parked members (``Batch.parks``), a branch that
        reaches an async task parks on it (``AwaitParked``): the batch runs this again
        when the task's coroutine ends, and the session goes on from that task."""
        branch = self.branches[index]
        batch = self._batch
        try:
            assert self.engine is not None  # execute_group hands every group run its engine
            if batch.parks and self.run.gate is None and not self.run.ready_parallel:
                branch.parkable = True
                if branch.awaiting is not None and settle_parked(branch):
                    # Stopped while its async task awaited: that task started and was
                    # cancelled there, and nothing queued after it runs.
                    branch.parkable = False
                    branch.cancel()
                    self.outcomes[index] = self._cancelled_outcome(index, CANCELLED_AT_AWAIT)
                    return
            self._context.copy().run(self.engine.execute, branch)
        except AwaitParked:
            batch.park(index, branch.awaiting)  # the last this thread does with the branch
            return
        except BaseException as error:
            branch.parkable = False
            # Every error ends here, on whichever thread ran the member, so a worker
            # never dies of one.
            self.settle(index, error)
            if ctrl_c_here(error):
                # Ctrl-C landed in a member the forking thread ran itself: it goes up
                # at once, as at the barrier, so the run stops the members still
                # running instead of waiting for them.
                raise
            return
        branch.parkable = False
        self.settle(index, None)

    def settle(self, index: int, error: BaseException | None) -> None:
        """Record how branch ``index`` ended, wherever it ran; a SystemExit or a cancel
        also stops the run, and a failure the policy stops on stops the siblings."""
        branch = self.branches[index]
        member_id = self.members[index].task_id
        if error is None:
            if branch.record.state in ("cancelled", "abandoned"):  # never merged
                self.outcomes[index] = self._cancelled_outcome(index)
            else:
                self.outcomes[index] = TaskResult(member_id, True, None, None, branch.session_id)
        elif isinstance(error, SessionPaused):
            self.outcomes[index] = TaskResult(member_id, False, "paused", None, branch.session_id, "paused")
        elif stopped_by_cancel(error, branch.cancelled):
            # Its task stopped part-way for the stop of this group or run: not run,
            # like a sibling the stop reached between tasks.
            self.outcomes[index] = self._cancelled_outcome(index)
        else:
            status = stop_status(error) if ends_run(error) else "failed"
            self.outcomes[index] = TaskResult(member_id, False, str(error), error, branch.session_id, status)
            if ends_run(error):
                self.run.stop_with(error)
            if self._stops_siblings(member_id, error):
                self.stop_event.set()
                self._batch.stop()

    def _stops_siblings(self, member_id: str, error: BaseException) -> bool:
        if ends_run(error) or isinstance(error, StepLimitExceededError) or self.group.fail_fast:
            return True
        try:
            return self.policy.should_stop(member_id, error)
        except BaseException as policy_error:
            # The policy itself is broken: stop, and fail the group with its error.
            self.policy_error = self.policy_error or policy_error
            if ends_run(policy_error):
                self.run.stop_with(policy_error)
            return True

    def _close_skipped(self, skipped: list[int]) -> None:
        for index in skipped:
            if self.outcomes[index] is None:
                self.branches[index].close("cancelled", skip="cancelled")
                self.outcomes[index] = self._cancelled_outcome(index)

    def _time_out(self, indices: list[int], running: list[int]) -> None:
        """The group ran out of time: running branches are abandoned (they stop at their
        next task boundary and nothing they do later is merged)."""
        unfinished = []
        was_running = set(running)
        for index in indices:
            outcome = self.outcomes[index]
            if outcome is not None and outcome.status == "cancelled" and (
                index in was_running or outcome.error_message == CANCELLED_AT_AWAIT
            ):
                # An async member, cancelled for it (at its await, maybe before the
                # batch was asked what still ran: the stop cancels parked members).
                unfinished.append(self.members[index].task_id)
            if outcome is None:
                unfinished.append(self.members[index].task_id)
                if index in running:
                    self.run.abandoned_any = True
                    self.branches[index].abandon()
                    self.outcomes[index] = self._cancelled_outcome(index, "timed out")
        self._close_unstarted()
        assert self.group.timeout is not None  # only a group with a timeout runs out of time
        error = GroupTimeoutError(self.group.task_id, self.group.timeout, unfinished, self._results())
        self._fail(error)

    def resumable(self) -> list[int]:
        """Paused branches that now have an answer somewhere below them (or a session
        a debugger let go: ``Gate.released_sessions``), and members without an outcome
        (a failed group restored from a checkpoint runs those again)."""
        answered = self.run.answered_sessions()
        gate = self.run.gate
        if gate is not None:
            answered = [*answered, *gate.released_sessions()]
        return [
            i
            for i, outcome in enumerate(self.outcomes)
            if outcome is None  # a restored failed group: this member runs again
            or outcome.status == "paused"
            and any(self.run.is_within(s, self.branches[i].session_id) for s in answered)
        ]

    def paused(self) -> bool:
        return any(o is not None and o.status == "paused" for o in self.outcomes)

    def paused_branches(self) -> list[Session]:
        return [b for b, o in zip(self.branches, self.outcomes, strict=True) if o is not None and o.status == "paused"]

    def already_failed(self) -> bool:
        """A member failed in a way the policy says fails the group whatever the rest
        do: no one is asked a question for a group that has already failed."""
        return any(
            o is not None and o.status == "failed" and self.policy.fails_group_alone(o.task_id)
            for o in self.outcomes
        )

    # -- deciding and merging ----------------------------------------------------------
    def _close_unstarted(self) -> None:
        run = self.run
        for index, outcome in enumerate(self.outcomes):
            if outcome is not None and outcome.status == "paused":
                # The group fails anyway (a sibling failed and the policy stops): the
                # question will never be asked again, so the branch is cancelled.
                branch = self.branches[index]
                run.withdraw_questions(branch.session_id)
                branch.close("cancelled")
                self.outcomes[index] = self._cancelled_outcome(index)
                continue
            if outcome is None:  # never started: a sibling failed first, or time ran out
                self.branches[index].close("cancelled", skip="cancelled")
                self.outcomes[index] = self._cancelled_outcome(index)

    def _cancelled_outcome(self, index: int, message: str = "cancelled") -> TaskResult:
        return TaskResult(self.members[index].task_id, False, message, None, self.branches[index].session_id, "cancelled")

    def _results(self) -> dict[str, TaskResult]:
        return {m.task_id: o for m, o in zip(self.members, self.outcomes, strict=True) if o is not None}

    def _succeeded(self) -> list[int]:
        """Indices of the members that succeeded, in declared order."""
        return [i for i, o in enumerate(self.outcomes) if o is not None and o.success]

    def finish(self) -> None:
        run, group, parent = self.run, self.group, self.parent
        self._close_unstarted()
        results = self._results()
        # What went wrong, in declared order (most groups: nothing, and nothing to scan).
        unsuccessful = [r for r in results.values() if not r.success]
        if unsuccessful or self.policy_error is not None:
            self._fail_on_stops(unsuccessful)
        if run.gate is not None:
            run.call_gate("before_merge", group, parent, [(m.task_id, b, results[m.task_id]) for m, b in zip(self.members, self.branches, strict=True)])
        succeeded = self._succeeded()
        try:
            self.policy.on_group_finished(group.task_id, self.members, results, parent)
        except BaseException as error:
            self._fail(error)
        try:
            applied = merge_branches(
                parent.channel,
                [(self.members[i].task_id, cast("BranchChannel", self.branches[i].channel)) for i in succeeded],
                group.merge,
                group.task_id,
                report=run.bus.active,
            )
        except BaseException as error:
            self._fail(error, compensate=False)
        state = "degraded" if len(succeeded) < len(self.members) else "succeeded"
        run.record_group(group.task_id, parent.session_id, state, unsuccessful)
        for i in succeeded:
            branch, member_id = self.branches[i], self.members[i].task_id
            branch.close("merged")
            if run.bus.active:
                run.bus.emit(
                    EventKind.BRANCH_MERGED,
                    branch.session_id,
                    member_id,
                    group=group.task_id,
                    member=member_id,
                    parent=parent.session_id,
                    changes=applied.get(member_id, {}),
                )
        if run.bus.active:
            run.bus.emit(EventKind.GROUP_FINISHED, parent.session_id, group.task_id, state=state)
        if parent.tracer is not None and hasattr(parent.tracer, "on_parallel_group_end"):
            run.call_hook(parent.tracer, "on_parallel_group_end", group.task_id, self.member_ids, parent, results=results)

    def _fail_on_stops(self, unsuccessful: list[TaskResult]) -> None:
        """Fail the group, whatever its policy, for what no policy tolerates: a stop of
        the run, a cancel from outside, the run's step budget, or a broken policy."""
        run, group = self.run, self.group
        stop = next((r.error for r in unsuccessful if ends_run(r.error)), None)
        if stop is not None:
            # SystemExit, KeyboardInterrupt or a workflow cancel: no policy tolerates it.
            self._fail(stop)
        if run.cancel_event.is_set() and any(r.status == "cancelled" for r in unsuccessful):
            # The run was stopped from outside (the debugger's cancel, a stopped cell)
            # and so were members: a cancel of the run, not a failure of the group.
            cancelled = [r for r in unsuccessful if r.status == "cancelled"]
            never = [r.task_id for r in cancelled if r.error_message != CANCELLED_AT_AWAIT]
            stopped = [r.task_id for r in cancelled if r.error_message == CANCELLED_AT_AWAIT]
            told = "; ".join(
                ([f"not run: {listed(never)}"] if never else []) + ([f"{CANCELLED_AT_AWAIT}: {listed(stopped)}"] if stopped else [])
            )
            cancel = GraflowWorkflowCanceledError(
                f"run {run.root_session_id!r} was cancelled while group {group.task_id!r} ran; {told}", group.task_id
            )
            self._fail(cancel)
        budget = next((r.error for r in unsuccessful if isinstance(r.error, StepLimitExceededError)), None)
        if budget is not None:
            # The budget is the run's, not the group's: no policy can continue past it.
            budget.results = run.results()
            self._fail(budget)
        if self.policy_error is not None:
            self._fail(self.policy_error)

    def _fail(self, error: BaseException, compensate: bool = True) -> NoReturn:
        """The group failed: compensate if the policy asks, discard every branch, raise.

        An error that ends the run (``errors.ends_run``) runs no compensation: nothing
        new starts once the run stops.  A compensation that raises one stops the
        remaining compensations, and that error is raised instead."""
        run, group = self.run, self.group
        if ends_run(error):
            run.stop_with(error)
            compensate = False
        succeeded = self._succeeded()
        if compensate and getattr(self.policy, "compensates", False):
            for i in reversed(succeeded):
                compensation = getattr(self.members[i], "compensation", None)
                if compensation is not None:
                    assert self.engine is not None  # execute_group hands every group run its engine
                    failure = self.engine.compensate(self.branches[i], self.members[i], compensation)
                    if ends_run(failure):
                        error = failure
                        break
                    if failure is not None:
                        error.add_note(f"[graflow_nb] compensation of {self.members[i].task_id!r} failed: {failure!r}")
        for i in succeeded:
            self.branches[i].close("discarded")
        # Kept for a checkpoint of the failed run: resuming re-enters this group and
        # runs again only the members that did not succeed (core.snapshot).
        self.parent.own("failed_groups")[group.task_id] = self
        state = stop_status(error) if ends_run(error) else "failed"  # a cancel cancels the group
        run.record_group(group.task_id, self.parent.session_id, state, [r for r in self.outcomes if r is not None and not r.success])
        if run.bus.active:
            run.bus.emit(EventKind.GROUP_FINISHED, self.parent.session_id, group.task_id, state=state)
        raise error
