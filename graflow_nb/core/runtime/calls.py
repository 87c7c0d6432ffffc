"""How one attempt of a task is called, by kind: one small function per kind.

The engine picks the kind once per task, before its first attempt, and calls it for
every attempt: ``call(driver, ctx, task, task_ctx, record) -> result``.

- ``with_context``: a function task (or any node) called as ``task.invoke(task_ctx)``;
- ``handler``: a task declared with ``@task(handler=name)``, run by that handler;
- ``group``: a parallel group node, run by the coordinator (which forks its branches);
- ``timed``: a task with a ``timeout``, on a timed-attempt thread (``core.timed``);
- ``awaited``: an ``async def`` task, its coroutine on the run's event loop
  (``core.runtime.loop``), its timeout there too.
- ``cached``: any task but a group in a run with a cache (``execute(cache=...)``): the
  run's cache (``core.cache``, handed in as ``run.cache``) says whether to replay it
  (``recording.replay``: its result, channel changes and control calls) or to call it
  by its own kind (an async task: ``awaited``) while ``recording`` writes down what it
  does, for the next run.

The sixth kind, a bare call (a function task that takes nothing: no context is built),
is every plain task's call and stays written out in ``WorkflowEngine._run_task``, so the
hot path has no call more than the attempt itself.  A new kind is one more function
here and one more line where the engine picks.
"""

from __future__ import annotations

import contextvars
import inspect
from functools import partial
from typing import Any, cast

from ..data.channel import BranchChannel
from ..data.merge import merge_branches
from ..errors import AwaitParked, ConfigError, TaskStoppedError, TaskTimeoutError
from . import timed
from .groups.base import Driver
from .groups.coordinator import execute_group
from .interrupt import TaskThreads
from .loop_driven import GroupAwait, GroupParked, ParkingSlots, SlotWait
from .recording import RecordingTaskContext, replay
from .run import TaskRun
from .session import RESULT_SUFFIX, Session, TaskExecutionContext
from .threadless import needs_threads, threads_available


def invoke(ctx: Session, task_ctx: TaskExecutionContext | None, record: TaskRun, slots: Any, call: Any, arg: Any) -> Any:
    """``call(arg)``: the task's own code, on this thread, where an interrupt of the run
    can reach it (``core.interrupt``), holding one of the run's task slots if it has them."""
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


