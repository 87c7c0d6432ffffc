"""The exception family, with graflow's names and hierarchy.

graflow wraps user exceptions as ``GraflowRuntimeError("An error occurred: ...")`` and
reduces branch failures to strings.  Here a user exception keeps its type and message;
the engine only attaches ``task_id`` / ``session_id`` attributes and an exception note,
so ``except ValueError`` in a notebook still catches a ``ValueError`` raised in a task.
"""

from __future__ import annotations

from typing import Any, TypeGuard, cast


class PicklableError:
    """Mixin: the error survives a pickle round trip (a checkpoint, another process)
    with its attributes, its notes and its ``__cause__``.

    Python re-creates an exception as ``cls(*self.args)``, which breaks every class
    whose ``__init__`` takes other arguments than its message (``ParallelGroupError``,
    ``TaskTimeoutError``...): this one is rebuilt without calling ``__init__``."""

    def __reduce__(self) -> tuple[Any, ...]:
        error = cast(BaseException, self)
        state = dict(error.__dict__)
        if error.__cause__ is not None:
            state["__cause__"] = error.__cause__
        return (_rebuild_error, (type(self), error.args), state)


def _rebuild_error(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    error = cls.__new__(cls)
    error.args = args
    return error


class GraflowError(PicklableError, Exception):
    """Base of every error the library raises on its own account."""


class ConfigError(GraflowError):
    """A setting (backend, policy, worker count...) that cannot be used."""


class GraphCompilationError(GraflowError):
    """The graph cannot be run as wired (no start node, several start nodes...)."""


class DuplicateTaskError(GraphCompilationError):
    """Two different tasks were registered under one id in one workflow."""

    def __init__(self, task_id: str, message: str | None = None):
        self.task_id = task_id
        super().__init__(
            message
            or f"Task id {task_id!r} is already used by another task in this workflow; "
            f"give the new one a distinct id, e.g. @task({task_id + '_2'!r})"
        )


class GraphMutationError(GraflowError):
    """The shared graph was changed while a run was reading it."""


class GraflowRuntimeError(GraflowError):
    """Something went wrong while a workflow was running."""

    def __init__(self, message: str = "", cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class TaskError(GraflowRuntimeError):
    """The engine could not call a task (e.g. a required parameter is missing)."""

    def __init__(self, message: str, task_id: str | None = None, session_id: str | None = None):
        super().__init__(message)
        self.task_id = task_id
        self.session_id = session_id


class CycleLimitExceededError(GraflowRuntimeError):
    """A task would run more often in one session than its ``max_cycles`` allows."""

    def __init__(self, task_id: str, cycle_count: int, max_cycles: int):
        self.task_id = task_id
        self.cycle_count = cycle_count
        self.max_cycles = max_cycles
        super().__init__(
            f"CycleLimitExceededError(task_id={task_id}, cycle_count={cycle_count}, "
            f"max_cycles={max_cycles})"
        )


class RetryLimitExceededError(GraflowRuntimeError):
    """A task failed on every attempt its ``max_retries`` allowed; ``last_error`` is the last."""

    def __init__(self, task_id: str, retry_count: int, max_retries: int, last_error: BaseException):
        self.task_id = task_id
        self.retry_count = retry_count
        self.max_retries = max_retries
        self.last_error = last_error
        super().__init__(
            f"Task {task_id!r} failed after {retry_count} retries (max_retries={max_retries}): "
            f"{type(last_error).__name__}: {last_error}",
            cause=last_error,
        )


class StepLimitExceededError(GraflowRuntimeError):
    """The run's shared ``max_steps`` budget ran out (graflow stops silently here).

    ``results`` holds each finished task's result, filled in when the run ends."""

    results: dict[str, Any]  # every result so far, set when the error reaches the run's root

    def __init__(self, max_steps: int, session_id: str, task_id: str | None):
        self.max_steps = max_steps
        self.session_id = session_id
        self.task_id = task_id
        self.results: dict[str, Any] = {}
        super().__init__(
            f"max_steps={max_steps} reached in session {session_id!r} before task "
            f"{task_id!r} could run; the budget is shared by every session of the run, "
            f"raise it with execute(max_steps=...) if the loop is intended"
        )


class GraflowWorkflowCanceledError(GraflowRuntimeError):
    """The run was cancelled (``ctx.cancel_workflow()``, or from outside while a group ran)."""

    def __init__(self, message: str, task_id: str | None = None):
        super().__init__(message)
        self.task_id = task_id


class TaskStoppedError(GraflowRuntimeError):
    """Raised by a task that stopped part-way because its session was cancelled (it saw
    ``ctx.cancelled``, e.g. a shell step whose command was killed).

    When the session really was cancelled, the task is recorded ``cancelled``, its
    session ends ``cancelled`` and its group counts it as not run, as for a task the
    stop reached at a task boundary; the run ends with what stopped it.  Unlike
    ``GraflowWorkflowCanceledError`` it does not stop the run.  Raised when nothing was
    cancelled, it is an ordinary failure."""


def stopped_by_cancel(error: BaseException, cancelled: bool) -> bool:
    """``error`` is a task's report that the cancel of its session stopped it."""
    return cancelled and isinstance(error, TaskStoppedError)


class RunInterrupted(PicklableError, KeyboardInterrupt):
    """Raised inside a task's thread when its run is interrupted (``core.interrupt``).

    A ``KeyboardInterrupt``, so ``except Exception`` in a task does not swallow it; the
    engine turns it into a ``GraflowWorkflowCanceledError`` for the task's session."""


class ParallelGroupError(GraflowRuntimeError):
    """One or more members of a parallel group failed.

    ``errors`` maps each failed member to its original exception object, in declaration
    order; ``failed_tasks`` keeps graflow's ``[(member_id, message)]`` shape.  The first
    failure in declaration order is the primary one (also ``__cause__``), so the
    reported error does not depend on which thread lost the race; when that member is
    a nested group, the primary is that group's own primary (the task that failed).
    """

    def __init__(
        self,
        message: str,
        group_id: str,
        failed_tasks: list[tuple[str, str]],
        successful_tasks: list[str],
        errors: dict[str, BaseException] | None = None,
        sessions: dict[str, str] | None = None,
        cancelled_tasks: list[str] | None = None,
    ):
        super().__init__(message)
        self.group_id = group_id
        self.failed_tasks = failed_tasks
        self.successful_tasks = successful_tasks
        self.errors = errors or {}
        self.sessions = sessions or {}
        self.cancelled_tasks = cancelled_tasks or []
        if self.errors:
            cause = next(iter(self.errors.values()))
            # A member that is itself a group hands on its own first cause, so the
            # chain stays two long (this group, the task that failed) at any depth.
            while isinstance(cause, ParallelGroupError) and cause.__cause__ is not None:
                cause = cause.__cause__
            self.__cause__ = cause

    @property
    def primary_error(self) -> BaseException | None:
        return self.__cause__


class MergeConflictError(GraflowRuntimeError):
    """Two branches wrote different values to one channel key at a fan-in."""

    def __init__(self, key: str, writers: list[tuple[str, Any]], group_id: str, hint: str | None = None):
        self.key = key
        self.writers = writers
        self.group_id = group_id
        shown = ", ".join(f"{member!r} wrote {value!r}" for member, value in writers)
        if hint is None:
            where = f"group {group_id!r}"
            values = [v for _, v in writers]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                fits = f" or merge={{{key!r}: 'sum'}} (adds each branch's change)"
            elif all(isinstance(v, list) for v in values):
                fits = f" or merge={{{key!r}: 'append'}}"
            elif all(isinstance(v, dict) for v in values):
                fits = f" or merge={{{key!r}: 'deep_merge'}}"
            else:
                fits = ""
            hint = (
                f"choose how to combine them, e.g. group.with_execution(merge='overwrite') "
                f"(last declared wins), merge='keep_first'{fits}"
            )
        else:
            where = f"session {group_id!r}"
        super().__init__(f"Merge conflict in {where} on channel key {key!r}: {shown}; {hint}")


def ends_run(error: BaseException | None) -> TypeGuard[BaseException]:
    """True for what no group policy tolerates and what stops the whole run: a
    ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``KeyboardInterrupt``, ``GeneratorExit``...) and a workflow cancel."""
    return error is not None and (not isinstance(error, Exception) or isinstance(error, GraflowWorkflowCanceledError))


def stop_status(error: BaseException) -> str:
    """The status of a run that ``error`` ended: an interrupt or a workflow cancel is
    ``cancelled``, anything else (``SystemExit`` included) ``failed``."""
    return "cancelled" if isinstance(error, (KeyboardInterrupt, GraflowWorkflowCanceledError)) else "failed"


def as_runtime_error(ex: Exception) -> GraflowRuntimeError:
    """graflow's helper: ``ex`` if it is a ``GraflowRuntimeError``, else one wrapping it
    (graflow's engine does this to every task error; graflow_nb's never does)."""
    if isinstance(ex, GraflowRuntimeError):
        return ex
    return GraflowRuntimeError(f"An error occurred: {ex}", cause=ex)


def annotate(error: BaseException, task_id: str, session_id: str) -> BaseException:
    """Tag a user exception with where it happened, once, without changing its type."""
    if getattr(error, "task_id", None) is None or not hasattr(error, "session_id"):
        try:
            # An error that names its task already (graflow's CycleLimitExceededError names
            # the looping task, not the iteration that raised it) keeps that name.
            if getattr(error, "task_id", None) is None:
                error.task_id = task_id  # type: ignore[attr-defined]  # tagging the user's exception, any type
            error.session_id = session_id  # type: ignore[attr-defined]
        except AttributeError:
            pass
    if not getattr(error, "_graflow_nb_noted", False):
        error.add_note(f"[graflow_nb] raised by task {task_id!r} in session {session_id!r}")
        try:
            error._graflow_nb_noted = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return error


class TaskTimeoutError(GraflowRuntimeError, TimeoutError):
    """A task ran longer than its ``timeout``.  A sync task's thread was abandoned (its
    late result and channel writes are discarded); an ``async def`` task was cancelled at
    its await, its ``finally`` blocks ran (``aftermath`` says which)."""

    ABANDONED = "its thread was abandoned and anything it returns later is discarded"
    CANCELLED = "it was cancelled at its await and its finally blocks ran"

    def __init__(self, task_id: str, timeout: float, session_id: str, aftermath: str = ABANDONED):
        self.task_id = task_id
        self.timeout = timeout
        self.session_id = session_id
        super().__init__(
            f"task {task_id!r} in session {session_id!r} timed out after {timeout:g} s "
            f"(timeout={timeout:g}); {aftermath}"
        )


class AbandonedAttemptsLimitError(GraflowRuntimeError):
    """Too many timed-out attempts are still running on abandoned threads, so a new
    timed attempt is refused rather than piling up another thread."""

    def __init__(self, task_id: str, session_id: str, limit: int, hung: list[str]):
        self.task_id = task_id
        self.session_id = session_id
        self.limit = limit
        self.hung = hung
        shown = ", ".join(hung[:5]) + (f" and {len(hung) - 5} more" if len(hung) > 5 else "")
        super().__init__(
            f"task {task_id!r} in session {session_id!r} was not started: {len(hung)} timed-out attempts "
            f"are still running on abandoned threads (the limit is {limit}): {shown}; "
            f"make those tasks return (they can poll ctx.cancelled) or restart the kernel"
        )


class GroupTimeoutError(GraflowRuntimeError, TimeoutError):
    """A parallel group did not finish within its ``timeout``."""

    def __init__(self, group_id: str, timeout: float, unfinished: list[str], results: dict[str, Any]):
        self.group_id = group_id
        self.timeout = timeout
        self.unfinished = unfinished
        self.results = results
        done = [m for m, r in results.items() if getattr(r, "success", False)]
        super().__init__(
            f"group {group_id!r} timed out after {timeout:g} s: {', '.join(unfinished) or 'nothing'} "
            f"had not finished (finished: {', '.join(done) or 'none'}); successors do not run"
        )


class MapItemsError(GraflowRuntimeError, TypeError):
    """A map's value is no collection of items (or iterating it raised, or two items
    share a key): the message names the map, what it read and the value's type."""


class SessionPaused(GraflowError):
    """Internal: a session stopped to wait for human input (travels up to the run)."""

    def __init__(self, session_id: str, waiting: list[str]):
        self.session_id = session_id
        self.waiting = waiting
        super().__init__(f"session {session_id!r} is waiting for input ({', '.join(waiting)})")


class SessionHeld(SessionPaused):
    """Internal: a step debugger that can't block a thread (``wf.debug(threads=False)``,
    Pyodide) holds this session at a gate (``core.runtime.gate``).  The session unwinds
    as a paused one does, but stays open: nothing waits for input, and the debugger
    resumes the run when it lets the session go."""

    def __init__(self, session_id: str):
        GraflowError.__init__(self, f"session {session_id!r} is held by the step debugger")
        self.session_id = session_id
        self.waiting = [session_id]


class AwaitParked(BaseException):  # noqa: N818  # a signal, not an error, like SessionPaused
    """Internal: a session handed its async task to the run's loop and stops without a
    thread (its ``awaiting`` attempt); the worker pool runs it on when that ends
    (``core.runtime.loop``).  A ``BaseException``: no ``except Exception`` may keep it."""

    def __init__(self, session_id: str):
        self.session_id = session_id
        super().__init__(session_id)


class PauseRequested(GraflowError):
    """Internal: raised inside a task by ``request_feedback`` when no answer is there yet."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"waiting for input {key!r}")
