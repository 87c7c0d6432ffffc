"""``Debugger``: step a run one task at a time, in any session, in any interleaving.

    dbg = wf.debug("fetch", session_id="4821")   # the run starts, held before fetch
    print(dbg.state())                             # every live session, where, its queue
    dbg.step()                                     # the first held session runs one task
    dbg.step("4821_transform_b")                   # only that branch; the others stay held
    dbg.pending_merge()                            # at a fan-in: what the merge will do
    dbg.continue_("4821_transform_a")              # that branch runs on freely
    dbg.break_before("store"); dbg.continue_()     # everything runs until a breakpoint
    dbg.run_to_end()                               # release all; the result (or the error)
    dbg.restart()                                  # cancel this run, start it again

The run executes on a daemon thread; every session calls the ``DebugGate`` on its own
thread and is held there (see ``gate``).  Each call here releases something and then
waits, bounded by ``timeout``, until the run is at rest again, so what ``state()``
shows afterwards is exact, not a race.  A step is one gate-to-gate move: the task the
session was held before (a group node forks its branches; a held merge merges).

Under the debugger every held session keeps a thread, so a run needs at least as many
workers (``max_workers``) as sessions held at once; the default (256) is plenty.

Without threads (Pyodide, or ``threads=False`` on any machine) the same API steps the
run on the calling thread (``unwinding``): a held session unwinds as one paused for
input does, and each move drives the run on until it is at rest again.  Groups then run
their members one after another (the sequential executor).
"""

from __future__ import annotations

import html
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..core.errors import PicklableError
from ..core.runtime.threadless import needs_threads, threads_available
from .breakpoints import Breakpoints
from .gate import DONE, HELD, WAITING, DebugGate, DebuggerTimeout, Stop
from .merge_preview import MergePreview, preview_merge
from .unwinding import UnwoundRun
from .views import Halt, SessionStates, Step, describe_position

if TYPE_CHECKING:
    from ..core.data.channel import Change
    from ..core.runtime.run import Run
    from ..core.workflow import WorkflowContext

DEFAULT_TIMEOUT = 10.0


class DebuggerFinished(PicklableError, RuntimeError):
    """The debugged run has ended; nothing is left to step."""


class _DebugRun:
    """One execution of the workflow on a daemon thread, under one gate."""

    def __init__(self, workflow: WorkflowContext, start: str | None, options: dict[str, Any], breakpoints: Breakpoints):
        self.gate = DebugGate(breakpoints)
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main,
            args=(workflow, start, options),
            name=f"graflow-debug-{workflow.name}",
            daemon=True,
        )

    def _main(self, workflow: WorkflowContext, start: str | None, options: dict[str, Any]) -> None:
        try:
            self.result = workflow.execute(start, gate=self.gate, **options)
        except BaseException as error:
            self.error = error
        finally:
            run = workflow.last_run
            if run is not None and run.gate is self.gate:
                # A run that paused for input may be resumed later, with this debugger
                # long finished: it must then run free, not wait on this gate forever.
                run.gate = None
            self.gate.mark_finished()

    def start(self) -> None:
        self._thread.start()

    def settle(self, timeout: float) -> None:
        self.gate.wait_quiescent(timeout)

    def join(self, timeout: float) -> bool:
        return self.gate.wait_finished(timeout)


def _abandon(gate: weakref.ref[DebugGate]) -> None:
    """Cancel without waiting: the debugger was dropped, its threads must not linger.

    Given the gate weakly: while the run goes, its own threads keep the gate alive; once
    it has ended there is nothing to cancel.  Held strongly, the gate (its run, the run's
    error, whose traceback holds the debugger's frames) would be kept by the finalizer
    registry, so a debugger whose run failed would never be freed."""
    live = gate()
    if live is not None and not live.finished:
        live.cancel()


