"""``workflow(name)``: the front door, on top of core.

A ``WorkflowContext`` collects tasks into one graph (``with workflow("x")`` makes it the
scope new tasks go to, ``core.model.scope``) and starts runs: it builds the root
session, hands the run its collaborators (the engine that drives it, the checkpoint
saver) and drives it, so nothing below this module looks either of them up.  While a
task runs, the engine makes its session the scope, so ``parallel(...)`` or ``@task``
inside a branch lands in that branch (graflow finds no workflow there, makes a fresh
one, and recurses).
"""

from __future__ import annotations

import itertools
import pathlib
import threading
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from . import hooks
from .cache.journal_replay import JournalReplay
from .cache.run_cache import RunCache
from .cache.store import MemoryStore, memory_store
from .cache_files import DiskStore, disk_store
from .checkpoint import SAVER as checkpoints
from .checks import describe
from .context import ExecutionContext, TaskExecutionContext, direct_call_context
from .errors import ConfigError, GraflowRuntimeError
from .model import scope
from .model.graph import TaskGraph, require_single_start
from .model.scope import active_workflow
from .model.scope import running_session as running_session  # graflow_nb.notebook, observe read it here
from .runtime.engine import WorkflowEngine
from .runtime.handle import RunHandle
from .runtime.loop import run_lending_loop
from .runtime.loop_driven import drive
from .runtime.threadless import threads_available
from .user_frames import for_caller

if TYPE_CHECKING:
    from .events import Observer
    from .model.task import Executable

# Set by the notebook layer: ``factory(workflow, options) -> view`` where the view has
# ``start(run)``, ``observe(event)`` and ``finish(run)``.  The engine never imports it.
LIVE_VIEW_FACTORY: Any = None
# Set by graflow_nb/__init__: ``export(workflow, path) -> data`` (graflow_nb.pipeline) and
# ``debugger(workflow, start_node, **options)`` (graflow_nb.debug), layers above this one.
PIPELINE_EXPORT: Any = None
DEBUGGER: Any = None
KEPT_RUNS = 20


def current_workflow() -> WorkflowContext:
    """The active workflow, or a process-wide default one for wiring outside any block."""
    wf = active_workflow()
    return wf if wf is not None else scope.default()


def graflow_timeouts(on: bool = True) -> None:
    """Turn graflow's answer to a feedback timeout on (or off) for this process: the
    run's saver writes a checkpoint under ``./checkpoints/`` and ``execute`` returns
    None (``core.checkpoint.graflow_timeout_checkpoint``), in ``wf.execute`` and in a
    run started by hand alike.  ``alias_graflow()`` calls it."""
    checkpoints.graflow_timeouts = on


def current_workflow_context() -> WorkflowContext:
    """graflow's name for ``current_workflow()``: the active workflow, or the default one."""
    return current_workflow()


def get_current_workflow_context(create_if_not_exist: bool = False) -> WorkflowContext | None:
    """graflow's: the active workflow; else the default one if asked to create it, else None."""
    return current_workflow() if create_if_not_exist else active_workflow()


def require_workflow_context() -> WorkflowContext:
    """graflow's: the active workflow, or ``GraflowRuntimeError`` if there is none."""
    wf = active_workflow()
    if wf is None:
        raise GraflowRuntimeError("No current workflow context: use `with workflow(name):` around this code")
    return wf


def set_current_workflow_context(context: WorkflowContext) -> None:
    """graflow's: make ``context`` the active workflow in this thread's context."""
    scope.enter(context)


def clear_workflow_context() -> None:
    """graflow's: no active workflow from here on in this thread's context."""
    scope.enter(None)


