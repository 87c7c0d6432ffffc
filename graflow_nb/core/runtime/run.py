"""The record of one run, shared by every session of its tree.

State, as dask/local.py would list it:

    sessions:  {session_id: SessionRecord}  every session ever opened, in fork order;
                                            records outlive their contexts
    skipped:   [(task_id, session_id, why)] tasks that were queued but never ran
                                            (their session failed, was cancelled or
                                            terminated)
    task_runs: [TaskRun]                    one per attempt of a task, in start order
    steps:     int                          tasks dequeued so far, across all sessions
                                            (the shared max_steps budget)
    status:    running | paused | held | succeeded | failed | cancelled
               (held: a step debugger without threads holds sessions; core.runtime.gate)
    stop_error: the first error that ends the whole run (a BaseException such as
                SystemExit or KeyboardInterrupt, or a workflow cancel), from any
                session; every session stops at its next task boundary
    observer_errors: [ObserverError]        observers and hooks that raised (each once;
                                            they were muted and the run went on)
    groups:    [GroupOutcome]               how each group run ended (degraded: some
                                            members failed and the policy allowed it)
    pending:   {key: PendingInput}          questions a paused run waits on

A session moves   open -> merged     (its group succeeded; its changes reached the parent)
                  open -> failed     (a task in it failed)
                  open -> cancelled  (a sibling failed first, or the run was cancelled)
                  open -> closed     (the root session, when the run ends)
                  open -> paused -> open      (waiting for human input, then resumed)
                  open -> discarded  (its group failed, so its changes were dropped)
                  open -> abandoned  (its group timed out while it ran; it stops at its
                                      next task boundary and keeps this state)

>>> from graflow_nb import task, workflow
>>> with workflow("doc") as wf:
...     @task
...     def fetch(): return 1
...     @task
...     def a(fetch): return fetch + 1
...     @task
...     def b(fetch): return fetch + 2
...     @task
...     def store(): return "ok"
...     _ = fetch >> (a | b) >> store
...     _ = wf.execute("fetch", session_id="S")
>>> print(wf.last_run.session_tree())
S  closed  enqueued 2 dequeued 2  ran fetch, ParallelGroup_1, store
├── S_a  merged  enqueued 1 dequeued 1  ran a
└── S_b  merged  enqueued 1 dequeued 1  ran b
>>> wf.last_run.execution_sequence()
['fetch', 'a', 'b', 'store']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import hooks
from ..errors import ConfigError, GraflowWorkflowCanceledError, SessionHeld, stop_status
from ..events import EventBus, EventKind
from ..user_frames import for_caller
from .interrupt import TaskThreads
from .journal import JournalKey, TaskJournal
from .loop import LentLoop, RunLoop
from .threadless import threads_available

if TYPE_CHECKING:
    from .queue import InMemoryTaskQueue



@dataclass(slots=True, eq=False)
class SessionRecord:
    """What a person wants to know about one session, live or long closed."""

    session_id: str
    parent_id: str | None
    depth: int
    group_id: str | None
    member_id: str | None
    order_key: tuple[Any, ...]
    queue: InMemoryTaskQueue
    context: Any = None  # the live Session (core.session, which imports this module)
    state: str = "open"
    started: float = field(default_factory=time.time)
    ended: float | None = None
    tasks_run: list[str] = field(default_factory=list)
    worker: str | None = None  # the Dask worker's address, for a session that ran on one

    @property
    def enqueued(self) -> int:
        return self.queue.enqueued

    @property
    def dequeued(self) -> int:
        return self.queue.dequeued

    @property
    def queued(self) -> list[str]:
        return self.queue.snapshot()


@dataclass(slots=True, eq=False)
class TaskRun:
    """One attempt of one task in one session."""

    task_id: str
    session_id: str
    attempt: int
    order_key: tuple[Any, ...]
    start: float
    thread: str
    status: str = "running"
    end: float | None = None
    error: BaseException | None = None
    result: Any = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def last_attempt(task_runs: list[TaskRun], session_id: str, task_id: str) -> TaskRun | None:
    """The newest attempt of ``task_id`` in ``session_id``: what a resume asks of a
    session's last task (did it finish, and with what)."""
    for attempt in reversed(task_runs):
        if attempt.session_id == session_id and attempt.task_id == task_id:
            return attempt
    return None