class Debugger:
    """A run of ``workflow`` whose sessions are held before each task until told to go.

    ``halt_before`` / ``halt_after``: task ids where a freely running session stops
    (as Burr's ``iterate``); ``halt_at_merge``: group ids (or True for all) whose
    fan-in stops a free run.  ``timeout``: seconds any call waits for the run to come
    to rest.  ``threads``: False steps the run on the calling thread and starts no
    thread at all (members one after another; the only way where threads can't start,
    chosen there by default); True (the default elsewhere) runs it on threads of its
    own.  Other keywords go to ``workflow.execute`` (``session_id``, ``max_workers``,
    ``initial_channel``, ``observers``, ...).
    """

    def __init__(
        self,
        workflow: WorkflowContext,
        start_node: str | None = None,
        *,
        halt_before: Any = (),
        halt_after: Any = (),
        halt_at_merge: Any = (),
        timeout: float = DEFAULT_TIMEOUT,
        threads: bool | None = None,
        **execute_options: Any,
    ):
        for name in ("gate", "ret_context"):
            if name in execute_options:
                raise TypeError(f"Debugger() sets {name} itself; remove {name}= from the options")
        if threads is None:
            threads = threads_available()
        elif threads is not True and threads is not False:
            raise TypeError(f"wf.debug(threads=...) takes True, False or None, got {threads!r}")
        elif threads and not threads_available():
            raise needs_threads(
                f"wf.debug(threads=True) of workflow {workflow.name!r}",
                "leave threads= out (or pass threads=False): the debugger then steps the run on this thread",
            )
        if not threads:
            _refuse_without_threads(workflow, execute_options)
        self.threads = threads
        self.workflow = workflow
        self.start_node = start_node
        self.timeout = timeout
        self.execute_options = execute_options
        self.breakpoints = Breakpoints()
        self.break_before(*_ids(halt_before))
        self.break_after(*_ids(halt_after))
        if halt_at_merge is True:
            self.break_at_merge()
        elif halt_at_merge:
            self.break_at_merge(*_ids(halt_at_merge))
        self._runner: _DebugRun | UnwoundRun
        self._abandon: weakref.finalize | None = None
        self._start()

    # -- the run -----------------------------------------------------------------------
    def _start(self) -> None:
        if not self.threads:
            # Nothing to abandon: a dropped debugger leaves its run held, holding no thread.
            self._runner = UnwoundRun(self.workflow, self.start_node, self.execute_options, self.breakpoints)
            self._runner.start()
        else:
            runner = _DebugRun(self.workflow, self.start_node, self.execute_options, self.breakpoints)
            # One finalizer, for the current run only: one left registered for each run a
            # restart replaced would pile up for as long as this debugger lives.
            if self._abandon is not None:
                self._abandon.detach()
            self._abandon = weakref.finalize(self, _abandon, weakref.ref(runner.gate))
            self._runner = runner
            runner.start()
            self._settle()
        runner = self._runner
        if runner.gate.run is None and runner.error is not None:
            raise runner.error

    def _settle(self) -> None:
        self._runner.settle(self.timeout)

    @property
    def _gate(self) -> DebugGate:
        return self._runner.gate

    @property
    def run(self) -> Run | None:
        """The run record (sessions, task runs, status) of the current run."""
        return self._gate.run

    @property
    def finished(self) -> bool:
        return self._gate.finished

    @property
    def status(self) -> str:
        """The run's status; a run held without threads says "running", as with them."""
        run = self.run
        if run is None:
            return "starting"
        return "running" if run.status == "held" else run.status

    @property
    def result(self) -> Any:
        return self._runner.result

    @property
    def error(self) -> BaseException | None:
        return self._runner.error

    @property
    def history(self) -> list[tuple[str, str, BaseException | None]]:
        """``(session_id, task_id, error)`` for every task that ended, in order."""
        return [(h.session_id, h.task_id, h.error) for h in self._gate.history]

    # -- looking -----------------------------------------------------------------------
    def state(self) -> SessionStates:
        """Each live session: status (held, running, waiting, pending, done), where it
        stopped, the task it is about to run, and its queue."""
        gate = self._gate
        run = gate.run
        if run is None:
            return SessionStates()
        statuses = gate.statuses()
        stops = {s.session_id: s for s in gate.held()}
        entries = []
        for sid, status in statuses.items():
            rec = run.sessions[sid]
            if rec.state != "open":
                continue
            stop = stops.get(sid)
            activity = gate.running.get(sid)
            task = stop.task_id if stop is not None else (activity.task_id if activity is not None else None)
            ctx = rec.context
            entries.append(
                {
                    "session_id": sid,
                    "parent": rec.parent_id,
                    "depth": rec.depth,
                    "status": status,
                    "stop": stop.kind if stop is not None else None,
                    "task": task if status != DONE else None,
                    "next_task": stop.task_id if stop is not None and stop.kind == "before" else None,
                    "queue": gate.queued(rec),
                    "ran": list(rec.tasks_run),
                    "cancelled": bool(ctx is not None and ctx.cancelled),
                    "_order": rec.order_key,
                }
            )
        entries.sort(key=lambda e: (e.pop("_order"), e["session_id"]))
        return SessionStates(entries)

    def held(self) -> list[str]:
        """Held session ids in the order ``step()`` takes them."""
        return [s.session_id for s in self._gate.held()]

    def pending_merges(self) -> list[MergePreview]:
        """A preview of every fan-in held right now (see ``merge_preview``)."""
        return [preview_merge(s.context.lookup(s.task_id), s.context, s.branches) for s in self._merge_stops()]

    def pending_merge(self, session_id: str | None = None) -> MergePreview | None:
        """The first held fan-in (or the one in parent ``session_id``), or None."""
        for stop in self._merge_stops():
            if session_id is None or stop.session_id == session_id:
                return preview_merge(stop.context.lookup(stop.task_id), stop.context, stop.branches)
        return None

    def _merge_stops(self) -> list[Stop]:
        return [s for s in self._gate.held() if s.kind == "merge"]

    def channel(self, session_id: str) -> dict[str, Any]:
        """The session's channel as it sees it (a branch: its parent's plus its changes)."""
        return self._context(session_id).channel.to_dict()

    def changes(self, session_id: str) -> dict[str, Change]:
        """A branch's changes since its fork (empty for the root session)."""
        channel = self._context(session_id).channel
        return dict(channel.changes()) if hasattr(channel, "changes") else {}

    def _context(self, session_id: str) -> Any:
        run = self.run
        rec = run.sessions.get(session_id) if run is not None else None
        if rec is None or rec.context is None:
            known = ", ".join(run.sessions) if run is not None else "none yet"
            raise KeyError(f"no session {session_id!r} in this run (sessions: {known})")
        return rec.context

    # -- moving ------------------------------------------------------------------------
    def step(self, session_id: str | None = None) -> Step:
        """Advance one held session by one gate-to-gate move and wait until all is at
        rest.  Without an argument the first held session in session order goes."""
        self._settle()
        stop = self._pick(session_id)
        gate = self._gate
        mark = len(gate.history)
        before = {r.session_id for r in self.run.children(stop.session_id)}
        gate.release(stop.session_id)
        self._settle()
        return self._describe(stop, mark, before)

    def continue_(self, session_id: str | None = None) -> Halt:
        """Let every session (or one session and its branches) run freely until a
        breakpoint, a held merge the others reach, or the end of the run."""
        self._settle()
        self._require_running()
        gate = self._gate
        mark = len(gate.history)
        if session_id is None:
            gate.release_all(free=True)
        else:
            self._context(session_id)
            gate.free_session(session_id)
        self._settle()
        ran = tuple((h.session_id, h.task_id) for h in gate.history[mark:])
        return Halt(self._rest_reason(), tuple(self.held()), ran)

    def run_to_end(self) -> Any:
        """Release everything, ignore breakpoints, wait for the end; the run's result
        (or its error, raised again)."""
        runner = self._runner
        runner.gate.release_all(free=True, passthrough=True)
        if not runner.join(self.timeout):
            raise DebuggerTimeout(f"the run did not end within {self.timeout} s; state():\n{self.state()}")
        if runner.error is not None:
            raise runner.error
        return runner.result

    def restart(self) -> SessionStates:
        """Cancel the current run (its held sessions see the cancel and stop) and start
        it again with the same options and breakpoints; the new run's state."""
        self._cancel_current()
        self._start()
        return self.state()

    def close(self) -> None:
        """Cancel the run if it is still going and wait for its threads to stop."""
        self._cancel_current()

    def _cancel_current(self) -> None:
        runner = self._runner
        if runner.gate.finished:
            return
        runner.gate.cancel()
        if not runner.join(self.timeout):
            raise DebuggerTimeout(
                f"the cancelled run did not stop within {self.timeout} s: a task is still running "
                f"(threads cannot be killed; it stops at its next task boundary)"
            )
        run = runner.gate.run
        if run is not None:
            # The engine calls a run cancelled from outside "cancelled", unless a branch
            # waiting for input makes it stop "paused" (or it ended before the cancel).
            run.status = "cancelled"

    # -- breakpoints -------------------------------------------------------------------
    def break_before(self, *task_ids: str) -> None:
        self.breakpoints.before.update(self._known(task_ids))

    def break_after(self, *task_ids: str) -> None:
        self.breakpoints.after.update(self._known(task_ids))

    def break_at_merge(self, *group_ids: str) -> None:
        """Stop free runs at these groups' fan-in (no ids: at every fan-in)."""
        self.breakpoints.merge.update(self._known(group_ids) if group_ids else {"*"})

    def clear_breakpoints(self) -> None:
        self.breakpoints.clear()

    def set_breakpoints(self, before: Any = (), after: Any = (), merge: Any = ()) -> None:
        """Replace every breakpoint at once (what the widget's pickers do)."""
        before, after = self._known(_ids(before)), self._known(_ids(after))
        merge = {"*"} if merge is True else self._known(_ids(merge))
        self.breakpoints.before = set(before)
        self.breakpoints.after = set(after)
        self.breakpoints.merge = set(merge)

    @property
    def halt_before(self) -> frozenset[str]:
        return frozenset(self.breakpoints.before)

    @property
    def halt_after(self) -> frozenset[str]:
        return frozenset(self.breakpoints.after)

    @property
    def halt_at_merge(self) -> frozenset[str]:
        return frozenset(self.breakpoints.merge)

    def _known(self, task_ids: Any) -> set[str]:
        nodes = self.workflow.graph.nodes
        unknown = [t for t in task_ids if t not in nodes]
        if unknown:
            raise ValueError(f"no task {', '.join(map(repr, unknown))} in {self.workflow.name!r} (tasks: {', '.join(nodes)})")
        return set(task_ids)

    # -- helpers -----------------------------------------------------------------------
    def _require_running(self) -> None:
        if self.finished:
            raise DebuggerFinished(f"the run has finished ({self._end_text()}); call restart() to run it again")

    def _pick(self, session_id: str | None) -> Stop:
        self._require_running()
        held = self._gate.held()
        if session_id is None:
            if not held:
                raise RuntimeError(f"no session is held; state():\n{self.state()}")
            return held[0]
        for stop in held:
            if stop.session_id == session_id:
                return stop
        statuses = self._gate.statuses()
        if session_id not in statuses:
            raise KeyError(f"no session {session_id!r} in this run (sessions: {', '.join(statuses)})")
        names = ", ".join(s.session_id for s in held) or "none"
        raise ValueError(f"session {session_id!r} is {statuses[session_id]}, not held; held sessions: {names}")

    def _end_text(self) -> str:
        runner = self._runner
        if runner.error is not None:
            return f"{self.status}: {type(runner.error).__name__}: {runner.error}"
        return f"{self.status}, result {runner.result!r}"

    def _position(self, session_id: str) -> str:
        if self.finished:
            return f"the run ended ({self._end_text()})"
        for entry in self.state():
            if entry["session_id"] == session_id:
                if entry["status"] == WAITING:
                    kids = [r.session_id for r in self.run.children(session_id) if r.state == "open"]
                    return f"waiting for {', '.join(kids)}"
                if entry["status"] == HELD:
                    return f"held {describe_position(entry)}"
                return describe_position(entry) or entry["status"]
        return "finished"

    def _describe(self, stop: Stop, mark: int, children_before: set[str]) -> Step:
        sid = stop.session_id
        ended = [h for h in self._gate.history[mark:] if h.session_id == sid]
        kids = [r for r in self.run.children(sid) if r.session_id not in children_before]
        merged = ()
        if stop.kind == "merge":
            merged = tuple(ctx.session_id for _m, ctx, _o in stop.branches if ctx.record.state == "merged")
        return Step(
            session_id=sid,
            released=stop.where,
            ran=tuple(h.task_id for h in ended),
            failed=tuple(h.task_id for h in ended if h.error is not None),
            forked=tuple(r.session_id for r in kids),
            merged=merged,
            now=self._position(sid),
        )

    def _rest_reason(self) -> str:
        if self.finished:
            return f"the run ended ({self._end_text()})"
        parts = [f"{s.session_id} held {s.where}{' (breakpoint)' if s.breakpoint else ''}" for s in self._gate.held()]
        return "; ".join(parts) or "nothing is held"

    # -- display -----------------------------------------------------------------------
    def __enter__(self) -> Debugger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Debugger {self.workflow.name!r} {self.status}, held: {', '.join(self.held()) or 'none'}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) + "\n" + str(self.state()))

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(repr(self))}</p>", self.state()._repr_html_()]
        parts.extend(p._repr_html_() for p in self.pending_merges())
        return "".join(parts)


def _refuse_without_threads(workflow: WorkflowContext, options: dict[str, Any]) -> None:
    """What a debugged run can't do on the calling thread alone, refused before it starts."""
    name = workflow.name
    if options.get("ready_parallel"):
        raise needs_threads(
            f"the step debugger of workflow {name!r} with ready_parallel=True",
            "ready tasks run at once on the worker pool; debug it without ready_parallel",
        )
    if options.get("live"):
        raise needs_threads(
            f"the live view of the step debugger of workflow {name!r}",
            "it draws from a thread of its own while the run goes on; look with dbg.state(), "
            "or show DebuggerWidget(dbg)",
        )
    asynchronous = [node_id for node_id, node in workflow.graph.nodes.items() if getattr(node, "is_async", False)]
    if asynchronous:
        raise needs_threads(
            f"the step debugger of workflow {name!r} (async task{'s' if len(asynchronous) > 1 else ''} "
            f"{', '.join(map(repr, asynchronous))})",
            "a held run can't wait for a coroutine on this thread; debug it on threads, where they can start",
        )


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)

