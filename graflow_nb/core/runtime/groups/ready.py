"""Ready-node scheduling: run every task of a session whose predecessors are done.

``execute(ready_parallel=True)`` replaces a session's one-task-at-a-time loop with
this scheduler, for graphs wired with separate edges (``f >> a``, ``f >> b``,
``a >> s``, ``b >> s``): a task starts as soon as all its predecessors finished
(AND-join, no level barrier), so a slow branch never holds back an independent one.

State, all touched only by the session's own thread unless noted:

    in_flight:  {job}                      started, not yet committed
    done:       [job]                      ended, waiting to be committed (appended by
                                           worker threads under _cond)
    commits:    {key: (seq, task_id, value)}  the last committed write per channel key
    failure:    the first error, in canonical order, of the jobs committed so far

Each task runs against a private overlay of the session channel and a private copy
of the session context (its own goto/terminate flags).  When it ends, the session
thread commits its changes: if a task running at the same time already committed a
different value to a key this one also set, that is a ``MergeConflictError`` naming
both tasks, never a silent overwrite; appends and counters add up.  Fail-fast: after
the first failure nothing new starts, running tasks are asked to stop at their next
boundary, and the error is raised once they have ended.  Task records get canonical
order keys (topological position, then occurrence), so ``execution_sequence()`` does
not depend on which thread won; real start and end times stay in the records.
"""

from __future__ import annotations

import contextvars
import copy
import threading
from typing import TYPE_CHECKING, Any, cast

from ...data.channel import BranchChannel
from ...data.isolation import same_value
from ...data.merge import merge_branches
from ...errors import (
    MergeConflictError,
    PauseRequested,
    SessionPaused,
    StepLimitExceededError,
    ends_run,
    stopped_by_cancel,
)
from ...model import scope
from ..interruptible import wait_slice
from .base import Driver

if TYPE_CHECKING:
    from ..session import Session

_RESULT_SUFFIX = ".__result__"


class _ReadyJob:
    """One task of the session, on a worker thread or run inline by the session thread."""

    def __init__(self, scheduler: ReadyScheduler, task: Any, scope: Session, order_key: tuple[Any, ...], seq: int):
        self.scheduler = scheduler
        self.task = task
        self.scope = scope
        self.order_key = order_key
        self.start_seq = seq
        self.claimed = False
        # No ``progress`` count for the pool's stall monitor: a lone job makes none until
        # someone runs it, so it counts as stuck from the monitor's second look on.
        self.result: Any = None
        self.error: BaseException | None = None
        self.context = contextvars.copy_context()

    def claim(self) -> bool:
        with self.scheduler._cond:
            if self.claimed:
                return False
            self.claimed = True
            return True

    def run_released(self, _index: int) -> None:
        """The pool's entry point (same shape as ForkJoin's)."""
        if self.claim():
            self.scheduler.ctx.run.pool.claimed(self)
            self.execute()

    def execute(self) -> None:
        scheduler = self.scheduler
        try:
            self.context.run(scope.enter, self.scope)
            self.result = self.context.run(scheduler.engine.run_task, self.scope, self.task, self.order_key)
        except BaseException as error:
            self.error = error
        finally:
            with scheduler._cond:
                scheduler._done.append(self)
                scheduler._cond.notify_all()


