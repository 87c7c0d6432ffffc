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
from typing import Any, NoReturn

from ..checks import check_id, describe, shown
from ..errors import (
    AbandonedAttemptsLimitError,
    AwaitParked,
    ConfigError,
    CycleLimitExceededError,
    GraflowWorkflowCanceledError,
    GroupTimeoutError,
    MapItemsError,
    MergeConflictError,
    ParallelGroupError,
    PauseRequested,
    RetryLimitExceededError,
    RunInterrupted,
    SessionHeld,
    SessionPaused,
    StepLimitExceededError,
    annotate,
    ends_run,
    stop_status,
    stopped_by_cancel,
)
from ..events import EventKind
from ..model import scope
from ..model.task import TaskWrapper
from . import calls as _calls
from .executors.pool import WorkerPool
from .gate import HeldAttempt
from .groups.ready import ReadyScheduler
from .interrupt import RunningTask, TaskThreads, stop_tasks
from .interruptible import wait_set
from .loop import LENT_LOOP, running_loop_here
from .run import PausedRun, TaskRun
from .session import RESULT_SUFFIX, Session, TaskExecutionContext

_now = time.time
_current_thread = threading.current_thread
_WRAPPER_INVOKE = TaskWrapper.invoke
_CACHED: Any = _calls.cached


def _call_kind(task: Any, handler: Any) -> Any:
    """How ``task``'s attempts are called (``core.calls``) when it is not called bare."""
    if handler is not None:
        return _calls.handler
    if task.is_group:
        return _calls.group
    if task.is_async:
        return _calls.awaited
    if task.timeout is not None:
        return _calls.timed_attempt
    return _calls.with_context

