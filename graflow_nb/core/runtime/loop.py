"""The run's event loop: where the coroutines of a run's ``async def`` tasks run.

One loop per run, beside the worker pool (``executors``), so every async task of a run
sees the same running loop:

- ``await wf.aexecute(...)`` lends the caller's running loop (``lend``): clients made
  on it earlier (an ``httpx.AsyncClient`` from a previous notebook cell) work in tasks;
- ``wf.execute(...)`` makes a loop of the run's own on a daemon thread the first time
  an async task starts (``RunLoop.own``), and stops it when the run ends.

Sync tasks never run on the loop's thread, and the loop never waits for a thread: a
session that reaches an async task hands the coroutine over as an ``AsyncAttempt`` and
either parks (a branch on the worker pool: ``errors.AwaitParked`` unwinds it, and the pool
runs it on when the attempt ends) or waits for it (the root session, a Dask worker's
branch, a session under the debugger).

Each attempt runs in a copy of the context of the thread that handed it over, so
``print`` in an async task lands in the cell that started the run (ipykernel routes
output through context variables) and tasks made in it join its session.

Cancellation is delivered as ``CancelledError`` at the task's next ``await``: by
``cancel()`` (a parked branch's group stopping, Ctrl-C in a waiting thread), by
``cancel_all()`` (``Run.cancel``), and by a sweep every ``SWEEP_SECONDS`` that cancels
the attempts whose session was told to stop in any other way.  A loop blocked by a task
(``time.sleep`` in an ``async def``) is named in one ``BlockedLoopWarning`` per task
with how long its step blocked (``LoopWatchdog``); many short steps are no one's fault.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from ..errors import PauseRequested, TaskStoppedError, TaskTimeoutError
from .interruptible import wait_set
from .threadless import needs_threads, threads_available

SWEEP_SECONDS = 0.05  # how often the loop looks for attempts whose session was stopped
BLOCKED_SECONDS = 0.2  # one step of one task holding the loop this long is reported
WATCH_SECONDS = 0.05  # how often the watchdog asks the loop for a beat
STEP_SAMPLE_SECONDS = 0.02  # how often it looks at the loop's step while a beat is overdue
STOP_JUDGE_SECONDS = 1.0  # the longest a run's end waits for the watchdog's last judgement


class BlockedLoopWarning(RuntimeWarning):
    """An ``async def`` task held the run's event loop (a blocking call inside it):
    every other async task of the run waited meanwhile."""


class Outcome:
    """How one attempt ended, set once (on the loop's thread) and read from any thread.

    What a ``concurrent.futures.Future`` would do for it, at a fraction of the cost: one
    plain lock, no condition, no event unless a thread waits (the root session), no
    callback list unless one is asked for.  10,000 parked members each made one."""

    __slots__ = ("_lock", "ended", "value", "error", "_callbacks", "_event")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ended = False
        self.value: Any = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[], None]] | None = None
        self._event: threading.Event | None = None

    def end(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            self.value, self.error, self.ended = value, error, True
            callbacks, self._callbacks = self._callbacks, None
            event = self._event
        if event is not None:
            event.set()
        if callbacks is not None:
            for callback in callbacks:
                callback()

    def when_ended(self, callback: Callable[[], None]) -> None:
        """``callback()`` once it ended: where it ends, or here if it already has."""
        with self._lock:
            if not self.ended:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until it ended (a Ctrl-C reaches the wait); False on timeout."""
        with self._lock:
            if self.ended:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return wait_set(event.wait, timeout)  # in slices on the main thread: a Ctrl-C ends it

    def result(self) -> Any:
        """Its value, or its error raised (once it ended)."""
        if self.error is not None:
            raise self.error
        return self.value


class AsyncAttempt:
    """One attempt of one async task on the run's loop.

    Made on the session's thread (nothing of the coroutine runs yet), started with
    ``start``; ``future`` (an ``Outcome``) holds how it ended."""

    __slots__ = (
        "run_loop", "coroutine", "timeout", "session", "task_context", "record", "label",
        "context", "future", "handle", "cancel_asked", "timed_out", "interrupt", "slot",
    )

    def __init__(
        self, run_loop: RunLoop, coroutine: Coroutine[Any, Any, Any], timeout: float | None, session: Any,
        task_context: Any, record: Any, context: contextvars.Context,
    ):
        self.run_loop = run_loop
        self.coroutine = coroutine
        self.timeout = timeout
        self.session = session
        self.task_context = task_context
        self.record = record  # its TaskRun (None: a custom handler's task.run())
        # The session's id, not task_context.session_id: under a re-run cache that read
        # is the task's own input (core.runtime.recording), and this one is not the task's.
        self.label = f"{task_context.task_id!r} (session {session.session_id!r})"
        self.context = context
        self.future = Outcome()
        self.handle: asyncio.Task[Any] | None = None
        self.cancel_asked = False
        self.timed_out = False
        self.interrupt: BaseException | None = None  # the Ctrl-C that cancelled it, re-raised by its session
        # The run's task slot it holds (``execute(max_concurrency=)``), let go as it ends.
        self.slot: threading.BoundedSemaphore | None = None

    def start(self) -> None:
        self.run_loop.call(self._begin)

    def _begin(self) -> None:
        """On the loop: the coroutine becomes a task, in the context it was handed with."""
        if self.cancel_asked or self.run_loop.cancelled_all:
            self.coroutine.close()  # never started: its body never ran
            self._let_go_of_slot()
            self.future.end(None, asyncio.CancelledError())
            return
        self.handle = handle = self.run_loop.loop.create_task(self._body(), name=self.label, context=self.context)
        self.run_loop.add(self)
        handle.add_done_callback(self._ended)

    async def _body(self) -> Any:
        if self.timeout is None:
            return await self.coroutine
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                return await self.coroutine
        except TimeoutError:
            self.timed_out = scope.expired()
            raise

    def _ended(self, handle: asyncio.Task[Any]) -> None:
        self.run_loop.attempts[self.stop_key()].discard(self)
        self._let_go_of_slot()
        if handle.cancelled():
            self.future.end(None, asyncio.CancelledError())
            return
        error = handle.exception()
        self.future.end(handle.result() if error is None else None, error)

    def stop_key(self) -> tuple[int, int]:
        """What stops it, as a key: its session's own stop flag (a group's, shared by
        the group's branches) and its parent session; one key per group of siblings.  A
        custom handler's attempt (no record) is its own: its timed-out thread's context
        may be abandoned, which is looked at one attempt at a time."""
        if self.record is None:
            return (id(self), 0)
        session = self.session
        return (id(session.cancel_event), id(session.parent_context))

    def _let_go_of_slot(self) -> None:
        slot, self.slot = self.slot, None
        if slot is not None:
            slot.release()

    def cancel(self, interrupt: BaseException | None = None) -> None:
        """Deliver ``CancelledError`` at the task's next ``await`` (from any thread)."""
        if interrupt is not None and self.interrupt is None:
            self.interrupt = interrupt
        self.cancel_asked = True
        self.run_loop.call(self._cancel_here)

    def _cancel_here(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def result(self) -> Any:
        """How it ended, in the engine's terms: its result, its error,
        ``TaskTimeoutError`` past its timeout, ``TaskStoppedError`` when it was cancelled
        for a stop of its session (recorded ``cancelled``), or the Ctrl-C that cancelled it."""
        try:
            return self.future.result()
        except asyncio.CancelledError:
            if self.interrupt is not None:
                raise self.interrupt from None
            raise TaskStoppedError(f"async task {self.label} was cancelled at an await: its session was stopped") from None
        except TimeoutError as error:
            if not self.timed_out:
                raise
            assert self.timeout is not None  # only an attempt with a timeout times out
            raise TaskTimeoutError(
                self.task_context.task_id, self.timeout, self.session.session_id, TaskTimeoutError.CANCELLED,
            ) from error

    def when_done(self, callback: Callable[[], None]) -> None:
        """``callback()`` once it ended: on the loop's thread, or here if it already has."""
        self.future.when_ended(callback)

    def wait(self) -> None:
        """Block this thread until it ended (``future`` says how); a Ctrl-C here cancels
        it, waits a moment for its ``finally`` blocks, and goes up."""
        try:
            self.future.wait()
        except KeyboardInterrupt as interrupt:
            self.cancel(interrupt)
            try:
                self.future.wait(timeout=1.0)
            except KeyboardInterrupt:
                pass
            raise


class RunLoop:
    """The event loop of one run, its live attempts and their watchdog."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int, thread: threading.Thread | None = None):
        self.loop = loop
        self.thread_id = thread_id
        self._thread = thread  # the daemon thread of a loop of the run's own; None: lent
        # The live attempts, by what stops them (``AsyncAttempt.stop_key``): a sweep looks
        # at one stop flag per group, not one per attempt.  Touched only on the loop's thread.
        self.attempts: dict[tuple[int, int], set[AsyncAttempt]] = {}
        self._inbox: deque[Callable[[], None]] = deque()
        self._drain_asked = False
        self.cancelled_all = False
        self.watchdog = LoopWatchdog(self)
        self.call(self._start_sweeping)
        if threads_available():  # where threads can't start (Pyodide), nothing watches the loop
            self.watchdog.start()

    @classmethod
    def own(cls, name: str) -> RunLoop:
        """A new loop on a daemon thread of its own, running until ``close``."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        idents: list[int] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            idents.append(threading.get_ident())
            loop.call_soon(started.set)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=serve, name=name, daemon=True)
        thread.start()
        started.wait()
        return cls(loop, idents[0], thread)

    @classmethod
    def lend(cls, loop: asyncio.AbstractEventLoop, thread_id: int) -> RunLoop:
        """The caller's running loop, on thread ``thread_id`` (``aexecute``)."""
        return cls(loop, thread_id)

    def call(self, callback: Callable[[], None]) -> None:
        """``callback()`` on the loop's thread, soon.  Calls from other threads queue in
        an inbox the loop drains in one go: a fan-out of 10,000 starts wakes the loop a
        few times, not 10,000 (each wake-up takes the GIL from the forking thread)."""
        if threading.get_ident() == self.thread_id:
            callback()
            return
        self._inbox.append(callback)
        if not self._drain_asked:
            self._drain_asked = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_asked = False  # first: a call queued from now on asks again
        inbox = self._inbox
        while inbox:
            inbox.popleft()()

    def attempt(
        self, coroutine: Coroutine[Any, Any, Any], timeout: float | None, session: Any, task_context: Any, record: Any,
    ) -> AsyncAttempt:
        return AsyncAttempt(self, coroutine, timeout, session, task_context, record, contextvars.copy_context())

    def run_to_end(self, coroutine: Coroutine[Any, Any, Any], session: Any, task_context: Any) -> Any:
        """Run ``coroutine`` on this loop while this thread waits; its result (a custom
        handler's ``task.run()`` of an async task)."""
        if not threads_available():
            coroutine.close()
            raise needs_threads(
                f"async task {task_context.task_id!r} run by a custom handler (task.run()) in session {session.session_id!r}",
                "a handler waits for its coroutine, which only a loop on another thread could run; "
                "drop the handler, or make the task a plain def",
            )
        attempt = self.attempt(coroutine, None, session, task_context, None)
        attempt.start()
        attempt.wait()
        return attempt.result()

    def cancel_all(self) -> None:
        """Cancel every attempt now on the loop (the run was cancelled)."""
        self.cancelled_all = True
        self.call(self._cancel_all_here)

    def add(self, attempt: AsyncAttempt) -> None:
        """A started attempt, kept until it ends (on the loop's thread)."""
        key = attempt.stop_key()
        bucket = self.attempts.get(key)
        if bucket is None:
            bucket = self.attempts[key] = set()
        bucket.add(attempt)

    def _cancel_all_here(self) -> None:
        for bucket in list(self.attempts.values()):
            for attempt in list(bucket):
                attempt.cancel()

    def _start_sweeping(self) -> None:
        self._sweeper = self.loop.create_task(self._sweep(), name="graflow-loop-sweep")

    async def _sweep(self) -> None:
        """Cancel the attempts whose session was told to stop (a group's stop flag, the
        run's cancel): one look per group of siblings (``AsyncAttempt.stop_key``), so
        10,000 awaiting members cost one look per sweep, not 10,000."""
        attempts = self.attempts
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            for key in list(attempts):
                bucket = attempts[key]
                if not bucket:
                    del attempts[key]
                    continue
                if self._stopped(next(iter(bucket))):
                    for attempt in list(bucket):
                        if not attempt.cancel_asked:
                            attempt.cancel()

    @staticmethod
    def _stopped(attempt: AsyncAttempt) -> bool:
        """Whether ``attempt``'s session (and so every attempt of its key) was told to stop."""
        session = attempt.session
        flag = session.cancel_event
        if flag is not None and flag.is_set():
            return True
        parent = session.parent_context
        if parent is not None and parent.cancelled or parent is None and session.run.cancel_event.is_set():
            return True
        return attempt.record is None and attempt.task_context is not None and attempt.task_context.abandoned

    def close(self) -> None:
        """The run ended: stop the watchdog and the sweep; stop a loop of the run's own."""
        self.watchdog.stop()
        self.call(self._stop_sweeping)
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)

    def _stop_sweeping(self) -> None:
        sweeper = getattr(self, "_sweeper", None)
        if sweeper is not None:
            sweeper.cancel()