class ReadyScheduler:
    def __init__(self, engine: Driver, ctx: Session):
        self.engine = engine
        self.ctx = ctx
        self.in_flight: set[_ReadyJob] = set()
        self._done: list[_ReadyJob] = []
        self.commits: dict[str, tuple[int, str, Any]] = {}
        self.seq = 0
        self.failure: BaseException | None = None
        self.paused: BaseException | None = None
        self.terminated = False
        self.last_result: Any = None
        self.stop = threading.Event()
        self.occurrences: dict[str, int] = {}
        # Guards _done and every job's ``claimed``; the session thread waits on it.
        self._cond = threading.Condition(threading.Lock())
        for name in ("dynamic_nodes", "dynamic_succ", "dynamic_pred"):
            ctx.own(name)  # shared by every task's context copy

    def run(self) -> Any:
        ctx = self.ctx
        while True:
            self._start_ready()
            with self._cond:
                while self.in_flight and not self._done:
                    # Run a lone job here rather than wait for a thread; with several in
                    # flight this thread must stay free to commit whichever ends first.
                    job = next(iter(self.in_flight)) if len(self.in_flight) == 1 else None
                    if job is not None and not job.claimed:
                        job.claimed = True
                        break
                    self._cond.wait(wait_slice(None))
                else:
                    job = None
                finished, self._done = self._done, []
            if job is not None:  # nobody took it yet: run it here rather than wait
                if ctx.run.pool is not None:
                    ctx.run.pool.claimed(job)
                job.execute()
                continue
            for done in sorted(finished, key=lambda j: j.order_key):
                self.in_flight.discard(done)
                self._commit(done)
            if not self.in_flight and not finished:
                if self._stopping() or (ctx.task_queue.is_empty() and not ctx.fire_partial_join()):
                    break
        if ctx.cancelled and self.failure is None and self.paused is None:
            ctx.close("cancelled", skip="cancelled")
        if self.failure is not None:
            raise self.failure
        if self.paused is not None:
            raise self.paused
        if self.terminated:
            ctx.skip_queued("terminated")
        return self.last_result

    def _stopping(self) -> bool:
        return self.failure is not None or self.paused is not None or self.terminated or self.ctx.cancelled

    def _start_ready(self) -> None:
        ctx, run = self.ctx, self.ctx.run
        queue = ctx.task_queue
        while not self._stopping():
            task = queue.dequeue()
            if task is None:
                return
            if run.pool is None and self.in_flight:
                # No pool (no threads here): one task at a time, each run by this thread.
                queue.push_front(task)
                return
            if ctx.waiting_key is not None and ctx.waiting_key not in run.answers:
                queue.push_front(task)
                self.paused = SessionPaused(ctx.session_id, [ctx.session_id])
                return
            if run.gate is not None:
                run.call_gate("before_task", ctx, task)
            if not run.take_step():
                self.failure = StepLimitExceededError(run.max_steps, ctx.session_id, task.task_id)
                queue.push_front(task)
                return
            ctx.record.tasks_run.append(task.task_id)
            ctx.steps += 1
            job = _ReadyJob(self, task, self._scope(task), self._order_key(task), self.seq)
            self.in_flight.add(job)
            if run.pool is not None:
                run.pool.submit(job, 0)

    def _scope(self, task: Any) -> Session:
        """A copy of the session context for one task: shared queue, run, record and
        dynamic tables; its own channel overlay and control flags."""
        scope = copy.copy(self.ctx)
        scope.channel = BranchChannel(self.ctx.channel, f"{self.ctx.session_id}/{task.task_id}")
        scope.goto_called = scope.terminate_called = scope.cancel_called = False
        scope.goto_joins = ()
        scope.cancel_event = self.stop
        scope.parent_context = self.ctx  # so cancellation of the session reaches the task
        return scope

    def _order_key(self, task: Any) -> tuple[Any, ...]:
        topo = self.ctx.graph.topological_index()
        nth = self.occurrences.get(task.task_id, 0)
        self.occurrences[task.task_id] = nth + 1
        return (*self.ctx.record.order_key, topo.get(task.task_id, len(topo)), nth)

    def _commit(self, job: _ReadyJob) -> None:
        ctx, task_id = self.ctx, job.task.task_id
        if job.error is not None:
            if isinstance(job.error, (PauseRequested, SessionPaused)):
                ctx.task_queue.push_front(job.task)
                ctx.record.tasks_run.remove(task_id)
                ctx.waiting_key = job.scope.waiting_key or ctx.waiting_key
                if self.paused is None:
                    self.paused = SessionPaused(ctx.session_id, [ctx.session_id])
                return
            if stopped_by_cancel(job.error, job.scope.cancelled):
                pass  # it stopped part-way for the cancel: not run, and not a failure
            elif self.failure is None or (ends_run(job.error) and not ends_run(self.failure)):
                self.failure = job.error  # a SystemExit or a cancel outranks an ordinary failure
                self.stop.set()
            if ctx.run.gate is not None:
                ctx.run.call_gate("after_task", ctx, job.task, None, job.error)
            return
        try:
            self._check_conflicts(job)
        except MergeConflictError as conflict:
            if self.failure is None:
                self.failure = conflict
                self.stop.set()
            return
        merge_branches(ctx.channel, [(task_id, cast(BranchChannel, job.scope.channel))], "overwrite", ctx.session_id)
        if ctx.run.gate is not None:
            ctx.run.call_gate("after_task", ctx, job.task, job.result, None)
        ctx.mark_task_completed(task_id)
        self.last_result = job.result
        if job.scope.terminate_called:
            self.terminated = True
        elif not job.scope.goto_called:
            ctx.enqueue_successors(task_id)
        elif job.scope.goto_joins:
            ctx.enqueue_successors(task_id, job.scope.goto_joins)

    def _check_conflicts(self, job: _ReadyJob) -> None:
        task_id = job.task.task_id
        changes = cast(BranchChannel, job.scope.channel).changes()
        for key, change in changes.items():
            if change.kind != "set" or key.endswith(_RESULT_SUFFIX):
                continue
            last = self.commits.get(key)
            if last is not None and last[0] >= job.start_seq and last[1] != task_id and not same_value(last[2], change.value):
                raise MergeConflictError(
                    key,
                    [(last[1], last[2]), (task_id, change.value)],
                    self.ctx.session_id,
                    hint="they ran at the same time (ready_parallel); give them distinct keys, "
                    "use channel.append / atomic_add, or order them with >>",
                )
        for key, change in changes.items():
            if change.kind == "set":
                self.commits[key] = (self.seq, task_id, change.value)
        self.seq += 1