class WorkflowContext:
    """A named graph plus how to run it; ``with workflow("x") as wf`` makes it current."""

    def __init__(self, name: str, tracer: Any = None, prompt_manager: Any = None):
        self.name = name
        self.tracer = tracer
        self.prompt_manager = prompt_manager
        self.graph = TaskGraph()
        self.graph.checkpointer = checkpoints  # so a run of it started by hand can save
        self.observers: list[Observer] = []
        # The most recent runs (each keeps its sessions, channels and task records).
        self.runs: deque[Any] = deque(maxlen=KEPT_RUNS)
        self._group_numbers = itertools.count(1)
        # Guards _group_numbers so groups built concurrently in branches get unique names.
        self._group_lock = threading.Lock()
        self._tokens: list[Any] = []
        self._started: RunHandle | None = None  # the last run start() returned a handle for
        self.llm_agents: dict[str, Any] = {}
        # How the last execute was called ({argument: value}): what ``rerun`` repeats,
        # handing the task to re-run from to that execute in _rerun_from.
        self._last_call: dict[str, Any] | None = None
        self._rerun_from: str | None = None
        self._rerun_without_cache: Any = None  # the run rerun() repeats, when it had no cache

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> WorkflowContext:
        self._tokens.append(scope.enter(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        scope.leave(self._tokens.pop())

    # -- the scope new tasks go to (core.model.scope), while no task of a run is running
    @property
    def workflow(self) -> WorkflowContext:
        return self

    running_session = None  # a workflow being wired runs no task

    def register(self, task: Executable) -> None:
        if self.graph.nodes.get(task.task_id) is not task:  # else it is here already
            self.graph.add_node(task)

    def adopt(self, task: Executable) -> None:
        """A task defined outside any ``with workflow(...)`` block joins the default
        workflow (this one), as in graflow (``current_workflow_context().execute()``
        then runs it).  A task defined again under an id this graph holds (a notebook
        cell run again) replaces the old one; while a run reads the graph, nothing is
        added to it."""
        graph = self.graph
        if graph.is_read_only:
            return
        existing = graph.nodes.get(task.task_id)
        if existing is not None and existing is not task:
            if existing.is_group:
                return
            graph.remove_node(task.task_id)
        self.register_new(task)

    def register_new(self, task: Executable) -> None:
        """``register`` for a task this graph does not hold (one made just now)."""
        self.graph.add_node(task)

    def link(self, left: Executable, right: Executable) -> None:
        self.graph.link(left, right)

    def successors_of(self, task_id: str) -> list[str]:
        return self.graph.successors(task_id)

    def remove_node(self, task_id: str) -> None:
        self.graph.remove_node(task_id)

    @staticmethod
    def direct_call_context(task_id: str) -> TaskExecutionContext:
        """A task called directly (outside a run) gets a context over a throwaway run."""
        return direct_call_context(task_id)

    def new_group_name(self) -> str:
        with self._group_lock:
            return f"ParallelGroup_{next(self._group_numbers)}"

    # graflow's explicit API
    def add_node(self, name: str, task: Executable) -> None:
        self.graph.add_node(task, name)

    def add_edge(self, from_id: str, to_id: str) -> None:
        self.graph.add_edge(from_id, to_id)

    def rename_node(self, old_id: str, new_id: str) -> None:
        if self.graph.has_node(old_id):
            self.graph.rename_node(old_id, new_id)

    def clear(self) -> None:
        self.graph.clear()

    def register_llm_agent(self, name: str, agent_or_factory: Any) -> None:
        self.llm_agents[name] = agent_or_factory

    # -- running -----------------------------------------------------------------------
    def execute(
        self, start_node: str | None = None, max_steps: int = 10000, ret_context: bool = False,
        initial_channel: dict[str, Any] | None = None, *, session_id: str | None = None,
        max_workers: int | None = None, observers: list[Observer] | None = None, default_max_retries: int = 0,
        default_max_cycles: int | None = None, gate: Any = None, live: Any = False, default_policy: Any = "strict",
        max_concurrency: int | None = None, ready_parallel: bool = False, executor: Any = None,
        checkpoint_dir: Any = None, cache: Any = False,
    ) -> Any:
        """Run from ``start_node`` (or the one node nothing leads to).

        Returns the result of the last task run in the root session, or
        ``(result, ExecutionContext)`` with ``ret_context=True``.  Keyword-only extras:
        ``session_id`` (deterministic ids for notebooks), ``max_workers`` (the run's
        thread cap, default 256), ``observers`` (event callbacks for this run),
        ``gate`` (a ``core.gate.Gate`` that may hold sessions), ``live`` (True, or
        options for the live view, which the notebook layer provides),
        ``default_policy`` (for groups that set none), ``max_concurrency`` (at most
        this many tasks of the run execute at once, across all groups),
        ``ready_parallel`` (run every task whose predecessors are done at once, for
        graphs wired with separate edges; see ``core.ready``), ``executor`` (a Dask
        ``distributed.Client``: every group that chose no backend runs its branch
        sessions on that cluster; see ``graflow_nb.distributed``).
        ``default_max_cycles`` (graflow's name): how often a task without its own
        ``max_cycles`` may run in one session, however it is queued again; left at
        None, ``next_iteration`` stops at graflow's 10 and other loops only at
        ``max_steps``.  Every setting is checked before anything runs.
        The run record stays on ``self.last_run`` even when the run fails.
        If a task asks for human input, returns a ``PausedRun``; ``resume`` it.
        ``checkpoint_dir``: when the run pauses, fails or is cancelled, its checkpoint
        is written there (``<session id>.pkl``; the error's notes say where) for
        ``wf.resume(path)`` in this or any later process; nothing is written otherwise.
        ``cache`` (True, a folder or a store): replay unchanged tasks; see ``rerun``, ``graflow_nb.core.cache``.
        """
        self._last_call = {name: value for name, value in locals().items() if name != "self"}  # for rerun
        ctx, view, engine = self._prepare(start_node, max_steps, initial_channel, session_id=session_id,
                                          max_workers=max_workers, observers=observers,
                                          default_max_retries=default_max_retries,
                                          default_max_cycles=default_max_cycles, gate=gate, live=live,
                                          default_policy=default_policy, max_concurrency=max_concurrency,
                                          ready_parallel=ready_parallel, executor=executor,
                                          checkpoint_dir=checkpoint_dir, cache=cache)
        result, error = self._drive_to_rest(ctx, view, engine)
        if error is not None:
            # Raised here, in the caller's frame: one frame of ours, not two.
            __tracebackhide__ = True
            raise error
        return (result, ctx) if ret_context else result

    def start(
        self, start_node: str | None = None, max_steps: int = 10000, ret_context: bool = False,
        initial_channel: dict[str, Any] | None = None, **options: Any,
    ) -> RunHandle:
        """``execute`` on a thread of its own: returns a ``RunHandle`` at once (same
        arguments), so a notebook cell ends while the run goes on and its widgets stay
        clickable.  Every setting is checked here, before anything runs.  One started
        run of a workflow at a time: starting another while one runs is refused (a
        paused one may stay paused).  See ``core.runtime.handle``."""
        going = self._started
        if going is not None and going.status == "running":
            raise RuntimeError(
                f"workflow {self.name!r} already has a started run going (run {going.run.root_session_id!r}): "
                f"wait for it (`await run` or run.result()) or stop it with run.cancel() "
                f"(it is also wf.last_run: wf.last_run.cancel()), then start again"
            )
        ctx, view, engine = self._prepare(start_node, max_steps, initial_channel, **options)
        run = ctx.run
        handle = RunHandle(
            run,
            lambda: self._first_leg(ctx, view, engine, ret_context),
            lambda: (self._resume_run(run), ctx) if ret_context else self._resume_run(run),
        )
        if hooks.STARTED_RUN_PANEL is not None:  # in a notebook: the run's panel, in this cell
            # a panel that fails is reported on the run (one warning), which starts all the same
            run.bus.call(hooks, "STARTED_RUN_PANEL", handle, view)
        self._started = handle
        handle.begin()
        return handle

    def _prepare(
        self, start_node: str | None = None, max_steps: int = 10000, initial_channel: dict[str, Any] | None = None, *,
        session_id: str | None = None, max_workers: int | None = None, observers: list[Observer] | None = None,
        default_max_retries: int = 0, default_max_cycles: int | None = None, gate: Any = None, live: Any = False,
        default_policy: Any = "strict", max_concurrency: int | None = None, ready_parallel: bool = False,
        executor: Any = None, checkpoint_dir: Any = None, cache: Any = False,
    ) -> tuple[ExecutionContext, Any, WorkflowEngine]:
        """A run of this workflow, checked and set up, not yet started: its root session,
        its live view (or None) and the engine that drives it, kept on ``last_run``."""
        cache_for = self._cache_for(cache)
        start = start_node if start_node is not None else require_single_start(self.graph)
        if observers is not None and (callable(observers) or isinstance(observers, (str, bytes))):
            raise TypeError(f"execute(observers=...) takes a list of callables, got {describe(observers)}")
        observers = [*self.observers, *(observers or [])]
        view = self._live_view(live, observers)
        ctx = ExecutionContext.create(
            self.graph, start, max_steps=max_steps, default_max_cycles=default_max_cycles,
            default_max_retries=default_max_retries, tracer=self.tracer, prompt_manager=self.prompt_manager,
            session_id=session_id, max_workers=max_workers, observers=observers, initial_channel=initial_channel,
            workflow=self, gate=gate, default_policy=default_policy, max_concurrency=max_concurrency,
            ready_parallel=ready_parallel, executor=executor,
        )
        for name, agent in self.llm_agents.items():
            ctx.register_llm_agent(name, agent)
        # The run's collaborators, handed in: what resumes it, what it replays (its saver came with the graph).
        engine = ctx.run.driver = WorkflowEngine()
        ctx.run.checkpoint_dir, ctx.run.cache = checkpoint_dir, cache_for(ctx)
        ctx.run.journaling = not isinstance(ctx.run.cache, RunCache)  # a cache records its own way
        ctx.run.cache_origin = _cache_origin(cache)
        self._keep(ctx.run)
        return ctx, view, engine

    def _drive_to_rest(self, ctx: ExecutionContext, view: Any, engine: WorkflowEngine) -> tuple[Any, BaseException | None]:
        """Drive a run ``_prepare`` set up to its end or pause: its result, or its error
        as a caller should see it (the caller's frames and the task's, the engine's notes:
        task, session, resume hint; the engine's frames only on request,
        ``core.user_frames``).  Returned, not raised, so the caller raises it in its own
        frame."""
        try:
            return self._drive(ctx, view, lambda: engine.execute(ctx)), None
        except BaseException as error:
            return None, for_caller(error)

    def _first_leg(self, ctx: ExecutionContext, view: Any, engine: WorkflowEngine, ret_context: bool) -> Any:
        """A started run's first leg: what ``execute`` returns, or raises."""
        result, error = self._drive_to_rest(ctx, view, engine)
        if error is not None:
            raise error
        return (result, ctx) if ret_context else result

    def _keep(self, run: Any) -> None:
        """Keep ``run`` as the last run.  Only the last run is re-run from, so the
        journals of those before it are let go (``rerun``'s replay of the run it
        repeats holds that run's own): a workflow run again and again keeps what at
        most two runs' tasks set, not what all its kept runs' did."""
        for earlier in list(self.runs)[:-1]:
            earlier.journal = {}
        self.runs.append(run)

    def _cache_for(self, cache: Any) -> Any:
        """What makes a run's cache from its root session (None without ``cache=``),
        with the tasks a ``rerun`` asked for forced to run; for a ``rerun`` after a
        run without a cache, what takes the rest from that run."""
        rerun_from, self._rerun_from = self._rerun_from, None
        last, self._rerun_without_cache = self._rerun_without_cache, None
        store = _cache_store(cache, self.name)
        force = frozenset(_downstream(self.graph, rerun_from)) if rerun_from is not None else frozenset()
        if last is not None and rerun_from is not None:
            return lambda ctx: JournalReplay.of(last, ctx.session_id, force, rerun_from)
        return lambda ctx: None if store is None else RunCache(store, ctx.session_id, force, rerun_from)

    def rerun(self, from_: str, **options: Any) -> Any:
        """Run again as the last ``execute`` did, with ``from_`` and every task after it
        (its successors, theirs, the groups holding them...) called again, and the
        rest taken from the last run: replayed from the cache it used, or, after a
        run without a cache, as that run did them (``core.cache.journal_replay``: a
        run that failed goes on from where it stopped).  ``options`` change
        arguments of that call (``initial_channel=...``); after a run without a
        cache only those that leave what the tasks before ``from_`` saw as it was."""
        last = self.last_run
        if last is None or self._last_call is None:
            raise RuntimeError(f"workflow {self.name!r} has not run yet: nothing to re-run")
        if from_ not in self.graph:
            raise ValueError(f"wf.rerun(from_={from_!r}): no task with that id in workflow {self.name!r}")
        call = {**self._last_call, **options}
        if isinstance(last.cache, RunCache):
            if not call.get("cache"):
                call["cache"] = last.cache.store
        else:
            changed = [name for name in _INPUTS_OF_A_RUN if name in options and options[name] != self._last_call[name]]
            if changed:
                raise ConfigError(
                    f"wf.rerun(from_={from_!r}, {changed[0]}=...): run {last.root_session_id!r} had no cache, so "
                    f"its tasks before {from_!r} are taken as they ran, with what they saw then; "
                    f"{changed[0]} can't change that. Run wf.execute(..., cache=True) to re-run with other inputs"
                )
            self._rerun_without_cache = last
        self._rerun_from = from_
        return self.execute(**call)

    async def aexecute(self, *args: Any, **kwargs: Any) -> Any:
        """``execute`` for async code: ``await wf.aexecute(...)`` takes the same
        arguments and runs the workflow's ``async def`` tasks on the caller's running
        loop, so a client made on it earlier (an ``httpx.AsyncClient`` from another
        cell) works inside tasks.  Sync tasks run on the worker pool, and the loop stays
        free while the run goes on.  Cancelling the await cancels the run.

        Where threads can't start (Pyodide, JupyterLite) the whole run is driven from
        this coroutine on the page's loop: sync tasks run on it between awaits, and
        members that await overlap (``core.runtime.loop_driven``)."""
        if threads_available():
            return await run_lending_loop(partial(self.execute, *args, **kwargs))
        return await self._aexecute_on_loop(*args, **kwargs)

    async def _aexecute_on_loop(
        self, start_node: str | None = None, max_steps: int = 10000, ret_context: bool = False,
        initial_channel: dict[str, Any] | None = None, **options: Any,
    ) -> Any:
        """``aexecute`` with no thread to run on: ``execute``'s body, its drive awaited here."""
        self._last_call = {"start_node": start_node, "max_steps": max_steps, "ret_context": ret_context,
                           "initial_channel": initial_channel, **options}
        ctx, view, _engine = self._prepare(start_node, max_steps, initial_channel, **options)
        result = await self._drive_on_loop(ctx, view)
        return (result, ctx) if ret_context else result

    async def _drive_on_loop(self, ctx: ExecutionContext, view: Any) -> Any:
        """``_drive`` for a run driven from this coroutine (``loop_driven.drive``): its
        live view around it, its checkpoint written if it pauses, fails or is cancelled."""
        run = ctx.run
        if view is not None:
            run.bus.call(view, "start", run)
        try:
            if run.driver is None:  # a run restored from a checkpoint
                run.driver = WorkflowEngine()
            result = await drive(run.driver, ctx)
        except BaseException as error:
            self._autosave(run)
            __tracebackhide__ = True
            raise for_caller(error)
        finally:
            if view is not None:
                run.bus.call(view, "finish", run)
        self._autosave(run)
        return result

    def _live_view(self, live: Any, observers: list[Observer]) -> Any:
        """The notebook layer's live view for ``live`` (None if not asked for), already
        appended to ``observers``."""
        if not live:
            return None
        if LIVE_VIEW_FACTORY is None:
            raise ConfigError("live=True needs the notebook layer: import graflow_nb (not only graflow_nb.core)")
        view = LIVE_VIEW_FACTORY(self, live)
        observers.append(view.observe)
        return view

    def _drive(self, ctx: ExecutionContext, view: Any, go: Any) -> Any:
        """Run ``go()`` for ``ctx``'s run with the live view around it, and write its
        checkpoint if it has a ``checkpoint_dir`` and pauses, fails or is cancelled."""
        run = ctx.run
        if view is not None:  # a view that fails is reported on the run and never changes it
            run.bus.call(view, "start", run)
        try:
            result = go()
        except BaseException:
            self._autosave(run)
            raise
        finally:
            if view is not None:
                run.bus.call(view, "finish", run)
        self._autosave(run)
        return result

    @staticmethod
    def _autosave(run: Any) -> None:
        if run.checkpoint_dir is not None:
            checkpoints.autosave(run)

    def to_pipeline(self, path: Any = None) -> Any:
        """This workflow as a pipeline file's data (written to ``path`` if given) when the
        format can express it (see ``graflow_nb.pipeline``)."""
        return PIPELINE_EXPORT(self, path)

    def resume(
        self,
        source: Any = None,
        value: Any = None,
        *,
        answers: dict[str, Any] | None = None,
        tasks: dict[str, Any] | None = None,
        checkpoint_dir: Any = None,
        observers: list[Observer] | None = None,
        live: Any = False,
        gate: Any = None,
        trust: bool = False,
        cache: Any = None,
    ) -> Any:
        """Continue a run.

        ``wf.resume(path_or_checkpoint, answers={...})``: load a checkpoint (a ``.pkl``
        path, a ``pathlib.Path`` or a loaded ``Checkpoint``) written in this or another
        process, check that this workflow is wired as the one that ran, give the
        answers and run on: finished tasks never run again, and each task runs the
        code this workflow now has under its id (so a fixed task takes effect).
        ``tasks``: ``{task id: task or function}`` for tasks created at run time
        whose function has no importable name (``core.snapshot``).
        ``checkpoint_dir``: where to save again if it pauses, fails or is cancelled;
        ``observers``, ``live`` and ``gate`` as for ``execute``.  A checkpoint must be
        signed with this user's secret (graflow_nb signs what it writes) and unchanged
        since; ``trust=True`` loads one that is not (written elsewhere, or by
        graflow_nb 0.1.0), which can run code: only for files you trust.
        ``cache``: the resumed run replays and keeps tasks as the run it continues did
        (its ``execute(cache=True)`` or folder, kept in the checkpoint); ``False`` runs
        it uncached, and True, a folder or a store as ``execute``'s uses that instead.

        ``wf.resume({"S_a": True})`` or ``wf.resume("S_a", True)``: answer the last
        run's waiting questions and continue it, in this process (``Run.resume``).
        """
        if checkpoints.is_checkpoint(source):
            root, view = self._restored(source, tasks, checkpoint_dir, observers, live, gate, trust, cache)
            try:
                return self._drive(root, view, lambda: checkpoints.continue_run(root, answers))
            except BaseException as error:
                __tracebackhide__ = True
                raise for_caller(error)
        if self.last_run is None:
            raise RuntimeError(f"workflow {self.name!r} has not run yet")
        if cache is not None:
            raise ConfigError(
                f"wf.resume(cache=...) applies to resuming a checkpoint; run {self.last_run.root_session_id!r} "
                f"goes on in this process with the cache it started with"
            )
        return self._resume_run(self.last_run, answers if source is None else source, value)

    def _restored(
        self, source: Any, tasks: Any, checkpoint_dir: Any, observers: Any, live: Any, gate: Any, trust: bool, cache: Any,
    ) -> tuple[ExecutionContext, Any]:
        """The root session of a run restored from checkpoint ``source`` (now
        ``last_run``), and its live view (or None)."""
        extra = [*self.observers, *(observers or [])]
        view = self._live_view(live, extra)
        root, _meta = checkpoints.restore(source, self, tasks=tasks, observers=extra, checkpoint_dir=checkpoint_dir, trust=trust)
        root.run.gate = gate
        self._give_cache(root, cache)
        self._keep(root.run)
        return root, view

    def _give_cache(self, root: ExecutionContext, cache: Any) -> None:
        """A run restored from a checkpoint gets the cache its checkpoint names, or
        ``cache`` if given, with what it decided before it was saved."""
        run = root.run
        origin = run.cache_origin if cache is None else cache
        run.cache, run.cache_origin = self._cache_for(origin)(root), _cache_origin(origin)
        run.journaling = not isinstance(run.cache, RunCache)
        if run.cache is not None:
            run.cache.carry(run.cache_decisions)

    async def aresume(self, source: Any = None, value: Any = None, **options: Any) -> Any:
        """``resume`` for async code, with the same arguments: answer the last run's
        questions (``wf.aresume({"S_a": True})``, ``wf.aresume("S_a", True)``), or load
        a checkpoint (``wf.aresume(path, answers={...})``), and continue it, awaited.
        Its async tasks run on the caller's loop, as under ``aexecute``; where threads
        can't start (Pyodide) the run is driven from this coroutine."""
        if threads_available():
            return await run_lending_loop(partial(self.resume, source, value, **options))
        if checkpoints.is_checkpoint(source):
            answers = options.pop("answers", None)
            root, view = self._restored(source, **{"tasks": None, "checkpoint_dir": None, "observers": None,
                                                   "live": False, "gate": None, "trust": False, "cache": None, **options})
            if not checkpoints.ready_to_continue(root, answers):
                return root.run.result
        else:
            run = self.last_run
            if run is None or options:
                return self.resume(source, value, **options)  # the error resume gives
            run.give_answers(source, value)
            root, view = run.root_context, None
        return await self._drive_on_loop(root, view)

    def _resume_run(self, run: Any, answers: Any = None, value: Any = None) -> Any:
        """Answer ``run``'s questions and continue it in this process (``Run.resume``)."""
        return self._drive(run.root_context, None, lambda: run.resume(answers, value))

    def debug(self, start_node: str | None = None, **execute_options: Any) -> Any:
        """A step debugger over a new run of this workflow (see ``graflow_nb.debug``)."""
        return DEBUGGER(self, start_node, **execute_options)

    @property
    def last_run(self) -> Any:
        return self.runs[-1] if self.runs else None

    def show_info(self) -> None:
        """graflow's summary: nodes, edges, cycles, then the graph drawn in ASCII."""
        graph = self.graph
        print(f"=== Workflow '{self.name}' Information ===")
        print(f"Nodes: {list(graph.nodes)}")
        print(f"Edges: {graph.edges}")
        cycles = [cycle[:-1] for cycle in graph.detect_cycles()]  # graflow's form: ['a', 'b']
        print(f"Cycles detected: {cycles}" if cycles else "No cycles detected")
        print(graph)

    def visualize_dependencies(self) -> None:
        """graflow's list of each task's successors: ``a >> b`` or ``a (no dependencies)``."""
        graph = self.graph
        print(f"=== Workflow '{self.name}' Dependencies ===")
        for node in graph.nodes:
            after = graph.successors(node)
            print(f"{node} >> {' >> '.join(after)}" if after else f"{node} (no dependencies)")

    def __repr__(self) -> str:
        return f"<WorkflowContext {self.name!r} {len(self.graph)} nodes>"


scope.provide_default(lambda: WorkflowContext("default"))


def _cache_store(cache: Any, workflow_name: str) -> MemoryStore | None:
    """The store ``execute(cache=...)`` names: None (no cache), this process's store
    for the workflow's name, a folder's signed store, or a store given as it is."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return memory_store(workflow_name)
    if isinstance(cache, MemoryStore):
        return cache
    if isinstance(cache, (str, pathlib.PurePath)):
        return disk_store(pathlib.Path(cache))
    raise TypeError(f"execute(cache=...) takes True, False, a folder path or a cache store, got {describe(cache)}")


def _cache_origin(cache: Any) -> Any:
    """``Run.cache_origin`` for ``execute(cache=cache)``: what a checkpoint can name."""
    if cache is True:
        return True
    if isinstance(cache, (str, pathlib.PurePath)):
        return str(pathlib.Path(cache).expanduser().resolve())
    if isinstance(cache, DiskStore):
        return str(cache.folder)
    return None


# What a rerun after a run without a cache can't change: what its tasks saw, and where.
_INPUTS_OF_A_RUN = ("start_node", "initial_channel", "cache", "ready_parallel", "max_steps", "default_max_cycles")


def _downstream(graph: TaskGraph, start: str) -> set[str]:
    """``start`` and everything that runs after it: successors, the groups holding
    any of them (and what follows those), and a group's members."""
    seen = {start}
    todo = [start]
    holder = _branch_group(graph, start)
    while holder is not None:  # start runs in its branches: what follows their groups runs after it
        for other in graph.successors(holder):
            if other not in seen:
                seen.add(other)
                todo.append(other)
        holder = _branch_group(graph, holder)
    while todo:
        node = todo.pop()
        nxt = list(graph.successors(node))
        holder = graph.group_holding(node)
        if holder is not None:
            nxt += graph.successors(holder)
        if graph.nodes[node].is_group:
            nxt += graph.get_parallel_group_members(node)
        for other in nxt:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _branch_group(graph: TaskGraph, task_id: str) -> str | None:
    """The group in whose branches ``task_id`` runs: the one holding it, or holding the
    member it follows in a branch (``(a >> polish) | b``: polish runs in a's), or None."""
    seen = {task_id}
    todo = [task_id]
    while todo:
        node = todo.pop()
        holder = graph.group_holding(node)
        if holder is not None:
            return holder
        for before in graph.predecessors(node):
            if before not in seen:
                seen.add(before)
                todo.append(before)
    return None


def workflow(name: str, tracer: Any = None, prompt_manager: Any = None) -> WorkflowContext:
    """A new workflow named ``name``: ``with workflow("etl") as wf:`` wires tasks into it,
    and ``wf.execute(start)`` runs it (graflow's entry point, same arguments)."""
    return WorkflowContext(name, tracer=tracer, prompt_manager=prompt_manager)
