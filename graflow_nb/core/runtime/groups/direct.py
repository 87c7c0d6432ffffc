"""graflow's DIRECT backend: a group's members run one after another in the parent session.

No branch session is forked: each member (with the tasks chained after it, as a branch
would run them) drains a queue of its own on the parent's thread, in declaration order,
writing straight to the parent's channel.  What that gives up is isolation: a later
member sees an earlier one's writes, and a failed member's writes stay.  What it keeps:
the group's policy decides whether the group failed (every member runs, unless the
group is ``fail_fast``: then the members after a failure never start), the group's
successors run once, and every task is counted in the parent session's queue and
record.

A member that asks for human input parks the group on the parent (its place in the
member list and its queue), so a resume carries on with that member; members that
finished do not run again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import SessionPaused, StepLimitExceededError, ends_run
from ...events import EventKind
from ...model.policies import TaskResult, resolve_policy
from ..queue import InMemoryTaskQueue
from .base import Driver

if TYPE_CHECKING:
    from ...model.task import ParallelGroup
    from ..session import Session


class DirectGroupRun:
    """Where one direct group is: the next member to run, its queue, the outcomes so far."""

    def __init__(self, group: ParallelGroup, parent: Session):
        self.group = group
        self.parent = parent
        run = parent.run
        self.policy = resolve_policy(group.policy if group.policy is not None else run.default_policy)
        self.next_index = 0
        self.queue: InMemoryTaskQueue | None = None  # the member now running (kept while paused)
        self.results: dict[str, TaskResult] = {}

    @property
    def member_ids(self) -> list[str]:
        return [m.task_id for m in self.group.tasks]

    def run_members(self, engine: Driver) -> None:
        parent, members = self.parent, self.group.tasks
        while self.next_index < len(members):
            member = members[self.next_index]
            if self.queue is None:
                self.queue = InMemoryTaskQueue(parent.session_id)
                self.queue.enqueue(member)
            own_queue = parent.task_queue
            parent.task_queue = self.queue
            try:
                engine.run_queue(parent)
            except SessionPaused:
                parent.task_queue = own_queue
                raise
            except BaseException as error:
                parent.skip_queued("failed")
                parent.task_queue = own_queue
                self._fold(own_queue)
                if ends_run(error) or isinstance(error, StepLimitExceededError):
                    raise  # the run's, not the group's: no policy continues past it
                self.results[member.task_id] = TaskResult(
                    member.task_id, False, str(error), error, parent.session_id, "failed"
                )
                self.next_index += 1
                if self.group.fail_fast or self.policy.should_stop(member.task_id, error):
                    break
                continue
            finally:
                # A member's terminate/goto ends its own chain, not the parent's.
                parent.reset_control_flags()
            parent.task_queue = own_queue
            self._fold(own_queue)
            self.results[member.task_id] = TaskResult(member.task_id, True, session_id=parent.session_id)
            self.next_index += 1
        for member in members[self.next_index :]:
            self.results[member.task_id] = TaskResult(
                member.task_id, False, "cancelled", None, parent.session_id, "cancelled"
            )

    def _fold(self, own_queue: InMemoryTaskQueue) -> None:
        """Count the member's tasks in the parent session's own queue."""
        assert self.queue is not None  # set while a member runs
        own_queue.enqueued += self.queue.enqueued
        own_queue.dequeued += self.queue.dequeued
        own_queue.retries += self.queue.retries
        own_queue.failures += self.queue.failures
        self.queue = None

    def finish(self) -> None:
        parent, run, group = self.parent, self.parent.run, self.group
        ordered = {m: self.results[m] for m in self.member_ids}
        try:
            self.policy.on_group_finished(group.task_id, group.tasks, ordered, parent)
        except BaseException:
            run.record_group(group.task_id, parent.session_id, "failed", ordered.values())
            if run.bus.active:
                run.bus.emit(EventKind.GROUP_FINISHED, parent.session_id, group.task_id, state="failed")
            raise
        state = "succeeded" if all(r.success for r in ordered.values()) else "degraded"
        run.record_group(group.task_id, parent.session_id, state, ordered.values())
        if run.bus.active:
            run.bus.emit(EventKind.GROUP_FINISHED, parent.session_id, group.task_id, state=state)


def execute_direct(group: ParallelGroup, parent: Session, engine: Driver) -> None:
    """Run ``group``'s members in ``parent``'s own session (see the module docstring);
    ``engine`` drains each member's queue."""
    state: Any = parent.own("parked_groups").pop(group.task_id, None) if parent.parked_groups else None
    if state is None:
        state = DirectGroupRun(group, parent)
        if parent.run.bus.active:
            parent.run.bus.emit(EventKind.GROUP_STARTED, parent.session_id, group.task_id, members=state.member_ids)
    try:
        state.run_members(engine)
    except SessionPaused:
        parent.own("parked_groups")[group.task_id] = state
        raise
    state.finish()