def with_context(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """``task.invoke(task_ctx)``: _invoke's body written out, one call per attempt."""
    entry = ctx.run.task_threads.enter(ctx, task_ctx, record)
    slots = ctx.run.task_slots
    try:
        if slots is None:
            return task.invoke(task_ctx)
        with slots:
            return task.invoke(task_ctx)
    finally:
        entry.ended.acquire()  # inline, one C call: see TaskThreads.withdraw
        if entry.delivered:
            TaskThreads.withdraw(entry)


def handler(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """graflow's custom handler: ``handler.execute_task(task, ctx)`` stores the result
    (or the task's error) in the channel; ``task.run()`` inside it runs this attempt."""
    ctx.current_task_context = task_ctx
    try:
        invoke(ctx, task_ctx, record, None, partial(ctx.run.handler_for(task).execute_task, task), ctx)
    finally:
        ctx.current_task_context = None
    result = ctx.get_result(task.task_id)
    if isinstance(result, BaseException):
        raise result  # graflow's handlers store a task's error as its result
    return result


def group(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """A group node: its members' tasks run (and stop) on their own, wherever its
    executor puts them; the node itself returns None (a map: its items' results).
    While a direct group runs, an async task of this session (its member) is waited
    for, not parked: the session's frames below the group can't be unwound and picked
    up again.  On a run driven from its loop (``loop_driven``) a group none of whose
    members can go on parks this session (``GroupAwait``) and goes on from there."""
    waiting = ctx.awaiting
    if waiting is not None and waiting.record is record:
        ctx.awaiting = None
        if isinstance(waiting, GroupAwait):
            return _group_parking(driver, ctx, task, task_ctx, record, waiting.group_run)
        # Else a HeldAttempt: the attempt a held session below it left open goes on (core.runtime.gate).
    parkable = ctx.parkable
    if parkable and task.backend == "direct":
        ctx.parkable = False
        try:
            return execute_group(task, ctx, driver)
        finally:
            ctx.parkable = True
    return _group_parking(driver, ctx, task, task_ctx, record, None)


def _group_parking(
    driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun, waiting: Any,
) -> Any:
    try:
        return execute_group(task, ctx, driver, waiting)
    except GroupParked as parked:
        ctx.awaiting = GroupAwait(parked.group_run, record, task_ctx)
        raise


def awaited(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """An ``async def`` task: its coroutine runs on the run's event loop, under its
    ``timeout`` there.  A branch the worker pool runs parks (``AwaitParked``: its thread
    goes back to the pool, and the pool runs the session on when the attempt ends,
    which calls this again for the outcome); anywhere else this thread waits for it.
    Under ``execute(max_concurrency=n)`` it takes one of the run's task slots first."""
    parked = ctx.awaiting
    if parked is not None and parked.record is record:
        ctx.awaiting = None
        if not isinstance(parked, SlotWait):  # a slot is free now: the attempt is made below
            return parked.result()
        if ctx.cancelled:
            raise TaskStoppedError(f"async task {task.task_id!r} (session {ctx.session_id!r}) was stopped "
                                   f"while it waited for a task slot")
    if not ctx.parkable and not threads_available():
        raise _cannot_wait(ctx, task)
    coroutine = task.invoke(task_ctx)
    if not inspect.iscoroutine(coroutine):
        return coroutine  # an async-looking callable that returned a plain value
    attempt = ctx.run.event_loop().attempt(coroutine, task.timeout, ctx, task_ctx, record)
    slots = ctx.run.task_slots
    if slots is not None:
        # The run's max_concurrency counts async tasks too: the attempt holds a slot from
        # here until its coroutine ended (let go on the loop), as a sync task holds one
        # for its call; this thread waits for it as a sync task's would (on a run
        # driven from its loop, the session parks until one is free: ``SlotWait``).
        try:
            taken = slots.acquire()
        except BaseException:
            coroutine.close()
            raise
        if not taken:
            coroutine.close()  # never started: made again, from its start, with a slot
            ctx.awaiting = SlotWait(cast(ParkingSlots, slots), record, task_ctx)  # only these say no
            raise AwaitParked(ctx.session_id)
        attempt.slot = slots
    if ctx.parkable:
        ctx.awaiting = attempt
        raise AwaitParked(ctx.session_id)
    attempt.start()
    attempt.wait()
    return attempt.result()


def _cannot_wait(ctx: Session, task: Any) -> ConfigError:
    """An async task where no thread can wait for it and its session can't park."""
    what = f"async task {task.task_id!r} in session {ctx.session_id!r}"
    if ctx.run.lent_loop is None:
        return needs_threads(
            f"{what} under wf.execute(...)",
            "run the workflow with `await wf.aexecute(...)` (a cell's top-level await; resume it with "
            "`await wf.aresume(...)`): its async tasks then run on this page's event loop",
        )
    return needs_threads(
        what,
        "its session can't let go of the loop while it awaits here (a member of a backend=\"direct\" "
        "group, ready_parallel=True, or the debugger); give its group branch sessions (the default backend)",
    )


def timed_attempt(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """Run one attempt on a timed-attempt thread and stop waiting after ``task.timeout``.

    Python threads can't be killed, so a late attempt is abandoned instead: it writes
    to a private overlay channel that is merged only if it finishes in time, and its
    context refuses control calls once abandoned.  How many abandoned attempts may be
    alive at once is bounded (``core.timed``).
    """
    if not ctx.run.threads:
        raise needs_threads(
            f"task {task.task_id!r} (timeout={task.timeout:g}s) in session {ctx.session_id!r}",
            "a timed attempt waits beside it on a thread; drop the timeout to run it here",
        )
    overlay = BranchChannel(ctx.channel, f"{ctx.session_id}/{task.task_id}")
    task_ctx.channel_override = overlay
    context = contextvars.copy_context()
    slots = ctx.run.task_slots

    def call() -> Any:
        return context.run(invoke, ctx, task_ctx, record, slots, task.invoke, task_ctx)

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


def cached(driver: Driver, ctx: Session, task: Any, task_ctx: TaskExecutionContext, record: TaskRun) -> Any:
    """Replay the task if the run's cache has it, else call it by its own kind (writing
    down what it does when the cache may keep it).  An async task replays without
    being awaited; called, it parks as ``awaited`` says, and when its attempt ends the
    engine calls this again with the recording context its coroutine was given: that
    attempt's outcome is kept then."""
    if isinstance(task_ctx, RecordingTaskContext):
        return _keep(ctx, task, task_ctx, awaited(driver, ctx, task, task_ctx, record))
    cache = ctx.run.cache
    result_key = task.task_id + RESULT_SUFFIX
    plan = cache.plan(ctx.channel, task, ctx.session_id, record.order_key, result_key)
    if plan.hit:
        replay(ctx, task_ctx, plan.ops, plan.controls)
        cache.replayed(ctx.channel, plan)
        return plan.result
    kind = (handler if task.handler_type is not None else awaited if task.is_async
            else timed_attempt if task.timeout is not None else with_context)
    if not plan.record:
        return kind(driver, ctx, task, task_ctx, record)
    recording = RecordingTaskContext(task_ctx)
    recording.pending = (plan, len(ctx.run.dynamic_tasks))
    try:
        result = kind(driver, ctx, task, recording, record)
    finally:
        task_ctx.abandoned = recording.abandoned
    return _keep(ctx, task, recording, result)


def _keep(ctx: Session, task: Any, recording: RecordingTaskContext, result: Any) -> Any:
    """The recorded call returned ``result``: the cache keeps it (or says why not)."""
    plan, dynamic_before = recording.pending
    channel = recording.recorder
    refusal = _refusal(ctx, recording, task, dynamic_before)
    ctx.run.cache.keep(plan, result, channel.reads, channel.ops, recording.controls, refusal=refusal)
    return result


def _refusal(ctx: Session, recording: RecordingTaskContext, task: Any, dynamic_before: int) -> str | None:
    """Why what this task just did can't be replayed (None: it can)."""
    if recording.asked_for_input:
        return "it asked for human input"
    if ctx.checkpoint_request is not None:
        return "it asked for a checkpoint"
    if recording.recorder.listed:
        return "it listed every channel key, so what it read can't be told"
    if len(ctx.run.dynamic_tasks) == dynamic_before:
        return None  # it queued no task made at run time
    made = sum(1 for name, _ in recording.controls if name in ("next_task", "next_iteration"))
    added = ctx.run.dynamic_tasks[dynamic_before:]
    if sum(1 for _, session, spawned_by in added if session == ctx.session_id and spawned_by == task.task_id) > made:
        return "it built tasks while it ran"
    return None