@dataclass(slots=True)
class GroupOutcome:
    """How one run of one group ended: succeeded, degraded (some members failed but the
    policy let the group succeed), failed, or cancelled (an interrupt or a workflow
    cancel stopped it); ``failures`` is ``[{task_id, session_id, error}]`` in
    declaration order."""

    group_id: str
    session_id: str
    state: str
    failures: list[dict[str, Any]]
    cancelled: list[str]


@dataclass(slots=True)
class PendingInput:
    """A question a paused task is waiting on; answer it with ``run.resume``."""

    key: str
    session_id: str
    task_id: str
    kind: str
    prompt: str
    options: list[str] | None = None
    metadata: dict[str, Any] | None = None
    timed_out: bool = False  # asked with a timeout that ran out (graflow's FeedbackTimeoutError)


def check_answer(question: PendingInput, value: Any) -> None:
    """Refuse an answer that can't be right for the question, naming what would be."""
    if question.kind == "selection" and question.options and value not in question.options:
        raise ValueError(f"{question.key}: {value!r} is not one of the options {question.options}")
    if question.kind == "multi_selection" and question.options:
        wrong = [v for v in value if v not in question.options]
        if wrong:
            raise ValueError(f"{question.key}: {wrong} are not among the options {question.options}")


class PausedRun:
    """What ``execute`` returns when sessions wait for human input."""

    status = "paused"

    def __init__(self, run: Run):
        self.run = run

    @property
    def pending(self) -> list[PendingInput]:
        return self.run.pending_inputs()

    def resume(self, answers: Any = None, value: Any = None) -> Any:
        return self.run.resume(answers, value)

    def __repr__(self) -> str:
        waiting = "; ".join(f"{p.session_id}: {p.prompt!r} ({p.kind})" for p in self.pending)
        return f"<PausedRun {self.run.root_session_id!r} waiting for {waiting}>"

    def _ipython_display_(self) -> None:
        """At the end of a notebook cell: the form that answers the waiting questions
        (the same ``HumanInputPanel`` as ``%%graflow``), else this repr."""
        if hooks.PAUSED_FORM is None:
            print(repr(self))
        else:
            hooks.PAUSED_FORM(self)


