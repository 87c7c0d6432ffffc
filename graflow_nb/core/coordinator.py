"""Running one parallel group: fork, run branches, apply the policy, merge, close.

    fork     one branch session per member, in declaration order; each queue is
             seeded with its member exactly once
    run      members go to the run's worker pool (``pool.ForkJoin``); the forking
             thread helps rather than blocks, so nesting can't deadlock
    decide   the policy looks at every member's outcome (declared order)
    merge    successful branches' changes fold into the parent in declared order
    close    each branch session ends merged, failed, cancelled or discarded

The group's successors are not enqueued here: the group node returns to the parent
loop, which enqueues them once, in the parent's queue.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING

from .events import EventKind
from .merge import merge_branches
from .policies import TaskResult, resolve_policy
from .pool import ForkJoin

if TYPE_CHECKING:
    from .context import ExecutionContext
    from .task import ParallelGroup


def execute_group(group: ParallelGroup, parent: ExecutionContext) -> None:
    from .engine import WorkflowEngine

    run = parent.run
    bus = run.bus
    policy = resolve_policy(group.policy)
    members = list(group.tasks)
    if not members:
        return
    group_key = parent.current_order_key
    stop_event = threading.Event()
    branches: list[ExecutionContext] = []
    for index, member in enumerate(members):
        branch = parent.create_branch_context(member.task_id, group_id=group.task_id, order_key=(*group_key, index))
        branch.cancel_event = stop_event
        branch.add_to_queue(member)
        branches.append(branch)
    if bus.active:
        bus.emit(EventKind.GROUP_STARTED, parent.session_id, group.task_id, members=[m.task_id for m in members])
    if parent.tracer is not None and hasattr(parent.tracer, "on_parallel_group_start"):
        parent.tracer.on_parallel_group_start(group.task_id, [m.task_id for m in members], parent)

    outcomes: list[TaskResult | None] = [None] * len(members)
    fork: ForkJoin

    def make_job(index: int):
        branch = branches[index]
        member_id = members[index].task_id
        context = contextvars.copy_context()

        def job() -> None:
            try:
                context.run(WorkflowEngine().execute, branch)
            except Exception as error:
                outcomes[index] = TaskResult(member_id, False, str(error), error, branch.session_id, "failed")
                if policy.should_stop(member_id, error):
                    stop_event.set()
                    fork.stop()
                return
            if branch.record.state == "cancelled":
                outcomes[index] = TaskResult(member_id, False, "cancelled", None, branch.session_id, "cancelled")
            else:
                outcomes[index] = TaskResult(member_id, True, session_id=branch.session_id)

        return job

    jobs = [make_job(i) for i in range(len(members))]
    limit = group.backend_config.get("thread_count") or len(members)
    pool = run.pool if group.backend == "threading" else None
    fork = ForkJoin(pool, jobs, limit)
    fork.run()

    results: dict[str, TaskResult] = {}
    for index, member in enumerate(members):
        outcome = outcomes[index]
        if outcome is None:  # never started: a sibling failed first
            branch = branches[index]
            run.close_session(branch.session_id, "cancelled")
            run.skipped.extend((t.task_id, branch.session_id, "cancelled") for t in branch.task_queue.drain())
            outcome = TaskResult(member.task_id, False, "cancelled", None, branch.session_id, "cancelled")
        results[member.task_id] = outcome

    if run.gate is not None:
        run.gate.before_merge(
            group, parent, [(m.task_id, b, results[m.task_id]) for m, b in zip(members, branches, strict=True)]
        )
    succeeded = [(m.task_id, b) for m, b in zip(members, branches, strict=True) if results[m.task_id].success]
    try:
        policy.on_group_finished(group.task_id, [m.task_id for m in members], results, parent)
        applied = merge_branches(
            parent.channel, [(mid, b.channel) for mid, b in succeeded], group.merge, group.task_id, report=bus.active
        )
    except BaseException:
        for _mid, branch in succeeded:
            run.close_session(branch.session_id, "discarded")
        if bus.active:
            bus.emit(EventKind.GROUP_FINISHED, parent.session_id, group.task_id, state="failed")
        raise
    for mid, branch in succeeded:
        run.close_session(branch.session_id, "merged")
        if bus.active:
            bus.emit(EventKind.BRANCH_MERGED, branch.session_id, mid, group=group.task_id, member=mid, parent=parent.session_id, changes=applied.get(mid, {}))
    if bus.active:
        degraded = len(succeeded) < len(members)
        bus.emit(EventKind.GROUP_FINISHED, parent.session_id, group.task_id, state="degraded" if degraded else "succeeded")
    if parent.tracer is not None and hasattr(parent.tracer, "on_parallel_group_end"):
        parent.tracer.on_parallel_group_end(group.task_id, [m.task_id for m in members], parent, results=results)