class LoopWatchdog:
    """Names the async task one step of which held the run's loop, once per task, with
    how long that step took.

    A step is one resumption of one coroutine: one run of the loop's callback that
    resumes it (``asyncio.Handle._run``).  A thread of its own asks the loop for a beat
    every ``WATCH_SECONDS``; while a beat is overdue it looks at what the loop's thread
    runs (``sys._current_frames``) every ``STEP_SAMPLE_SECONDS``: the step's frame and
    the attempt inside it.  The same step frame seen across samples ``BLOCKED_SECONDS``
    apart is one step that blocked; a loop kept busy by many short steps shows a new step
    at every sample and is no task's fault.  Nothing runs per step on the loop: no
    asyncio debug mode, no wrapper around the coroutines."""

    def __init__(self, run_loop: RunLoop):
        self.run_loop = run_loop
        self.reported: set[str] = set()
        self.blocked: list[tuple[str, float]] = []  # (task label, seconds) of each warning given
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beaten = time.monotonic()  # when the loop last ran a beat: no step then

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="graflow-loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The run ended: wait (a moment at most) for the watchdog to judge the step it
        followed, so that step's warning is given before the run returns, not in the next
        cell or to nobody (on a busy machine the watchdog's thread runs late)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_JUDGE_SECONDS)

    def _watch(self) -> None:
        run_loop = self.run_loop
        while not self._stop.wait(WATCH_SECONDS):
            beat = threading.Event()
            try:
                run_loop.loop.call_soon_threadsafe(self._beat, beat)
            except RuntimeError:
                return  # the loop was closed
            if beat.wait(WATCH_SECONDS):
                continue
            # Overdue: follow the steps.  A step first seen at ``first`` began after
            # ``before``: the sample that saw something else, or the loop's last beat.
            step: Any = None
            attempt: AsyncAttempt | None = None
            before = first = last = self._beaten
            while True:
                answered = beat.wait(STEP_SAMPLE_SECONDS)
                now = time.monotonic()
                frame, found = (None, None) if answered else self._running_step()
                if frame is not step:
                    if step is not None:
                        self._judge(attempt, last - first, now - before)
                    step, attempt, before, first = frame, found, last, now
                last = now
                if answered or self._stop.is_set():
                    break
            step = None  # hold no frame of the loop's thread between beats

    def _beat(self, beat: threading.Event) -> None:
        """On the loop, between two callbacks: no step runs now."""
        self._beaten = time.monotonic()
        beat.set()

    def _judge(self, attempt: AsyncAttempt | None, seen: float, at_most: float) -> None:
        """One step ended: seen running for ``seen`` s, at most ``at_most`` s long.  It is
        reported once seen that long (never a guess), with the time it may have held the
        loop (from the last moment something else ran to the first sample after it)."""
        if attempt is None or seen < BLOCKED_SECONDS or attempt.label in self.reported:
            return
        held = at_most
        self.reported.add(attempt.label)
        self.blocked.append((attempt.label, held))
        warnings.warn(
            f"async task {attempt.label} blocked the run's event loop for {held:.2f} s in one step "
            f"(between two awaits): every other async task waited. Await instead (asyncio.sleep, an "
            f"async client), or move the blocking call off the loop with 'await asyncio.to_thread(...)'.",
            BlockedLoopWarning,
            stacklevel=1,
        )

    def _running_step(self) -> tuple[Any, AsyncAttempt | None]:
        """The frame of the step the loop's thread runs now (None: not in a callback),
        and the attempt whose coroutine that step resumed, if any."""
        frame = sys._current_frames().get(self.run_loop.thread_id)
        attempt = None
        while frame is not None:
            code = frame.f_code
            if code is _ATTEMPT_BODY:
                attempt = frame.f_locals.get("self")
            elif code is _STEP:
                return frame, attempt if isinstance(attempt, AsyncAttempt) else None
            frame = frame.f_back
        return None, None


_STEP = asyncio.Handle._run.__code__  # one callback of the loop: a coroutine's step is one
_ATTEMPT_BODY = AsyncAttempt._body.__code__


class LentLoop:
    """The caller's running loop that ``await wf.aexecute(...)`` lends to the run it
    starts, on the thread it runs on; the engine notes the run here, so that a cancel of
    the awaiting caller can cancel the run."""

    __slots__ = ("loop", "thread_id", "run")

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int):
        self.loop = loop
        self.thread_id = thread_id
        self.run: Any = None


