"""``run = wf.start(...)``: a run that goes on on a thread of its own, and its handle.

Why.  A notebook cell that runs a workflow holds the kernel until the run ends, and
while it does, no widget click reaches the kernel (ipykernel#646): the debugger's
buttons and the human-input forms are dead.  ``start`` returns at once; the cell ends,
the kernel is free, and the run goes on behind it.

Threads.  The run is driven by one daemon thread (then its worker pool, as for
``execute``).  That thread runs in a copy of the caller's ``contextvars`` context,
which is where ipykernel keeps the cell's parent header: prints and displays of the
run, including its branches (the coordinator copies the context again at each fork),
are addressed to the cell that started it.

Legs.  A run is driven in legs: from ``start`` (or a ``resume``) until it pauses for
input or ends.  Each leg is one ``concurrent.futures.Future`` whose value is what the
leg's call returned, or the error it raised.  A paused run holds no thread; answering
its questions (``resume``) starts the next leg on a new thread, in the same copied
context.  State (``_lock`` guards ``_leg``; the run record is the engine's):

    _leg:        Future   the current leg; done when the run paused or ended

    status:  running -> paused -> running -> ... -> succeeded | failed | cancelled

Waiting.  ``result(timeout=)`` blocks the calling thread, so it is refused on a thread
whose event loop is running (a notebook cell's), where it would freeze the loop that
delivers the clicks; ``await run`` waits there without blocking it.  A wait that finds
the run paused raises ``WaitingForInput`` naming the questions rather than waiting for
an answer nobody can give while the caller waits.

Stopping.  ``cancel()`` calls ``Run.cancel``: the run stops the way a task's
``cancel_workflow`` stops it (nothing new starts; running tasks stop at their next task
boundary) and ends ``cancelled``, ``result()`` raising ``GraflowWorkflowCanceledError``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from typing import Any

from ..errors import GraflowRuntimeError
from .interruptible import wait_set
from .run import Run

# What a leg's thread calls: the front door's drive of the run (execute, or a resume).
Leg = Callable[[], Any]


class WaitingForInput(GraflowRuntimeError):
    """A started run paused for human input while someone waited for its result.

    ``session_id``: the run's root session; ``waiting``: ``[(session_id, prompt,
    kind)]`` of each open question (plain values, so the error pickles)."""

    def __init__(self, session_id: str, waiting: list[tuple[str, str, str]]):
        self.session_id = session_id
        self.waiting = waiting
        questions = "; ".join(f"{sid}: {prompt!r} ({kind})" for sid, prompt, kind in waiting)
        super().__init__(
            f"run {session_id!r} is paused, waiting for input ({questions or 'no question left'}): "
            f"answer it with its form or run.resume(session_id, value), then wait again"
        )

    @classmethod
    def of(cls, run: Run) -> WaitingForInput:
        return cls(run.root_session_id, [(p.session_id, p.prompt, p.kind) for p in run.pending_inputs()])


class RunHandle:
    """The handle ``wf.start(...)`` returns: the run goes on in the background.

    ``status`` (running, paused, succeeded, failed, cancelled), ``result(timeout=)``,
    ``await run``, ``cancel()``, ``resume(...)`` for a run that waits for input, and
    ``run`` (the ``Run`` record, also ``wf.last_run``), inspectable at any time.
    """

    def __init__(self, run: Run, first_leg: Leg, resume_leg: Leg):
        self.run = run
        self._resume_leg = resume_leg
        # The caller's context, copied once: every leg runs in a copy of it, so a leg
        # started by a click (another parent header) still writes to the starting cell.
        self._context = contextvars.copy_context()
        # Guards _leg: a leg's thread ends while the caller cancels or resumes.
        self._lock = threading.Lock()
        self._leg: Future[Any] = Future()
        self._listeners: list[Callable[[RunHandle], None]] = []
        self._first_leg = first_leg

    def begin(self) -> None:
        """Start the first leg (``wf.start`` calls it once its views are in place)."""
        self._launch(self._leg, self._first_leg)

    # -- legs ----------------------------------------------------------------------------
    def _launch(self, leg: Future[Any], call: Leg) -> None:
        thread = threading.Thread(
            target=self._context.copy().run, args=(self._drive, leg, call),
            name=f"graflow-run-{self.run.root_session_id}", daemon=True,
        )
        thread.start()

    def _drive(self, leg: Future[Any], call: Leg) -> None:
        try:
            value = call()
        except BaseException as error:
            leg.set_exception(error)
        else:
            leg.set_result(value)
        for listener in list(self._listeners):
            self._tell(listener)

    def on_leg_end(self, listener: Callable[[RunHandle], None]) -> None:
        """Call ``listener(handle)`` on the run's thread each time the run pauses or ends
        (what the notebook panel redraws from); at once, here, if it has paused or
        ended already.  A listener that raises is reported on the run (``observer_errors``,
        one warning) and muted; the run's outcome is unchanged."""
        self._listeners.append(listener)
        if self._leg.done():
            self._tell(listener)

    def _tell(self, listener: Callable[[RunHandle], None]) -> None:
        if self.run.bus.reported(listener):
            return
        try:
            listener(self)
        except Exception as broken:  # a view that fails must not change the run's outcome
            self.run.bus.report(listener, "leg ended", broken)

    # -- state ---------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """running | paused (waiting for input) | succeeded | failed | cancelled."""
        if not self._leg.done():
            return "running"
        return self.run.status

    @property
    def done(self) -> bool:
        """The run has ended (not merely paused): ``result()`` returns or raises at once."""
        return self._leg.done() and self.run.status != "paused"

    @property
    def pending(self) -> list[Any]:
        """The questions a paused run waits on (``Run.pending_inputs``)."""
        return self.run.pending_inputs() if self.status == "paused" else []

    # -- waiting -------------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> Any:
        """What ``execute`` would have returned (the last root task's result, or
        ``(result, context)`` with ``ret_context=True``), waiting at most ``timeout``
        seconds; the run's own error if it failed or was cancelled; ``TimeoutError``
        if it still runs; ``WaitingForInput`` if it is paused for input.  Refused on a
        thread whose event loop is running: ``await run`` there."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no running loop here: blocking this thread blocks nobody else
        else:
            raise RuntimeError(
                f"run.result() would block this thread's running event loop (a notebook cell runs on one), "
                f"and with it the clicks and redraws the run needs; use `await run` here instead "
                f"(run {self.run.root_session_id!r} is {self.status})"
            )
        leg = self._leg
        if not wait_set(lambda step: bool(futures_wait([leg], step).done), timeout):  # a Ctrl-C ends the wait
            raise TimeoutError(
                f"run {self.run.root_session_id!r} is still {self.status} after {timeout} s "
                f"({self.run.steps} tasks started so far)"
            )
        value = leg.result()
        return self._outcome(value)

    def __await__(self) -> Any:
        """``await run``: ``result()`` on the caller's event loop, without blocking it."""
        return self._wait().__await__()

    async def _wait(self) -> Any:
        """Wait on the caller's loop without blocking it.  Shielded: cancelling the
        waiting (interrupting the cell) stops the wait, not the run."""
        value = await asyncio.shield(asyncio.wrap_future(self._leg))
        return self._outcome(value)

    def _outcome(self, value: Any) -> Any:
        if self.run.status == "paused":
            raise WaitingForInput.of(self.run)
        return value

    # -- acting --------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Stop the run as a task's ``cancel_workflow`` would (``Run.cancel``): nothing
        new starts, running tasks stop at their next task boundary, and it ends
        ``cancelled``.  A paused run is driven once more so its sessions close.  Returns
        False if the run had already ended.  Does not wait: ``result()`` / ``await``."""
        with self._lock:
            if self.done:
                return False
            self.run.cancel("cancelled by run.cancel()")
            if not self._leg.done() or self.run.status != "paused":
                # The running leg sees the stop at its next task boundary; or it has
                # just ended, the run cancelled by that stop (an awaiting task was).
                return True
            self._leg = Future()
            leg = self._leg
        self._launch(leg, self._resume_leg)
        return True

    def resume(self, answers: Any = None, value: Any = None) -> RunHandle:
        """Answer waiting questions (``{session_id_or_key: answer}``, or one as
        ``resume(session_id, value)``) and continue the run in the background; returns
        this handle at once.  A wrong answer is refused here, before anything runs."""
        with self._lock:
            if self.status != "paused":
                raise RuntimeError(f"run {self.run.root_session_id!r} is {self.status}, not paused; nothing to resume")
            if answers is not None and not isinstance(answers, dict):
                answers = {answers: value}
            for target, answer in (answers or {}).items():
                self.run.answer(target, answer)
            self._leg = Future()
            leg = self._leg
        self._launch(leg, self._resume_leg)
        return self

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        run = self.run
        status = self.status
        elapsed = (run.ended if status != "running" and run.ended else time.time()) - run.started
        line = f"<RunHandle {run.workflow_name!r} run {run.root_session_id!r} {status}, {run.steps} tasks started, {elapsed:.1f} s"
        if status == "paused":
            line += ", waiting for " + ", ".join(sorted({p.session_id for p in run.pending_inputs()}))
        elif status in ("failed", "cancelled") and run.error is not None:
            line += f": {type(run.error).__name__}: {run.error}"
        return line + ">"
