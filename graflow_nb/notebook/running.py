"""Running a workflow from a cell so that interrupting the kernel stops it cleanly.

The run executes on a worker thread while the kernel thread waits in short slices, so
Jupyter's interrupt (a KeyboardInterrupt in the kernel thread) lands in the waiting
loop, not inside some task.  Then, at once, the cell prints one line saying the run
is stopping and which tasks it waits for, and ``core.interrupt.stop_tasks`` cancels
the run (every session stops at its next task boundary, branches not started never
start) and raises ``RunInterrupted`` inside the threads running its tasks, so a
Python loop stops within moments.  A task blocked in C that has not stopped after
``STOP_GRACE_SECONDS`` (or at a second interrupt) is abandoned: recorded
``abandoned``, its late result and its branch's writes discarded.  When the cell
returns, the summary line, the picture and ``run.status`` all say ``cancelled``.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.runtime.gate import Gate
from ..core.runtime.interrupt import stop_tasks
from ..core.runtime.interruptible import wait_set
from ..core.runtime.threadless import threads_available
from ..debug.merge_preview import short

if TYPE_CHECKING:
    from ..core.runtime.run import Run
    from ..core.workflow import WorkflowContext


class CancelGate(Gate):
    """Learns the run at its first task and cancels it on request."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self._cancel = False
        # Guards run and _cancel: the kernel thread cancels while the run thread starts.
        self._lock = threading.Lock()

    def before_task(self, ctx: Any, task: Any) -> None:
        if self.run is None:
            with self._lock:
                self.run = ctx.run
                if self._cancel:
                    ctx.run.cancel_event.set()

    def cancel(self) -> None:
        with self._lock:
            self._cancel = True
            if self.run is not None:
                self.run.cancel_event.set()


@dataclass
class RunOutcome:
    workflow: WorkflowContext
    run: Run | None
    result: Any = None
    error: BaseException | None = None
    interrupted: bool = False
    still_running: bool = False  # a task had not stopped when the cell gave up on it

    @property
    def status(self) -> str:
        return "starting" if self.run is None else self.run.status

    @property
    def paused(self) -> bool:
        return self.status == "paused"

    def summary(self) -> str:
        """One line about how the run ended (the error itself is raised separately)."""
        name = self.workflow.name
        run = self.run
        if run is None:
            return f"{name}: interrupted before the first task" if self.interrupted else f"{name}: did not start"
        tasks = [t for t in run.finished_runs() if not _is_group(run, t.task_id)]
        ran = [t.task_id for t in tasks if t.status == "succeeded"]
        if self.interrupted:
            stopped = [t.task_id for t in tasks if t.status in ("cancelled", "failed")]
            abandoned = [f"{t.task_id} ({t.session_id})" for t in tasks if t.status == "abandoned"]
            touched = {t.task_id for t in tasks}
            graph_tasks = [n for n, node in self.workflow.graph.nodes.items() if not node.is_group]
            not_run = [t for t in graph_tasks if t not in touched]
            line = f"{name}: interrupted; run {run.root_session_id} {run.status} after {_list(ran)}"
            if stopped:
                line += f"; stopped: {_list(stopped)}"
            if abandoned:
                line += f"; abandoned, still running: {_list(abandoned)}"
            if not_run:
                line += f"; not run: {_list(not_run)}"
            return line
        sessions = len(run.sessions)
        if self.paused:
            waiting = ", ".join(sorted({p.session_id for p in run.pending_inputs()}))
            return f"{name}: paused, waiting for input in {waiting}"
        if self.error is not None:
            failed = getattr(self.error, "task_id", None)
            where = "" if failed is None else f" in {failed} (session {getattr(self.error, 'session_id', '?')})"
            return f"{name}: {run.status} ({type(self.error).__name__}){where} after {_list(ran)}"
        return f"{name}: {run.status}, {len(ran)} tasks in {sessions} sessions, result {short(self.result)}"


def _is_group(run: Run, task_id: str) -> bool:
    root = run.sessions.get(run.root_session_id)
    ctx = root.context if root is not None else None
    try:
        return bool(ctx is not None and ctx.lookup(task_id).is_group)
    except KeyError:
        return False


def _list(items: list[str]) -> str:
    return ", ".join(items) if items else "no task"


def run_interruptibly(workflow: WorkflowContext, start: str | None = None, *, resume: Any = None, **options: Any) -> RunOutcome:
    """``workflow.execute(start, **options)`` on a worker thread (on this one where
    threads can't start: Pyodide), or with ``resume`` (a
    checkpoint) ``workflow.resume(resume, **options)``; Ctrl-C cancels it."""
    gate = CancelGate()
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            if resume is not None:
                box["result"] = workflow.resume(resume, gate=gate, **options)
            else:
                box["result"] = workflow.execute(start, gate=gate, **options)
        except BaseException as error:
            box["error"] = error
        finally:
            done.set()

    if not threads_available():
        # No thread to run on (Pyodide): the run takes this one; there is no Ctrl-C to
        # catch in a browser tab either.
        target()
        run = gate.run if gate.run is not None or resume is None else workflow.last_run
        return RunOutcome(workflow, run, box.get("result"), box.get("error"), False, False)
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), name=f"graflow-cell-{workflow.name}", daemon=True)
    interrupted = False
    try:
        thread.start()  # inside: a fast first task can interrupt before start() returns
        _wait(thread, done)
    except KeyboardInterrupt:
        interrupted = True
        gate.cancel()
        _stop(workflow, gate, thread, done)
    run = gate.run if gate.run is not None or resume is None else workflow.last_run
    still_running = not done.is_set()
    if interrupted and run is not None:
        # The engine calls a run cancelled from outside "cancelled", unless a branch
        # waiting for input makes it stop "paused" (or it ended before the cancel):
        # an interrupted run must not offer its questions.
        run.status = "cancelled"
        run.pending.clear()
        if run.ended is None:  # its thread is still stuck in a task: the run ended for us now
            run.ended = time.time()
    return RunOutcome(workflow, run, box.get("result"), box.get("error"), interrupted, still_running)


def _stop(workflow: WorkflowContext, gate: CancelGate, thread: threading.Thread, done: threading.Event) -> None:
    """The first interrupt: say at once what the run waits for, then stop its tasks."""
    run = gate.run
    if run is None:
        print(f"{workflow.name}: stopping before the first task", flush=True)
        try:
            _wait(thread, done)
        except KeyboardInterrupt:
            pass
        return
    running = run.task_threads.running()
    waiting = ", ".join(e.describe() for e in running) if running else "the run to end"
    print(f"{workflow.name}: stopping run {run.root_session_id}; waiting for {waiting}", flush=True)
    stop_tasks(run, done.is_set)
    if done.is_set():
        thread.join()


def _wait(thread: threading.Thread, done: threading.Event) -> None:
    """Wait on ``done`` in slices (``wait_set``), so that Ctrl-C lands here rather than
    in ``Thread.join``: on Python 3.11 a join interrupted by Ctrl-C marks the
    still-running thread as stopped, and the next join returns at once, before the run
    has stopped."""
    wait_set(done.wait, None)
    thread.join()  # the run has returned: only the thread's own exit is left