# Set in the context of the thread that executes an ``aexecute`` run; read once by the
# engine as the run starts.
LENT_LOOP: contextvars.ContextVar[LentLoop | None] = contextvars.ContextVar("graflow_nb_lent_loop", default=None)


async def run_lending_loop(call: Callable[[], Any]) -> Any:
    """``await`` ``call()`` (a run's ``execute``) on a thread of its own, lending it this
    running loop for its async tasks; this loop stays free meanwhile.  Cancelling the
    await cancels the run (``Run.cancel``), waits for it to wind down (its async tasks'
    ``finally`` blocks run here), and goes up as ``CancelledError``."""
    loop = asyncio.get_running_loop()
    lent = LentLoop(loop, threading.get_ident())
    context = contextvars.copy_context()
    context.run(LENT_LOOP.set, lent)
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)

    def drive() -> None:
        try:
            result = context.run(call)
        except BaseException as error:
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=drive, name="graflow-aexecute", daemon=True).start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        if lent.run is not None:
            lent.run.cancel()
        try:
            await done
        except BaseException:  # noqa: S110  # how the cancelled run ended is on wf.last_run
            pass
        raise


def settle_parked(session: Any) -> bool:
    """A branch parked on an async attempt is about to run on; settle here what its
    session loop would see before the task: True if the session was told to stop
    meanwhile (the attempt, cancelled at its await or ended anyway, is recorded
    ``cancelled``: it counts as run, its result does not), and a question the task asked (recorded
    ``paused``: the task runs again from its start once answered)."""
    attempt = session.awaiting
    if not isinstance(attempt, AsyncAttempt):
        # A group parked on its members' awaits (or a wait for a task slot) on a run
        # driven from its loop: going on settles it (core.runtime.loop_driven).
        return False
    record = attempt.record
    if session.cancelled:
        session.awaiting = None
        record.end = time.time()
        record.status = "cancelled"
        record.error = TaskStoppedError(f"async task {attempt.label} was cancelled at an await: its session was stopped")
        # It started (its finally blocks ran): counted as dequeued and run, as any task
        # that was running when its session stopped, not as one that never ran.
        task = session.task_queue.dequeue()
        if task is not None:
            session.record.tasks_run.append(task.task_id)
        return True
    if isinstance(attempt.future.error, PauseRequested):
        session.awaiting = None
        record.end = time.time()
        record.status = "paused"
    return False


def running_loop_here() -> bool:
    """True on a thread whose event loop is running (a notebook cell's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