class Run:
    """The record of one run (``wf.last_run``): its status, sessions, task attempts and
    groups, kept after it ends so a failed run stays inspectable."""

    # The loop of its async tasks (core.runtime.loop), made as the first one starts, and
    # the caller's loop when ``aexecute`` started the run.
    loop: RunLoop | None = None
    lent_loop: LentLoop | None = None

    # The run's re-run cache (core.cache.run_cache.RunCache), handed in by the front
    # door for ``execute(cache=...)``; None: every task is called.  Never pickled
    # with the run: a Dask branch gets its share as data (core.cache.shipped).
    cache: Any = None
    # What ``execute(cache=...)`` named, as plain data a checkpoint keeps so a resumed
    # run replays from the same store: True (this process's store for the workflow's
    # name), a folder's absolute path, or None (no cache, or a store object handed in).
    cache_origin: Any = None
    # A run restored from a checkpoint: what its cache decided before it was saved (by
    # order key), handed to the resumed run's cache so renders and frames still say so.
    cache_decisions: dict[tuple[Any, ...], Any] = {}  # noqa: RUF012  # never mutated: replaced
    # Whether task contexts write down their channel changes and control calls in
    # ``journal`` (core.runtime.journal), for ``wf.rerun(from_=...)``: yes, unless the
    # run has a cache, which records its own way.
    journaling = True

    def __init__(self, root_session_id: str, max_steps: int, max_workers: int, bus: EventBus, workflow_name: str = ""):
        self.root_session_id = root_session_id
        self.workflow_name = workflow_name
        self.max_steps = max_steps
        self.max_workers = max_workers
        self.bus = bus
        self.observer_errors = bus.errors
        bus.on_stop = self.stop_with
        bus.label = root_session_id
        self.stop_error: BaseException | None = None
        self.sessions: dict[str, SessionRecord] = {}
        self._children: dict[str, list[SessionRecord]] = {}
        self.task_runs: list[TaskRun] = []
        self.dynamic_tasks: list[tuple[str, str, str | None]] = []  # (task_id, session, spawned_by)
        self.skipped: list[tuple[str, str, str]] = []  # (task_id, session, why): queued, never run
        self.journal: dict[JournalKey, TaskJournal] = {}  # attempts that changed the channel or called controls
        self.steps = 0
        self.status = "running"
        self.error: BaseException | None = None
        self.result: Any = None
        self.started = time.time()
        self.announced = False  # run_started was emitted (core.engine)
        self.ended: float | None = None
        self.cancel_event = threading.Event()
        self._fork_counts: dict[str, int] = {}
        # Guards steps, sessions and _fork_counts: branch threads fork and count steps.
        self._lock = threading.Lock()
        self.pool: Any = None
        self.gate: Any = None  # a core.gate.Gate that may hold sessions (the step debugger)
        self.default_policy: Any = "strict"
        self.ready_parallel = False  # sessions schedule ready tasks at once (core.ready)
        self.abandoned_any = False  # a group timed out, or an interrupt, left tasks running
        self.task_threads = TaskThreads()  # which threads execute this run's tasks now
        self.settled = False  # an interrupt gave up on stuck tasks: session states are final
        self.max_concurrency: int | None = None
        # A Dask client for groups that chose no backend (execute(executor=...)).
        self.executor: Any = None
        # Set when this run is a branch re-created on a Dask worker: that worker's address.
        self.remote_worker: str | None = None
        self.task_slots: threading.BoundedSemaphore | None = None
        self.groups: list[GroupOutcome] = []
        self.pending: dict[str, PendingInput] = {}  # key -> question, while paused
        self.answers: dict[str, Any] = {}  # key -> answer given with resume()
        self.responses: dict[str, Any] = {}  # key -> the whole FeedbackResponse an answer came in
        self.feedback_manager: Any = None  # one handed in (ctx.feedback_manager = m), graflow's way
        self.handlers: dict[str, Any] = {}  # name -> TaskHandler (WorkflowEngine.register_handler)
        self.root_context: Any = None  # the root Session (core.session imports this module)
        # Collaborators handed in by whoever starts the run (the front door, a restore,
        # or the engine that first drives it): ``driver.execute(root_context)`` runs the
        # root session on (resume), ``checkpointer`` saves the run (save, ctx.checkpoint).
        self.driver: Any = None
        self.checkpointer: Any = None
        # core.snapshot.ResumeMark per resume from a checkpoint: where history splits.
        self.resumes: list[Any] = []
        self.checkpoint_dir: Any = None  # execute(checkpoint_dir=...): saved here on pause/failure/cancel
        self.checkpoints: list[str] = []  # paths of the checkpoints written of this run
        self.checkpoint_errors: list[Exception] = []  # deferred ctx.checkpoint() saves that failed, the run untouched
        self.event_logs: dict[Any, Any] = {}  # observe.record's logs of it: on the run, so they go with it
        # Wakes tasks waiting (with a default) for run.answer(); shares the run's lock.
        self._answered = threading.Condition(self._lock)

    # -- budget ------------------------------------------------------------------------
    def take_step(self) -> bool:
        """Count one more task run against ``max_steps``; False once it is spent.  Every
        task of every session takes one: acquire/release, half the cost of ``with``."""
        lock = self._lock
        lock.acquire()
        try:
            if self.steps >= self.max_steps:
                return False
            self.steps += 1
            return True
        finally:
            lock.release()

    def give_back_step(self) -> None:
        """A task that took a step parked on its async attempt: it takes it again when
        it runs on, so each task run counts once."""
        with self._lock:
            self.steps -= 1

    # -- stopping ----------------------------------------------------------------------
    def outcome_of(self, error: BaseException) -> tuple[BaseException, str]:
        """The error and status that a run (or one of its sessions) stopped by ``error``
        ends with.  What ended the run wins over what it caused on the way up (a
        sibling's cancellation, a group's error about it), whichever thread got there
        first; else a run stopped from outside (``cancel_event`` alone) is cancelled;
        else ``error`` decides (``errors.stop_status``)."""
        stop = self.stop_error
        if stop is not None:
            return stop, stop_status(stop)
        return error, "cancelled" if self.cancel_event.is_set() else stop_status(error)

    def stop_with(self, error: BaseException) -> None:
        """``error`` ends the whole run (see ``errors.ends_run``): keep the first one,
        and stop every session at its next task boundary (nothing new starts)."""
        with self._lock:
            if self.stop_error is None:
                self.stop_error = error
            self.cancel_event.set()
            self._answered.notify_all()  # tasks waiting for an answer stop waiting

    def cancel(self, message: str = "the run was cancelled") -> None:
        """Stop the run from outside, from any thread, as a task's ``cancel_workflow``
        does: nothing new starts, every session stops at its next task boundary, tasks
        waiting for an answer stop waiting, every async task gets ``CancelledError`` at
        its next ``await`` (its ``finally`` runs; it ends ``cancelled``), and the run ends
        ``cancelled`` with a ``GraflowWorkflowCanceledError`` saying ``message``
        (``RunHandle.cancel``).  Sync tasks already running finish first (poll
        ``ctx.cancelled`` in long loops).  A paused run's questions are withdrawn: nothing
        will resume it to ask them.  A run that has ended already is left as it ended."""
        if self.status in ("succeeded", "failed", "cancelled"):
            return
        self.stop_with(GraflowWorkflowCanceledError(message))
        if self.status == "paused":
            with self._lock:
                self.pending.clear()
        loop = self.loop
        if loop is not None:
            loop.cancel_all()

    def event_loop(self) -> RunLoop:
        """The loop this run's async tasks run on: the one ``aexecute`` lent, else a
        loop of the run's own on a daemon thread, made now if none is yet."""
        loop = self.loop
        if loop is not None:
            return loop
        with self._lock:
            if self.loop is None:
                lent = self.lent_loop
                if lent is not None:
                    self.loop = RunLoop.lend(lent.loop, lent.thread_id)
                else:
                    self.loop = RunLoop.own(f"graflow-{self.root_session_id}-loop")
                if self.cancel_event.is_set():
                    self.loop.cancel_all()
            return self.loop

    def close_loop(self) -> None:
        """The run ended or paused: let go of its loop (a loop of its own stops)."""
        loop, self.loop = self.loop, None
        if loop is not None:
            loop.close()

    @property
    def threads(self) -> bool:
        """Whether this run may start threads: not where none can start (Pyodide), nor
        under a gate that holds sessions by unwinding them (``core.runtime.gate``)."""
        gate = self.gate
        return threads_available() and (gate is None or gate.threads)

    def call_gate(self, hook: str, *args: Any) -> None:
        """Call the gate's ``hook`` (see ``call_hook``); a ``SessionHeld`` it raises is
        how it holds a session without a thread, and goes up to the engine."""
        gate = self.gate
        if self.bus.reported(gate):
            return
        try:
            getattr(gate, hook)(*args)
        except SessionHeld:
            raise
        except BaseException as error:
            self.bus.report(gate, hook, error)

    def call_hook(self, owner: Any, hook: str, *args: Any, **kwargs: Any) -> None:
        """Call ``owner.<hook>`` (a gate, a tracer); one that raised once is reported and
        skipped from then on, so a broken hook never blames a task or stops a run."""
        if owner is not None and not self.bus.reported(owner):
            self.bus.call(owner, hook, *args, **kwargs)

    # -- sessions ----------------------------------------------------------------------
    def branch_session_id(self, parent_id: str, member_id: str) -> str:
        """``f"{parent}_{member}"``; the n-th run of that branch (a group in a loop)
        gets ``f"{parent}_{member}#{n}"`` from n = 2 on, so ids never repeat in a run."""
        return self.branch_session_ids(parent_id, [member_id])[0]

    def branch_session_ids(self, parent_id: str, member_ids: list[str]) -> list[str]:
        """``branch_session_id`` of each member of one fork, under one lock."""
        ids = []
        with self._lock:
            counts = self._fork_counts
            for member_id in member_ids:
                base = f"{parent_id}_{member_id}"
                count = counts.get(base, 0) + 1
                counts[base] = count
                ids.append(base if count == 1 else f"{base}#{count}")
        return ids

    def fork_counts(self) -> dict[str, int]:
        """How often each ``parent_member`` base id has forked (what makes ``#2`` ids)."""
        with self._lock:
            return dict(self._fork_counts)

    def adopt_fork_counts(self, counts: dict[str, int]) -> None:
        """Raise the fork counts to ``counts`` where those are higher: a restored run's,
        or what a branch run elsewhere (a Dask worker) forked."""
        with self._lock:
            mine = self._fork_counts
            for base, count in counts.items():
                if count > mine.get(base, 0):
                    mine[base] = count

    def add_steps(self, steps: int) -> None:
        """Count ``steps`` task runs made elsewhere (a branch on a Dask worker)."""
        with self._lock:
            self.steps += steps

    def add_session(self, record: SessionRecord) -> None:
        self.add_sessions([record])

    def add_sessions(self, records: list[SessionRecord]) -> None:
        """Open ``records`` (children of one parent, or a root), under one lock."""
        if not records:
            return
        with self._lock:
            sessions = self.sessions
            for record in records:
                sessions[record.session_id] = record
            parent_id = records[0].parent_id
            if parent_id is not None:
                self._children.setdefault(parent_id, []).extend(records)

    def close_session(self, session_id: str, state: str) -> None:
        """End ``session_id`` in ``state``.  A session given up on (``abandoned``), and
        any closed session of a run that gave up on stuck tasks (``settled``), keeps
        its state: the threads that reach their end later change nothing."""
        self.close_record(self.sessions[session_id], state)

    def close_record(self, record: SessionRecord, state: str) -> None:
        """``close_session`` of the session ``record`` is the record of."""
        if record.state == "abandoned" or (self.settled and record.state not in ("open", "paused")):
            return
        record.state = state
        record.ended = time.time()
        if self.bus.active:
            self.bus.emit(
                EventKind.SESSION_CLOSED,
                record.session_id,
                None,
                state=state,
                parent=record.parent_id,
                enqueued=record.enqueued,
                dequeued=record.dequeued,
            )

    def set_concurrency(self, limit: int | None) -> None:
        """At most ``limit`` tasks of this run execute at once, whichever group or session
        they are in (a thread waiting at a group barrier holds no slot)."""
        if limit is not None and limit < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {limit}")
        self.max_concurrency = limit
        self.task_slots = None if limit is None else threading.BoundedSemaphore(limit)

    def record_group(self, group_id: str, session_id: str, state: str, outcomes: Iterable[Any]) -> None:
        """How one group run ended; ``outcomes``: the members' ``TaskResult`` in
        declared order (those that succeeded may be left out: only failures and
        cancels are kept)."""
        outcomes = list(outcomes)
        failures = [
            {"task_id": r.task_id, "session_id": r.session_id, "error": r.error}
            for r in outcomes
            if r.status == "failed"
        ]
        cancelled = [r.task_id for r in outcomes if r.status == "cancelled"]
        with self._lock:
            self.groups.append(GroupOutcome(group_id, session_id, state, failures, cancelled))

    def handler_for(self, task: Any) -> Any:
        """The registered handler ``task`` asks for (None for graflow's default "direct"),
        or graflow's ``ValueError`` naming the handler, then the task and how to fix it."""
        name = task.handler_type
        handler = self.handlers.get(name)
        if handler is None and name != "direct":
            known = ", ".join(["direct", *sorted(n for n in self.handlers if n != "direct")])
            raise ValueError(
                f"Unknown handler type: {name}. Supported: {known}. (task {task.task_id!r} asks for it; call "
                f"WorkflowEngine().register_handler({name!r}, handler) and run with that engine; graflow_nb "
                f"offers no Docker handler)"
            )
        return handler

    # -- human input -------------------------------------------------------------------
    def pending_inputs(self) -> list[PendingInput]:
        """Every question the paused run waits on, in session order."""
        return sorted(self.pending.values(), key=lambda p: (self.sessions[p.session_id].order_key, p.key))

    def ask(self, question: PendingInput) -> None:
        with self._lock:
            self.pending[question.key] = question

    def reask_within(self, session_id: str, questions: Iterable[PendingInput]) -> None:
        """The questions open under ``session_id`` (it and its descendants) are now
        ``questions``: what a branch run elsewhere still asks replaces what it asked."""
        questions = list(questions)
        asked = {question.key for question in questions}
        with self._lock:
            for key in [k for k, q in self.pending.items() if k not in asked and self.is_within(q.session_id, session_id)]:
                del self.pending[key]
            for question in questions:
                self.pending[question.key] = question

    def answer(self, target: str, value: Any) -> None:
        """Give the answer to one waiting question (by session id or input key).

        A task waiting with a default picks it up at once; a paused run needs
        ``resume()`` (or pass the answers to ``resume`` directly)."""
        with self._lock:
            key = target if target in self.pending else next(
                (k for k, p in self.pending.items() if p.session_id == target), None
            )
            if key is None:
                waiting = ", ".join(sorted({p.session_id for p in self.pending.values()})) or "nothing"
                raise KeyError(f"no question is waiting in {target!r}; waiting: {waiting}")
            check_answer(self.pending[key], value)
            self.answers[key] = value
            self._answered.notify_all()

    def wait_for_answer(self, key: str, timeout: float, default: Any) -> Any:
        with self._lock:
            self._answered.wait_for(lambda: key in self.answers or self.cancel_event.is_set(), timeout)
            return self.answers.get(key, default)

    def withdraw_question(self, key: str) -> None:
        """Forget one question (the task that asked it went on without an answer)."""
        with self._lock:
            self.pending.pop(key, None)

    def withdraw_questions(self, session_id: str) -> None:
        """Forget questions asked in ``session_id`` or below (their group failed)."""
        with self._lock:
            for key in [k for k, p in self.pending.items() if self.is_within(p.session_id, session_id)]:
                del self.pending[key]

    def answered_sessions(self) -> list[str]:
        return [p.session_id for key, p in self.pending.items() if key in self.answers]

    def is_within(self, session_id: str, ancestor_id: str) -> bool:
        """True if ``session_id`` is ``ancestor_id`` or one of its descendants."""
        record = self.sessions.get(session_id)
        while record is not None:
            if record.session_id == ancestor_id:
                return True
            record = self.sessions.get(record.parent_id) if record.parent_id else None
        return False

    def give_answers(self, answers: Any = None, value: Any = None) -> None:
        """Answer a paused run's questions (``resume``'s first half): ``answers`` maps a
        session id (or an input key) to its answer; ``give_answers(sid, value)`` answers one."""
        if self.status != "paused":
            raise RuntimeError(f"run {self.root_session_id!r} is {self.status}, not paused; nothing to resume")
        if answers is not None and not isinstance(answers, dict):
            answers = {answers: value}
        for target, answer in (answers or {}).items():
            self.answer(target, answer)

    def resume(self, answers: Any = None, value: Any = None) -> Any:
        """Answer waiting questions and continue from where the run stopped.

        ``answers`` maps a session id (or an input key) to its answer; ``resume(sid,
        value)`` answers one.  Sessions without an answer stay paused: the run pauses
        again, listing only them.  Nothing that already finished runs again.
        """
        self.give_answers(answers, value)
        assert self.root_context is not None  # set when the run started; a paused run has one
        try:
            return self.root_context.execute()
        except BaseException as error:
            __tracebackhide__ = True
            raise for_caller(error)

    # -- checkpoints -------------------------------------------------------------------
    def save(self, path: Any = None, metadata: dict[str, Any] | None = None) -> str:
        """Write this run's checkpoint (``x.pkl``, ``x.state.json``, ``x.meta.json``) to
        ``path`` (a ``.pkl`` file, a base name ``dir/x`` for ``dir/x.pkl``, or a
        directory; default: its ``checkpoint_dir``) and
        return the ``.pkl`` path.  Resume it in any process with ``wf.resume(path)``."""
        path, _meta = self.saver().save_run(self, path, metadata)
        self.checkpoints.append(path)
        return str(path)

    def saver(self) -> Any:
        """The checkpoint saver this run was handed (``core.checkpoint``; a workflow's
        graph hands it to every run of it), or a ``ConfigError`` for a run without one."""
        if self.checkpointer is None:
            raise ConfigError(
                f"run {self.root_session_id!r} has no checkpoint saver: its graph belongs to no workflow "
                f"(a bare TaskGraph); build the graph inside `with workflow(...)` (a run of a workflow's "
                f"graph can save however it was started), or use CheckpointManager.create_checkpoint(ctx)"
            )
        return self.checkpointer

    def resumed_at(self) -> Any:
        """The last resume from a checkpoint (``core.snapshot.ResumeMark``), or None."""
        return self.resumes[-1] if self.resumes else None

    def runs_after_checkpoint(self) -> list[TaskRun]:
        """Task attempts since this run was last restored from a checkpoint ([] if never)."""
        mark = self.resumed_at()
        return [] if mark is None else self.task_runs[mark.task_runs:]

    def session_after_checkpoint(self, record: SessionRecord) -> bool:
        """True if ``record``'s session ran tasks (or opened) after the last resume."""
        mark = self.resumed_at()
        if mark is None:
            return False
        return len(record.tasks_run) > mark.tasks_run.get(record.session_id, 0)

    # -- views -------------------------------------------------------------------------
    def children(self, session_id: str) -> list[SessionRecord]:
        """Direct child sessions in declaration order."""
        return sorted(self._children.get(session_id, ()), key=lambda s: s.order_key)

    @property
    def frames(self) -> Any:
        """pandas frames of this run: ``.sessions()``, ``.tasks()``, ``.events()``
        (the notebook layer provides them; pandas loads on first use)."""
        return hooks.RUN_FRAMES(self)

    def session_tree(self) -> str:
        """The session hierarchy as text, each line with its state and queue counts."""
        lines: list[str] = []

        mark = self.resumed_at()

        def line(rec: SessionRecord) -> str:
            ran = ", ".join(rec.tasks_run) or "-"
            if mark is not None:
                before = mark.tasks_run.get(rec.session_id, 0)
                if before < len(rec.tasks_run):
                    done = ", ".join(rec.tasks_run[:before]) or "-"
                    ran = f"{done} | after resume: {', '.join(rec.tasks_run[before:])}"
            queued = f"  queued {', '.join(rec.queued)}" if rec.queued else ""
            worker = f"  on {rec.worker}" if rec.worker else ""
            return f"{rec.session_id}  {rec.state}  enqueued {rec.enqueued} dequeued {rec.dequeued}  ran {ran}{queued}{worker}"

        def walk(rec: SessionRecord, prefix: str) -> None:
            kids = self.children(rec.session_id)
            for i, kid in enumerate(kids):
                last = i == len(kids) - 1
                lines.append(prefix + ("└── " if last else "├── ") + line(kid))
                walk(kid, prefix + ("    " if last else "│   "))

        root = self.sessions.get(self.root_session_id)
        if mark is not None:
            lines.append(f"resumed from checkpoint {mark.source} after {mark.task_runs} task attempts")
        if root is not None:
            lines.append(line(root))
            walk(root, "")
        return "\n".join(lines)

    def task_counts(self) -> dict[str, int]:
        """How many times each task *succeeded or failed for good*, i.e. ran to an end."""
        counts: dict[str, int] = {}
        for tr in self.finished_runs():
            counts[tr.task_id] = counts.get(tr.task_id, 0) + 1
        return counts

    def finished_runs(self) -> list[TaskRun]:
        """The last attempt of each task execution, in canonical order."""
        last: dict[tuple[Any, ...], TaskRun] = {}
        for tr in self.task_runs:
            last[tr.order_key] = tr
        return [last[k] for k in sorted(last)]

    def execution_sequence(self, include_groups: bool = False) -> list[str]:
        """Tasks that succeeded, in canonical order: topological, then declaration order.

        The same graph gives the same sequence however the threads interleave; real
        start times stay in ``task_runs``.
        """
        seq = []
        for tr in self.finished_runs():
            if tr.status != "succeeded":
                continue
            if not include_groups and getattr(self._node_of(tr), "is_group", False):
                continue
            seq.append(tr.task_id)
        return seq

    def _node_of(self, tr: TaskRun) -> Any:
        rec = self.sessions.get(tr.session_id)
        ctx = rec.context if rec else None
        return ctx.lookup(tr.task_id) if ctx is not None else None

    def channel(self) -> dict[str, Any]:
        """The root session's channel as it is now (after the run: the final channel,
        every branch merged), as a dict of key -> value; no ``ret_context=True`` needed."""
        return {} if self.root_context is None else self.root_context.get_channel().to_dict()

    def results(self) -> dict[str, Any]:
        """Each task's latest successful result, from every session (merged or not)."""
        out: dict[str, Any] = {}
        for tr in self.finished_runs():
            if tr.status == "succeeded":
                out[tr.task_id] = tr.result
        return out

    def why(self, task_id: str) -> str:
        """Why ``task_id`` was replayed or ran in this run with a cache: "cached from
        run <id>", or what changed ("code of t changed (helper `clean`)", "input `region`
        changed", "upstream `fetch` re-ran and its result differs"), or why it can't be
        cached."""
        if self.cache is None:
            return f"run {self.root_session_id!r} ran without a cache: execute(..., cache=True) keeps and replays tasks"
        return str(self.cache.why(task_id))

    def summary(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow_name,
            "status": self.status,
            "sessions": len(self.sessions),
            "steps": self.steps,
            "task_counts": self.task_counts(),
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_answered", "cancel_event", "loop", "lent_loop", "pool", "gate", "task_slots", "task_threads",
                     "executor", "driver", "event_logs", "feedback_manager", "cache", "journal"):
            state.pop(name, None)
        state["bus"] = EventBus()
        state["observer_errors"] = []  # they hold live callbacks of this process, as the bus does
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.journal = {}  # what its tasks did in another process stays there: they are called again
        self.bus.errors = self.observer_errors
        self.bus.on_stop = self.stop_with
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self.cancel_event = threading.Event()
        self.task_threads = TaskThreads()
        self.loop = None
        self.lent_loop = None
        self.pool = None
        self.gate = None
        self.executor = None
        self.driver = None
        self.feedback_manager = None
        self.event_logs = {}
        self.set_concurrency(self.max_concurrency)

    def __repr__(self) -> str:
        return f"<Run {self.root_session_id!r} {self.status} sessions={len(self.sessions)} steps={self.steps}>"