# Failures that another attempt of the same task cannot fix.
_NOT_RETRIED = (
    AbandonedAttemptsLimitError,
    ConfigError,  # a setting that can't be used here (a timeout where no thread can start)
    ParallelGroupError,
    CycleLimitExceededError,
    StepLimitExceededError,
    MergeConflictError,
    GroupTimeoutError,
    MapItemsError,
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

    def execute(self, context: Session, start_task_id: str | None = None) -> Any:
        """Run ``context``'s session to the end; the root session also owns the run."""
        run = context.run
        if self._handlers:
            run.handlers.update(self._handlers)
        if run.driver is None:  # what ``ctx.execute()`` and ``Run.resume`` drive it with
            run.driver = self
        if start_task_id is not None:
            context.add_to_queue(context.lookup(start_task_id))
        if context.parent_context is not None:
            return self._session(context)
        return self._root(context)

    @staticmethod
    def _announce(context: Session) -> None:
        """``run_started``, then the tasks queued while the run was set up: every event
        of a run comes after its ``run_started``."""
        run = context.run
        run.announced = True
        if run.bus.active:
            run.bus.emit(EventKind.RUN_STARTED, context.session_id, workflow=run.workflow_name)
            for task_id in context.task_queue.snapshot():
                run.bus.emit(EventKind.TASK_ENQUEUED, context.session_id, task_id)

    # -- the root session owns the run: pool, loop, status, read-only graph -----------
    def _root(self, context: Session) -> Any:
        """Run the root session here, or, on a thread whose event loop is running (a
        notebook cell), on a thread of its own while this one waits: no sync task may
        run where a loop runs (``asyncio.run`` in it would fail), and the run's async
        tasks need a loop that this waiting thread does not hold."""
        lent = LENT_LOOP.get()
        if lent is not None and lent.run is None:
            lent.run = context.run
            context.run.lent_loop = lent
        if running_loop_here() and context.run.threads:  # Pyodide: its loop is the only thread
            return self._root_off_loop(context)
        return self._root_here(context)

    def _root_off_loop(self, context: Session) -> Any:
        """The root session on a thread of its own, for a caller whose thread runs an event
        loop (a notebook cell): the caller waits on an Event in slices, so a Ctrl-C ends
        the wait wherever it landed, and never in ``Thread.join``, which Python 3.11 takes
        for ended when a Ctrl-C interrupts it."""
        run = context.run
        ended: list[tuple[Any, BaseException | None]] = []
        finished = threading.Event()

        def drive() -> None:
            try:
                ended.append((self._root_here(context), None))
            except BaseException as error:
                ended.append((None, error))
            finally:
                finished.set()

        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(drive,), name=f"graflow-{context.session_id}-root", daemon=True
        )
        try:
            thread.start()  # inside: a Ctrl-C as it returns must not leave the run unwatched
            wait_set(finished.wait, None)
        except KeyboardInterrupt as interrupt:
            # Ctrl-C in the cell: stop the run's tasks (async ones at their await) and
            # wait for the root session to wind down (a second Ctrl-C stops the wait),
            # then say so as a run stopped here.
            run.cancel()
            stop_tasks(run, lambda: finished.is_set() or not thread.is_alive())
            run.status = "cancelled"
            run.error = interrupt
            interrupt.add_note(f"[graflow_nb] run {run.root_session_id!r} interrupted: cancelled")
            raise
        thread.join()  # the root has returned: only the thread's own exit is left
        result, error = ended[0]
        if error is not None:
            raise error
        return result

    def _root_here(self, context: Session) -> Any:
        self.open_root(context)
        try:
            return self.run_root(context)
        finally:
            self.close_root(context)

    @classmethod
    def open_root(cls, context: Session) -> None:
        """The run starts (or resumes): its pool, its status, ``run_started``."""
        run = context.run
        # Where threads can't start (Pyodide) the run has no pool: groups run sequentially.
        run.pool = WorkerPool(run.max_workers, name=f"graflow-{context.session_id}") if run.threads else None
        resuming = run.status in ("paused", "held")
        run.status = "running"
        if resuming:
            run.announced = True  # it started before (in this process, or before its checkpoint)
        else:
            cls._announce(context)

    @staticmethod
    def close_root(context: Session) -> None:
        """The run ended, paused or is held: let go of its pool and loop, ``run_finished``."""
        run = context.run
        if run.pool is not None:
            run.pool.shutdown()
        run.close_loop()
        run.ended = time.time()
        if run.bus.active and run.status not in ("paused", "held"):
            run.bus.emit(EventKind.RUN_FINISHED, context.session_id, status=run.status)

    def run_root(self, context: Session) -> Any:
        """Drive the root session and settle the run's one outcome: its status, result
        or error, and the root session's final state.  On a run driven from its loop
        (``loop_driven``) the root session may park instead (``AwaitParked``): this is
        called again once what it waits on ended, and it goes on from there."""
        run = context.run
        try:
            with context.graph.reading():
                result = self._session(context)
        except AwaitParked:
            raise
        except SessionHeld:
            run.status = "held"  # a debugger without threads holds sessions: it resumes the run
            return None
        except SessionPaused:
            if not run.cancel_event.is_set():
                run.status = "paused"
                saver = run.checkpointer
                if saver is not None and saver.paused_on_timeout(run):
                    return None  # graflow's answer to a feedback timeout (the alias's)
                return PausedRun(run)
            # Stopped while a session waited for input: nothing will resume it.
            run.pending.clear()
            error = run.stop_error
            if error is None:
                run.status = "cancelled"
                context.close("cancelled")
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
            context.close("failed" if run.status == "failed" else "cancelled")
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
    def _session(self, ctx: Session) -> Any:
        # While its tasks run, new tasks go to this session (core.model.scope).
        scope_token = scope.enter(ctx)
        try:
            result = ReadyScheduler(self, ctx).run() if ctx.run.ready_parallel else self._loop(ctx)
            if ctx.run.gate is not None:
                ctx.run.call_gate("before_end", ctx)
        except AwaitParked:
            raise  # the session goes on from its async task when that ends (core.runtime.loop)
        except SessionHeld:
            raise  # held by a debugger without threads: it stays open (core.runtime.gate)
        except SessionPaused:
            ctx.pause()
            raise
        except BaseException as error:
            if ctx.record.state == "open":
                state = "cancelled" if stopped_by_cancel(error, ctx.cancelled) else ctx.run.outcome_of(error)[1]
                ctx.close(state, skip=state)
            raise
        finally:
            scope.leave(scope_token)
            if ctx.run.gate is not None:
                ctx.run.call_gate("session_ended", ctx)
        if ctx.parent_context is None and ctx.record.state in ("open", "paused"):
            ctx.close("closed")
        return result

    def run_queue(self, ctx: Session) -> Any:
        """Drain ``ctx``'s queue on this thread, task by task (a direct group's members
        run this way, in their parent's session); returns the last task's result."""
        return self._loop(ctx)

    def _loop(self, ctx: Session) -> Any:
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
                    if ctx.join_arrivals and ctx.fire_partial_join():
                        continue
                    return last_result  # everything ran: done, even if a stop came late
            # ctx.cancelled, with the run's own stop checked first: a session outside
            # any group (a chain) has no other flag to look at.
            if (stop.is_set() or (flags_above and ctx.cancelled)) and ctx.awaiting is None:
                # (A session parked on a group or an await goes on into it first: that
                # settles what it waits on, cancelled: core.runtime.loop_driven.)
                queue.push_front(task)
                ctx.cancel()
                return last_result
            if ctx.waiting_key is not None:
                if ctx.waiting_key not in run.answers:
                    queue.push_front(task)  # still unanswered: stay paused, run nothing
                    raise SessionPaused(ctx.session_id, [ctx.session_id])
                ctx.reopen()
            if run.gate is not None:
                try:
                    run.call_gate("before_task", ctx, task)
                except SessionHeld:
                    queue.push_front(task)  # held before it: it runs when the session is let go
                    raise
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
            except (PauseRequested, SessionPaused, AwaitParked) as pause:
                # The task (or a group inside it) waits for input, or its coroutine runs
                # on the run's loop: it goes back to the head of the queue, un-run, and
                # this session stops without a thread.
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
            if not ctx.control_set and ctx.checkpoint_request is None:
                # The task asked for no jump, stop, new task or checkpoint: queue its
                # successors and take the next task in one step.
                task = ctx.queue_successors(task_id, None, True)
                continue
            task = None
            if ctx.terminate_called:
                ctx.skip_queued("terminated")
                if ctx.checkpoint_request is not None:  # asked for before the stop: still written, as graflow
                    run.saver().write_requested(ctx)
                return last_result
            if not ctx.goto_called:
                ctx.enqueue_successors(task_id)
            elif ctx.goto_joins:
                ctx.enqueue_successors(task_id, ctx.goto_joins)
            if ctx.checkpoint_request is not None:  # ctx.checkpoint(): after successors, as graflow
                run.saver().write_requested(ctx)

    def _run_task(
        self, ctx: Session, task: Any, order_key: tuple[Any, ...], thread: str | None = None,
        entry: RunningTask | None = None,
    ) -> Any:
        """Run ``task``'s attempts in ``ctx`` on this thread until one succeeds or it
        may not retry; returns its result.  A session loop passes what it took once:
        this ``thread``'s name and its interrupt ``entry`` (``TaskThreads.here``)."""
        run = ctx.run
        bus = run.bus
        task_id = task.task_id
        # One more run of the task (an iteration counts for its base task), refused past
        # its max_cycles (or an explicit default_max_cycles), however it was queued again.
        base_id = task.base_id or task_id
        counts = ctx.cycle_counts
        cycle = counts.get(base_id, 0) + 1
        limit = task.max_cycles
        if limit is None:
            limit = ctx.default_max_cycles
        if limit is not None and cycle > limit:
            raise CycleLimitExceededError(task_id=base_id, cycle_count=cycle - 1, max_cycles=limit)
        counts[base_id] = cycle
        # How each attempt is called (core.calls); a function task that takes nothing is
        # called bare, written out below: no TaskExecutionContext could reach it.
        handler = None if task.handler_type is None else run.handler_for(task)
        if run.cache is not None and not task.is_group:  # execute(cache=...): calls.cached
            call, bare = _CACHED, None
            # An async task's attempt this session parked on, if it ends here (as below).
            resumed = ctx.awaiting if task.is_async else None
            if resumed is not None and resumed.record.task_id != task_id:
                resumed = None
        elif handler is None and task.timeout is None and type(task).invoke is _WRAPPER_INVOKE and task.takes_nothing:
            call, bare, resumed = None, task.func, None
        else:
            call, bare = _call_kind(task, handler), None
            # The async attempt this session parked on, if it ends here (core.runtime.loop).
            resumed = ctx.awaiting
            if resumed is not None and resumed.record.task_id != task_id:
                resumed = None
        here = entry if entry is not None else run.task_threads.here()
        thread = thread if thread is not None else _current_thread().name
        ctx.current_task_id = task_id
        ctx.current_order_key = order_key
        attempt = 0
        task_ctx: TaskExecutionContext | None = None
        while True:
            if resumed is None:
                if ctx.control_set:
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
            else:
                # The parked attempt ended: it is this attempt, taken up where it parked.
                task_ctx, record, resumed = resumed.task_context, resumed.record, None
                attempt = record.attempt - 1
            try:
                if bare is not None:
                    # calls.invoke's body with entry.begin written out: every plain task's call.
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
                else:
                    assert call is not None
                    result = call(self, ctx, task, task_ctx, record)
            except SessionHeld:
                # A session below this group node is held (core.runtime.gate): the attempt
                # stays open and goes on, counted once, when the run resumes.
                ctx.awaiting = HeldAttempt(task_ctx, record)
                ctx.cycle_counts[task.base_id or task_id] -= 1
                ctx.steps -= 1
                run.give_back_step()
                raise
            except (PauseRequested, SessionPaused):
                record.end = time.time()
                record.status = "paused"
                ctx.cycle_counts[task.base_id or task_id] -= 1  # it runs this cycle again on resume
                raise
            except AwaitParked:
                # Its coroutine runs on the run's loop; when it ends, the session runs on
                # from this very attempt, counted once (core.runtime.loop).
                ctx.cycle_counts[task.base_id or task_id] -= 1
                ctx.steps -= 1
                run.give_back_step()
                raise
            except Exception as error:
                self._failed(ctx, task, record, error, attempt)  # raises unless it may retry
                attempt += 1
                continue
            except BaseException as error:
                self._stopped(ctx, task, task_ctx, record, error, attempt)  # always raises
            record.end = _now()
            if ctx.waiting_key is not None:
                # The task caught its own pause (graflow programs catch FeedbackTimeoutError
                # and fall back) and finished: its question is no longer asked.
                run.withdraw_question(ctx.waiting_key)
                ctx.waiting_key = None
            if run.abandoned_any and ctx.abandoned:
                record.status = "abandoned"  # its group timed out while it ran: too late
                return None
            if ctx.tracer is not None:
                run.call_hook(ctx.tracer, "on_task_end", task, ctx, result=result)
            if ctx.control_set and ctx.cancel_called:
                self._cancelled(ctx, task_id, record)  # raises
            if handler is None:  # a handler stored the result itself
                ctx.channel.set(task_id + RESULT_SUFFIX, result)  # ctx.set_result, one call fewer
            record.status = "succeeded"
            record.result = result
            if bus.active:
                bus.emit(EventKind.TASK_FINISHED, ctx.session_id, task_id, attempt=attempt + 1)
            return result

    def _failed(self, ctx: Session, task: Any, record: TaskRun, error: Exception, attempt: int) -> None:
        """Attempt ``attempt`` (from 0) of ``task`` raised ``error``: record it, and
        return after the retry delay if it may run again; otherwise raise what ends it."""
        run = ctx.run
        bus = run.bus
        task_id = task.task_id
        record.end = time.time()
        if run.abandoned_any and ctx.abandoned:
            record.status = "abandoned"  # given up on while it ran: its failure is too late
            raise error
        if stopped_by_cancel(error, ctx.cancelled):
            record.status = "cancelled"  # it stopped part-way for the cancel, as asked
            record.error = error  # what it stopped, in its words
            raise error
        # A workflow cancel (cancel_workflow(), or a group stopped by it) cancels; anything else fails.
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
            ctx.task_queue.retries += 1
            if delay:
                time.sleep(delay)
            if bus.active:
                bus.emit(EventKind.TASK_RETRIED, ctx.session_id, task_id, attempt=attempt + 2)
            return
        ctx.task_queue.failures += 1
        annotate(error, task_id, ctx.session_id)
        if max_retries > 0 and not isinstance(error, _NOT_RETRIED) and not policy_broke:
            raise RetryLimitExceededError(task_id, attempt, max_retries, error) from error
        raise error

    @staticmethod
    def _stopped(
        ctx: Session, task: Any, task_ctx: TaskExecutionContext | None, record: TaskRun, error: BaseException, attempt: int,
    ) -> NoReturn:
        """An attempt ended with a BaseException that is no task failure: an interrupt
        of the run, or SystemExit, KeyboardInterrupt and friends.  No retry, no policy."""
        run = ctx.run
        task_id = task.task_id
        record.end = time.time()
        if isinstance(error, RunInterrupted):
            # Delivered into this thread by an interrupt of the run, which is already
            # stopping: the session is cancelled, and a pool thread lives on to serve
            # other runs.
            record.status = "abandoned" if run.abandoned_any and ctx.abandoned else "cancelled"
            raise GraflowWorkflowCanceledError(f"interrupted while {task_id!r} ran", task_id) from error
        # The whole run stops and ends with this very object.
        record.status = "abandoned" if run.abandoned_any and ctx.abandoned else stop_status(error)
        record.error = error
        if not task.is_group and (task_ctx is None or not task_ctx.abandoned):
            # A group's own stop came from a member (annotated there) or from an
            # interrupt of the thread waiting at its barrier, and an abandoned timed
            # attempt's from the thread waiting for it: no task raised it.
            annotate(error, task_id, ctx.session_id)
        run.stop_with(error)
        if run.bus.active:
            run.bus.emit(EventKind.TASK_FAILED, ctx.session_id, task_id, attempt=attempt + 1, error=error, will_retry=False)
        raise error

    @staticmethod
    def _cancelled(ctx: Session, task_id: str, record: TaskRun) -> NoReturn:
        """The task called ``cancel_workflow``: from a branch too, the run ends cancelled
        and every session stops."""
        record.status = "cancelled"
        cancel = annotate(GraflowWorkflowCanceledError(ctx.ctrl_message or "workflow cancelled", task_id), task_id, ctx.session_id)
        ctx.run.stop_with(cancel)
        raise cancel

    run_task = _run_task  # the Driver protocol's name for it (core.driver): the ready scheduler calls it

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

    def compensate(self, branch: Session, member: Any, compensation: Any) -> BaseException | None:
        """Run a member's compensation once in its branch session; report, don't raise,
        so every compensation gets its turn and the group's own error stays primary."""
        scope_token = scope.enter(branch)
        try:
            key = (*branch.record.order_key, len(branch.record.tasks_run))
            branch.record.tasks_run.append(compensation.task_id)
            self._run_task(branch, compensation, key)
            return None
        except BaseException as error:  # the group decides; one that ends the run stops the rest
            return error
        finally:
            scope.leave(scope_token)

