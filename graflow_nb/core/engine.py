"""The loop that drains one session's queue.

Scheduling policy: a session runs its own queue, FIFO, one task at a time on one
thread.  After a task succeeds its successors are enqueued in the *same* session
(a node with several predecessors waits until all of them finished there: AND-join).
A parallel group node forks one branch session per member (``coordinator``), waits
at the barrier, merges, and only then do the group's successors enter this queue:
that is why a diamond's sink runs once.

Control requested by the task is applied in graflow's precedence:
cancel > terminate > goto > normal.
"""

from __future__ import annotations

import contextvars
import threading
import time
from functools import partial
from typing import Any

from . import run as run_module
from . import timed
from . import workflow as workflow_module
from .channel import BranchChannel
from .checks import check_id, describe, shown
from .context import RESULT_SUFFIX, ExecutionContext, TaskExecutionContext
from .coordinator import execute_group
from .errors import (
    AbandonedAttemptsLimitError,
    CycleLimitExceededError,
    GraflowWorkflowCanceledError,
    GroupTimeoutError,
    MergeConflictError,
    ParallelGroupError,
    PauseRequested,
    RetryLimitExceededError,
    RunInterrupted,
    SessionPaused,
    StepLimitExceededError,
    TaskTimeoutError,
    annotate,
    ends_run,
    stop_status,
    stopped_by_cancel,
)
from .events import EventKind
from .interrupt import RunningTask, TaskThreads, stop_tasks
from .merge import merge_branches
from .pool import WorkerPool
from .ready import ReadyScheduler
from .run import PausedRun, TaskRun
from .task import TaskWrapper
from .workflow import _current_workflow, current_execution

_now = time.time
_current_thread = threading.current_thread
_WRAPPER_INVOKE = TaskWrapper.invoke

# Failures that another attempt of the same task cannot fix.
_NOT_RETRIED = (
    AbandonedAttemptsLimitError,
    ParallelGroupError,
    CycleLimitExceededError,
    StepLimitExceededError,
    MergeConflictError,
    GroupTimeoutError,
)


