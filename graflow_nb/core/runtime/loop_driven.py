"""A run driven from a coroutine on the caller's event loop, where threads can't start.

In Pyodide (JupyterLite) the page's event loop runs on the only thread there is, and a
cell's top-level ``await`` runs on it: ``await wf.aexecute(...)`` there is ``drive``
here.  Nothing may block that thread, so nothing waits for a coroutine: whatever would
wait parks instead, and the driver awaits.

    state             what it holds
    run.lent_loop     the caller's loop (``loop.LentLoop``), on this, the only thread
    session.awaiting  what a parked session waits on: an ``AsyncAttempt`` (its async
                      task's coroutine, on the loop), a ``GroupAwait`` (a group node
                      whose members all wait), or a ``SlotWait`` (a free task slot)
    wake              an ``asyncio.Event``, set by the first parked thing that can go on

A step drives the root session from where it stopped (``WorkflowEngine.run_root``):
sync tasks run on this thread; a group's members run one after another
(``executors/parking.py``), and a member whose branch reaches an async task hands the
coroutine to the loop and parks (``errors.AwaitParked`` unwinds its session, as on the
worker pool); the next member starts meanwhile, so a hundred members awaiting I/O
overlap.  A group none of whose members can go on parks its parent session on a
``GroupAwait``, up to the root.  The driver then awaits ``wake`` and steps again: the
root's group node picks up its group run, which runs on the members whose wait ended.
That is the only way a session resumes, so every state is a plain field here (as in
dask's ``local.py``): no thread, no lock, no callback that runs a task.

Cancelling the awaiting caller cancels the run (``Run.cancel``: every attempt gets
``CancelledError`` at its ``await`` and its ``finally`` blocks run), drives it to its
end, and goes up as ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import AwaitParked
from .loop import LentLoop
from .threadless import threads_available


def drives_on_loop(run: Any) -> bool:
    """Whether ``run`` is driven from a coroutine on its caller's loop (``drive``): no
    thread may wait in it, so whatever waits parks."""
    return run.lent_loop is not None and not threads_available()


class GroupParked(AwaitParked):  # noqa: N818  # a signal, like AwaitParked
    """Internal: a group run none of whose members can go on now (``group_run``); its
    parent session parks on it (``GroupAwait``)."""

    def __init__(self, session_id: str, group_run: Any = None):
        super().__init__(session_id)
        self.group_run = group_run
        self.args = (session_id, group_run)


class Resumable(Protocol):
    """What a parked group run's batch offers its parent: a call once a member can go on."""

    def when_resumable(self, callback: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class GroupAwait:
    """A session parked at a group node (its ``record``, ``task_context``): the group
    run goes on where it stopped once one of its members can (``when_done``)."""

    __slots__ = ("group_run", "record", "task_context")
    cancel_asked = False  # what ``Batch.park`` marks on an attempt; nothing to mark here

    def __init__(self, group_run: Any, record: Any, task_context: Any):
        self.group_run = group_run
        self.record = record
        self.task_context = task_context

    @property
    def batch(self) -> Resumable:
        batch: Resumable = self.group_run.batch
        return batch

    def start(self) -> None:
        """Nothing to start: its members' attempts started as they parked."""

    def when_done(self, callback: Callable[[], None]) -> None:
        self.batch.when_resumable(callback)

    def cancel(self) -> None:
        """Its parent's group stopped: so does this group (its members' attempts are
        cancelled at their ``await``)."""
        self.batch.stop()


class ParkingSlots:
    """``execute(max_concurrency=n)`` on a run driven from its loop: at most ``n`` async
    tasks in flight at once; a task that finds none free parks (``SlotWait``) until one
    is let go of.  A sync task takes none: sync tasks run one at a time on the only
    thread, and while one runs no coroutine takes a step."""

    def __init__(self, limit: int):
        self.limit = limit
        self.taken = 0
        self._waiting: deque[Callable[[], None]] = deque()

    def acquire(self, blocking: bool = True) -> bool:
        if self.taken >= self.limit:
            return False  # never blocks: there is no other thread to let one go
        self.taken += 1
        return True

    def release(self) -> None:
        self.taken -= 1
        if self._waiting:
            self._waiting.popleft()()

    def when_free(self, callback: Callable[[], None]) -> None:
        if self.taken < self.limit:
            callback()
        else:
            self._waiting.append(callback)

    def __enter__(self) -> ParkingSlots:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class SlotWait:
    """A session parked at an async task that found no free task slot: its attempt is
    made, from its start, once one is let go of."""

    __slots__ = ("slots", "record", "task_context")
    cancel_asked = False

    def __init__(self, slots: ParkingSlots, record: Any, task_context: Any):
        self.slots = slots
        self.record = record
        self.task_context = task_context

    def start(self) -> None:
        """Nothing started: the task's coroutine was closed before its body ran."""

    def when_done(self, callback: Callable[[], None]) -> None:
        self.slots.when_free(callback)

    def cancel(self) -> None:
        """Nothing runs to cancel: the session sees its stop as it goes on."""


class RootEngine(Protocol):
    """What ``drive`` asks of the engine (``WorkflowEngine``): open, step and close the root."""

    def open_root(self, context: Any) -> None: ...

    def run_root(self, context: Any) -> Any: ...

    def close_root(self, context: Any) -> None: ...


async def drive(engine: RootEngine, context: Any) -> Any:
    """Run the root session ``context`` to its end (or pause) from this coroutine, on
    this thread and this running loop; the run's result, as ``execute`` returns it."""
    run = context.run
    lent = LentLoop(asyncio.get_running_loop(), threading.get_ident())
    lent.run = run
    run.lent_loop = lent
    if run.max_concurrency is not None:
        run.task_slots = ParkingSlots(run.max_concurrency)
    wake = asyncio.Event()
    cancelled: asyncio.CancelledError | None = None
    # Parks at its awaits and groups; not under ready_parallel or a gate, whose
    # schedulers hold the session on this thread (an async task there says so).
    context.parkable = not run.ready_parallel and run.gate is None
    engine.open_root(context)
    try:
        with context.graph.reading():  # between steps too: the run holds the graph
            while True:
                try:
                    result = engine.run_root(context)
                    break
                except AwaitParked:
                    pass
                waiter = context.awaiting
                wake.clear()
                waiter.start()
                waiter.when_done(wake.set)
                while not wake.is_set():
                    try:
                        await wake.wait()
                    except asyncio.CancelledError as error:
                        # The awaiting cell was cancelled: so is the run; it winds down
                        # here (its async tasks' finally blocks run) before this goes up.
                        cancelled = cancelled or error
                        run.cancel()
    except BaseException:
        if cancelled is None:
            # Ended while sessions were parked (a KeyboardInterrupt, a SystemExit in a
            # step): their coroutines are cancelled, and their finally blocks run on.
            loop = run.loop
            if loop is not None:
                loop.cancel_all()
            raise
        # How the cancelled run ended is on wf.last_run; the caller sees its cancel.
    finally:
        context.parkable = False
        run.lent_loop = None  # a paused run goes on under aresume, which lends its loop again
        engine.close_root(context)
    if cancelled is not None:
        raise cancelled
    return result