class WorkflowEngine:
    """graflow's engine object: runs an ``ExecutionContext`` to the end, with the task
    handlers registered on it (``wf.execute`` uses one for you)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Any] = {}

    def register_handler(self, name: str, handler: Any) -> None:
        """graflow's hook for custom task handlers (``core.handler.TaskHandler``): a task
        declared with ``@task(handler=name)`` runs as ``handler.execute_task(task, ctx)``
        in every session of the runs this engine executes."""
        check_id(name, "register_handler(name)")
        if not callable(getattr(handler, "execute_task", None)):
            raise TypeError(
                f"register_handler({shown(name)}): {describe(handler)} has no execute_task(task, context) "
                f"method; subclass graflow_nb.core.handler.TaskHandler"
            )
        self._handlers[name] = handler

    def execute(self, context: ExecutionContext, start_task_id: str | None = None) -> Any:
        """Run ``context``'s session to the end; the root session also owns the run."""
        if self._handlers:
            context.run.handlers.update(self._handlers)
        if start_task_id is not None:
            context.add_to_queue(context.lookup(start_task_id))
        if context.parent_context is not None:
            return self._session(context)
        return self._root(context)

    @staticmethod
    def _announce(context: ExecutionContext) -> None:
        """``run_started``, then the tasks queued while the run was set up: every event
        of a run comes after its ``run_started``."""
        run = context.run
        run.announced = True
        if run.bus.active:
            run.bus.emit(EventKind.RUN_STARTED, context.session_id, workflow=run.workflow_name)
            for task_id in context.task_queue.snapshot():
                run.bus.emit(EventKind.TASK_ENQUEUED, context.session_id, task_id)

    # -- the root session owns the run: pool, status, read-only graph ------------------
    def _root(self, context: ExecutionContext) -> Any:
        run = context.run
        run.pool = WorkerPool(run.max_workers, name=f"graflow-{context.session_id}")
        resuming = run.status == "paused"
        run.status = "running"
        if resuming:
            run.announced = True  # it started before (in this process, or before its checkpoint)
        else:
            self._announce(context)
        try:
            return self._run_root(context)
        finally:
            run.pool.shutdown()
            run.ended = time.time()
            if run.bus.active and run.status != "paused":
                run.bus.emit(EventKind.RUN_FINISHED, context.session_id, status=run.status)

    def _run_root(self, context: ExecutionContext) -> Any:
        """Drive the root session and settle the run's one outcome: its status, result
        or error, and the root session's final state."""
        run = context.run
        try:
            with context.graph.reading():
                result = self._session(context)
        except SessionPaused:
            if not run.cancel_event.is_set():
                run.status = "paused"
                return PausedRun(run)
            # Stopped while a session waited for input: nothing will resume it.
            run.pending.clear()
            error = run.stop_error
            if error is None:
                run.status = "cancelled"
                run.close_session(context.session_id, "cancelled")
                return None
        except BaseException as raised:
            error = raised
        else:
            # An observer or hook may have stopped the run without anything raising here.
            error = run.stop_error
            if error is None:
                # A run stopped from outside (run.cancel_event) ends cancelled, not succeeded.
                run.status = "cancelled" if run.cancel_event.is_set() else "succeeded"
                run.result = result
                return result
        error, run.status = run.outcome_of(error)
        if isinstance(error, StepLimitExceededError):
            error.results = run.results()
        if isinstance(error, KeyboardInterrupt):
            self._stop_after_interrupt(run, error)
        run.error = error
        run.cancel_event.set()
        if context.record.state in ("open", "paused"):
            run.close_session(context.session_id, "failed" if run.status == "failed" else "cancelled")
        raise error

    @staticmethod
    def _stop_after_interrupt(run: Any, error: KeyboardInterrupt) -> None:
        """Ctrl-C reached the thread that called ``execute``: stop every task still
        running elsewhere in the run before the call returns, and say on ``error``
        which ones could not be stopped (``core.interrupt``)."""
        root = run.root_session_id
        stuck = stop_tasks(
            run, lambda: all(r.state != "open" and r.state != "paused" for r in run.sessions.values() if r.session_id != root)
        )
        line = f"[graflow_nb] run {root!r} interrupted: cancelled"
        if stuck:
            line += "; abandoned, still running: " + ", ".join(e.describe() for e in stuck)
        error.add_note(line)

    # -- one session -------------------------------------------------------------------
    def _session(self, ctx: ExecutionContext) -> Any:
        workflow = ctx.workflow
        # A branch's thread usually has its workflow current already (the context it
        # was started in): then there is nothing to set, nor to reset after.
        wf_token = _current_workflow.set(workflow) if workflow is not None and _current_workflow.get() is not workflow else None
        exec_token = current_execution.set(ctx)
        try:
            result = ReadyScheduler(self, ctx).run() if ctx.run.ready_parallel else self._loop(ctx)
        except SessionPaused:
            ctx.record.state = "paused"
            if ctx.run.bus.active:
                ctx.run.bus.emit(EventKind.SESSION_PAUSED, ctx.session_id, None, waiting=ctx.waiting_key)
            raise
        except BaseException as error:
            if ctx.record.state == "open":
                state = "cancelled" if stopped_by_cancel(error, ctx.cancelled) else ctx.run.outcome_of(error)[1]
                ctx.run.close_session(ctx.session_id, state)
                ctx.skip_queued(state)
            raise
        finally:
            current_execution.reset(exec_token)
            if wf_token is not None:
                _current_workflow.reset(wf_token)
            if ctx.run.gate is not None:
                ctx.run.call_gate("session_ended", ctx)
        if ctx.parent_context is None and ctx.record.state in ("open", "paused"):
            ctx.run.close_session(ctx.session_id, "closed")
        return result

    def run_queue(self, ctx: ExecutionContext) -> Any:
        """Drain ``ctx``'s queue on this thread, task by task (a direct group's members
        run this way, in their parent's session); returns the last task's result."""
        return self._loop(ctx)

    def _loop(self, ctx: ExecutionContext) -> Any:
        run = ctx.run
        queue = ctx.task_queue
        record = ctx.record
        # A session's queue drains on one thread: its name (what each attempt records)
        # and its interrupt entry (where plain tasks' attempts begin) are taken once.
        thread = _current_thread().name
        entry = run.task_threads.here()
        stop = run.cancel_event
        # Group stop flags to look at besides the run's (set on a branch before it runs).
        flags_above = ctx.parent_context is not None or ctx.cancel_event is not None
        last_result = ctx.last_completed_result() if ctx.completed_tasks else None
        task = None  # the next task, when the last one's successors handed it over
        while True:
            if task is None:
                task = queue.dequeue()
                if task is None:
                    if ctx._join_arrivals and ctx.fire_partial_join():
                        continue
                    return last_result  # everything ran: done, even if a stop came late
            # ctx.cancelled, with the run's own stop checked first: a session outside
            # any group (a chain) has no other flag to look at.
            if stop.is_set() or (flags_above and ctx.cancelled):
                queue.push_front(task)
                if record.state in ("open", "paused"):  # an abandoned session stays abandoned
                    run.close_session(ctx.session_id, "cancelled")
                ctx.skip_queued("cancelled")
                return last_result
            if ctx.waiting_key is not None:
                if ctx.waiting_key not in run.answers:
                    queue.push_front(task)  # still unanswered: stay paused, run nothing
                    raise SessionPaused(ctx.session_id, [ctx.session_id])
                record.state = "open"
            if run.gate is not None:
                run.call_gate("before_task", ctx, task)
                if ctx.cancelled:
                    queue.push_front(task)
                    task = None
                    continue
            if not run.take_step():
                queue.push_front(task)  # recorded as skipped, as the ready scheduler does
                raise StepLimitExceededError(run.max_steps, ctx.session_id, task.task_id)
            task_id = task.task_id
            tasks_run = record.tasks_run
            order_key = record.order_key + (len(tasks_run),)
            tasks_run.append(task_id)
            ctx.steps += 1
            try:
                result = self._run_task(ctx, task, order_key, thread, entry)
            except (PauseRequested, SessionPaused) as pause:
                # The task (or a group inside it) waits for input: it goes back to the
                # head of the queue, un-run, and this session stops without a thread.
                queue.push_front(task)
                tasks_run.pop()
                if isinstance(pause, PauseRequested):
                    raise SessionPaused(ctx.session_id, [ctx.session_id]) from None
                raise
            except BaseException as error:
                if run.gate is not None:
                    run.call_gate("after_task", ctx, task, None, error)
                raise
            if run.gate is not None:
                run.call_gate("after_task", ctx, task, result, None)
            ctx.completed_tasks.append(task_id)
            last_result = result
            if not ctx._control_set and ctx.checkpoint_request is None:
                # The task asked for no jump, stop, new task or checkpoint: queue its
                # successors and take the next task in one step.
                task = ctx.queue_successors(task_id, None, True)
                continue
            task = None
            if ctx._terminate_called:
                ctx.skip_queued("terminated")
                return last_result
            if not ctx._goto_called:
                ctx.enqueue_successors(task_id)
            elif ctx.goto_joins:
                ctx.enqueue_successors(task_id, ctx.goto_joins)
            if ctx.checkpoint_request is not None:  # ctx.checkpoint(): after successors, as graflow
                run_module.CHECKPOINTS.write_requested(ctx)

    def _run_task(
        self, ctx: ExecutionContext, task: Any, order_key: tuple[Any, ...], thread: str | None = None,
        entry: RunningTask | None = None,
    ) -> Any:
        """Run ``task``'s attempts in ``ctx`` on this thread until one succeeds or it
        may not retry; returns its result.  A session loop passes what it took once:
        this ``thread``'s name and its interrupt ``entry`` (``TaskThreads.here``)."""
        run = ctx.run
        bus = run.bus
        task_id = task.task_id
        # Count one more run of the task (an iteration counts for its base task) in this
        # session's cycle_counts; refuse it if that would exceed the task's max_cycles
        # (or an explicit default_max_cycles), however it was queued again:
        # next_iteration, next_task(..., goto=True) or a cycle of edges.
        base_id = task.base_id or task_id
        counts = ctx.cycle_counts
        cycle = counts.get(base_id, 0) + 1
        limit = task.max_cycles
        if limit is None:
            limit = ctx.default_max_cycles
        if limit is not None and cycle > limit:
            raise CycleLimitExceededError(task_id=base_id, cycle_count=cycle - 1, max_cycles=limit)
        counts[base_id] = cycle
        handler = None if task.handler_type is None else run.handler_for(task)
        # A function task that takes nothing (no parameter, no injection) is called
        # bare: nothing could reach the TaskExecutionContext it would be given, so
        # none is built (the record, the interrupt and the results are the same).
        bare = (
            task.func
            if handler is None and task.timeout is None and type(task).invoke is _WRAPPER_INVOKE and task._takes_nothing
            else None
        )
        if thread is None:
            thread = _current_thread().name
        here = entry if entry is not None else run.task_threads.here()
        ctx.current_task_id = task_id
        ctx.current_order_key = order_key
        attempt = 0
        task_ctx: TaskExecutionContext | None = None
        while True:
            if ctx._control_set:
                ctx.reset_control_flags()
            started = _now()
            if bare is None:
                task_ctx = TaskExecutionContext(task_id, ctx, attempt, cycle, started)
            record = TaskRun(task_id, ctx.session_id, attempt + 1, order_key, started, thread)
            run.task_runs.append(record)
            if bus.active:
                bus.emit(EventKind.TASK_STARTED, ctx.session_id, task_id, attempt=attempt + 1)
            if ctx.tracer is not None:
                run.call_hook(ctx.tracer, "on_task_start", task, ctx)
            try:
                if bare is not None:
                    # _invoke's body with entry.begin written out: every plain task's call.
                    here.context = ctx
                    here.task_context = None
                    here.record = record
                    here.delivered = False
                    here.ended.release()
                    try:
                        slots = run.task_slots
                        if slots is None:
                            result = bare()
                        else:
                            with slots:
                                result = bare()
                    finally:
                        here.ended.acquire()  # inline, one C call: see TaskThreads.withdraw
                        if here.delivered:
                            TaskThreads.withdraw(here)
                elif handler is not None:
                    ctx.current_task_context = task_ctx  # what task.run() inside the handler uses
                    try:
                        self._invoke(ctx, task_ctx, record, None, partial(handler.execute_task, task), ctx)
                    finally:
                        ctx.current_task_context = None
                    result = ctx.get_result(task_id)
                    if isinstance(result, BaseException):
                        raise result  # graflow's handlers store a task's error as its result
                elif task.is_group:
                    # Its members' tasks run (and stop) on their own, wherever its executor puts them.
                    execute_group(task, ctx, self)
                    result = None
                elif task.timeout is not None:
                    assert task_ctx is not None  # a timed task is never called bare
                    result = self._invoke_with_timeout(ctx, task, task_ctx, record)
                else:
                    result = self._invoke(ctx, task_ctx, record, run.task_slots, task.invoke, task_ctx)
            except (PauseRequested, SessionPaused):
                record.end = time.time()
                record.status = "paused"
                ctx.cycle_counts[task.base_id or task_id] -= 1  # it runs this cycle again on resume
                raise
            except Exception as error:
                record.end = time.time()
                if run.abandoned_any and ctx.abandoned:
                    record.status = "abandoned"  # given up on while it ran: its failure is too late
                    raise
                if stopped_by_cancel(error, ctx.cancelled):
                    record.status = "cancelled"  # it stopped part-way for the cancel, as asked
                    record.error = error  # what it stopped, in its words
                    raise
                # A workflow cancel (cancel_workflow() below, or a group stopped by it)
                # cancels; anything else fails.
                record.status = stop_status(error) if ends_run(error) else "failed"
                record.error = error
                if ctx.tracer is not None:
                    run.call_hook(ctx.tracer, "on_task_end", task, ctx, error=error)
                configured = task.max_retries
                max_retries = configured if configured is not None else ctx.default_max_retries
                retry = attempt < max_retries and not isinstance(error, _NOT_RETRIED) and not ctx.cancelled
                delay = self._retry_delay(task, attempt + 1, error) if retry else 0.0
                policy_broke = delay is None
                retry = retry and not policy_broke
                if bus.active:
                    bus.emit(EventKind.TASK_FAILED, ctx.session_id, task_id, attempt=attempt + 1, error=error, will_retry=retry)
                if retry:
                    attempt += 1
                    ctx.task_queue.retries += 1
                    if delay:
                        time.sleep(delay)
                    if bus.active:
                        bus.emit(EventKind.TASK_RETRIED, ctx.session_id, task_id, attempt=attempt + 1)
                    continue
                ctx.task_queue.failures += 1
                annotate(error, task_id, ctx.session_id)
                if max_retries > 0 and not isinstance(error, _NOT_RETRIED) and not policy_broke:
                    raise RetryLimitExceededError(task_id, attempt, max_retries, error) from error
                raise
            except BaseException as error:
                record.end = time.time()
                if isinstance(error, RunInterrupted):
                    # Delivered into this thread by an interrupt of the run, which is
                    # already stopping: the session is cancelled, and a pool thread lives
                    # on to serve other runs.
                    record.status = "abandoned" if run.abandoned_any and ctx.abandoned else "cancelled"
                    raise GraflowWorkflowCanceledError(f"interrupted while {task_id!r} ran", task_id) from error
                # SystemExit, KeyboardInterrupt and friends: no retry, no policy; the
                # whole run stops and ends with this very object.
                record.status = "abandoned" if run.abandoned_any and ctx.abandoned else stop_status(error)
                record.error = error
                if not task.is_group and (task_ctx is None or not task_ctx.abandoned):
                    # A group's own stop came from a member (annotated there) or from
                    # an interrupt of the thread waiting at its barrier, and an
                    # abandoned timed attempt's from the thread waiting for it: no task
                    # raised it.
                    annotate(error, task_id, ctx.session_id)
                run.stop_with(error)
                if bus.active:
                    bus.emit(EventKind.TASK_FAILED, ctx.session_id, task_id, attempt=attempt + 1, error=error, will_retry=False)
                raise
            record.end = _now()
            if ctx.waiting_key is not None:
                # The task caught its own pause (graflow programs catch FeedbackTimeoutError
                # and fall back) and finished: its question is no longer asked.
                run.withdraw_question(ctx.waiting_key)
                ctx.waiting_key = None
            if run.abandoned_any and ctx.abandoned:
                # Its group timed out while this task ran: the result arrives too late.
                record.status = "abandoned"
                return None
            if ctx.tracer is not None:
                run.call_hook(ctx.tracer, "on_task_end", task, ctx, result=result)
            if ctx._control_set and ctx._cancel_called:
                record.status = "cancelled"
                cancel = annotate(GraflowWorkflowCanceledError(ctx.ctrl_message or "workflow cancelled", task_id), task_id, ctx.session_id)
                run.stop_with(cancel)  # from a branch too: the run ends cancelled, every session stops
                raise cancel
            if handler is None:
                ctx.channel.set(task_id + RESULT_SUFFIX, result)  # ctx.set_result, one call fewer
            record.status = "succeeded"
            record.result = result
            if bus.active:
                bus.emit(EventKind.TASK_FINISHED, ctx.session_id, task_id, attempt=attempt + 1)
            return result

    @staticmethod
    def _retry_delay(task: Any, retry: int, error: BaseException) -> float | None:
        """Seconds before retry number ``retry``; None if the task's retry policy raised
        (the task then fails with its own error, which names the policy's)."""
        policy = task.retry_policy
        if policy is None:
            return 0.0
        try:
            return policy.get_delay(retry)
        except Exception as broken:
            error.add_note(
                f"[graflow_nb] not retried: the retry policy of {task.task_id!r} raised "
                f"{type(broken).__name__}: {broken}"
            )
            return None

    @staticmethod
    def _invoke(ctx: ExecutionContext, task_ctx: TaskExecutionContext | None, record: TaskRun, slots: Any, call: Any, arg: Any) -> Any:
        """``call(arg)``: the task's own code, on this thread, where an interrupt of
        the run can reach it (``core.interrupt``), holding one of the run's task slots
        if it has them."""
        entry = ctx.run.task_threads.enter(ctx, task_ctx, record)
        try:
            if slots is None:
                return call(arg)
            with slots:
                return call(arg)
        finally:
            entry.ended.acquire()  # inline, one C call: see TaskThreads.withdraw
            if entry.delivered:
                TaskThreads.withdraw(entry)

    def _invoke_with_timeout(self, ctx: ExecutionContext, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
        """Run one attempt on a timed-attempt thread and stop waiting after ``task.timeout``.

        Python threads can't be killed, so a late attempt is abandoned instead: it
        writes to a private overlay channel that is merged only if it finishes in
        time, and its context refuses control calls once abandoned.  How many
        abandoned attempts may be alive at once is bounded (``core.timed``).
        """
        overlay = BranchChannel(ctx.channel, f"{ctx.session_id}/{task.task_id}")
        task_ctx.channel_override = overlay
        context = contextvars.copy_context()
        slots = ctx.run.task_slots

        def call() -> Any:
            return context.run(self._invoke, ctx, task_ctx, record, slots, task.invoke, task_ctx)

        try:
            finished, attempt = timed.ATTEMPTS.run(call, task.timeout, task.task_id, ctx.session_id)
        except BaseException:
            # Ctrl-C reached this thread while it waited: the attempt, abandoned, is
            # stopped by the run's interrupt on its own thread; the task raised nothing.
            task_ctx.abandoned = True
            raise
        if not finished:
            task_ctx.abandoned = True
            raise TaskTimeoutError(task.task_id, task.timeout, ctx.session_id)
        if attempt.error is not None:
            raise attempt.error
        merge_branches(ctx.channel, [(task.task_id, overlay)], "overwrite", task.task_id)
        return attempt.result

    def compensate(self, branch: ExecutionContext, member: Any, compensation: Any) -> BaseException | None:
        """Run a member's compensation once in its branch session; report, don't raise,
        so every compensation gets its turn and the group's own error stays primary."""
        exec_token = current_execution.set(branch)
        wf_token = _current_workflow.set(branch.workflow) if branch.workflow is not None else None
        try:
            key = (*branch.record.order_key, len(branch.record.tasks_run))
            branch.record.tasks_run.append(compensation.task_id)
            self._run_task(branch, compensation, key)
            return None
        except BaseException as error:  # the group decides; one that ends the run stops the rest
            return error
        finally:
            current_execution.reset(exec_token)
            if wf_token is not None:
                _current_workflow.reset(wf_token)


class _Runtime:
    """What ``WorkflowContext.execute`` starts a run with (registered below)."""

    make_context = staticmethod(ExecutionContext.create)

    @staticmethod
    def run(context: ExecutionContext) -> Any:
        return WorkflowEngine().execute(context)

    @property
    def checkpoints(self) -> Any:
        """``core.checkpoint``'s saver (set once it is imported; core/__init__ does)."""
        return run_module.CHECKPOINTS


workflow_module.RUNTIME = _Runtime()
