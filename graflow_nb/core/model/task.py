"""Tasks and the operators that wire them: ``>>`` (sequence) and ``|`` (parallel group).

Operators write into the current scope (``model.scope``: the workflow being wired, or
the session whose task is running), so a task defined in one notebook cell can be
wired into a new workflow in another cell as often as the cell is re-run: nodes join a graph when an edge first uses them, never through a
one-shot "pending registration" flag (graflow's re-run bug).
"""

from __future__ import annotations

import inspect
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from importlib.util import find_spec
from types import FunctionType, MappingProxyType
from typing import Any, cast

from ..checks import MAX_GROUP_DEPTH, check_count, check_id, check_timeout, describe, shown
from ..data.merge import validate_merge_spec
from ..errors import ConfigError, GraphCompilationError, TaskError
from . import scope
from .backends import backend_name
from .mapping import item_id
from .policies import resolve_policy
from .retry import RetryPolicy
from .scope import TaskContext

_INJECTED_NAMES = frozenset({"llm_client", "llm_agent"})
_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_RESULT_SUFFIX = ".__result__"

_wf = scope.current
_entered = scope.entered  # the ContextVar's get: a chain's >> reads it per link


class Executable(ABC):
    """Anything that can sit in a graph: a task, a parallel group, a pseudo node."""

    __slots__ = ()  # subclasses keep a __dict__ unless they say otherwise (SequentialTask)
    task_id: str
    is_group = False
    is_async = False  # an ``async def`` task: the runtime awaits it on the run's event loop
    is_chain = False  # a SequentialTask: a handle whose ends are nodes, never a node
    is_map = False  # a MapTask: a group whose members are made at run time, one per item
    base_id: str | None = None  # set on iteration tasks: the task whose cycles they count
    handler_type: str | None = None
    timeout: float | None = None

    # -- chaining helpers: a SequentialTask is never a node, its ends are --------------
    def _leftmost(self) -> Executable:
        return self

    def _rightmost(self) -> Executable:
        return self

    # -- operators ---------------------------------------------------------------------
    def __rshift__(self, other: Executable) -> SequentialTask:
        if type(other) not in _NODE_TYPES:
            other = as_node(other, self, ">>")
        return _wire(self, other)

    def __lshift__(self, other: Executable) -> SequentialTask:
        if type(other) not in _NODE_TYPES:
            other = as_node(other, self, "<<")
        return _wire(other, self)

    def __or__(self, other: Executable) -> ParallelGroup:
        if type(other) not in _NODE_TYPES:
            other = as_node(other, self, "|")
        # A group written again (_GroupRespelling) stands for that group: it forwards
        # the group's attributes and operators, so users' type checkers see the group.
        return cast(ParallelGroup, _join_parallel(self, other))

    def map(
        self, over: str | Callable[[Any], Any] | None = None, *, key: Callable[[Any], Any] | None = None,
        param: str | None = None, name: str | None = None,
    ) -> MapTask:
        """``fetch >> summarize.map(over="fetch") >> combine``: at run time, one branch
        session per item of ``fetch``'s result, each running this task with the item as
        its first parameter (or ``param``); ``combine`` gets the results as a list in
        item order (a dict when ``key=`` names the items, or the value is a dict).

        ``over``: the task whose result (``"<over>.__result__"``), else the channel key,
        holds the items; a function of the session's channel that returns them; None:
        the map's one predecessor's result (or, for a map made from a map, the outer
        map's item).  ``name``: the map node's id (default: this
        task's, which the map node then stands for).  The node is a parallel group:
        ``with_execution`` sets its policy, merge, ``max_concurrency``, timeout and
        backend as for ``a | b``.  See ``core.model.mapping`` for what can be mapped."""
        return MapTask(self, over, key=key, param=param, name=name)

    # -- execution ---------------------------------------------------------------------
    @abstractmethod
    def invoke(self, task_ctx: TaskContext) -> Any:
        """Run this node for one attempt; the engine stores what it returns."""

    max_retries: int | None = None  # None: the run's default_max_retries
    retry_policy: RetryPolicy | None = None
    max_cycles: int | None = None  # None: the run's default_max_cycles

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id!r}>"


class Task(Executable):
    """A pseudo node that does nothing (graflow's ``Task(task_id)``)."""

    def __init__(self, task_id: str, register_to_context: bool = True):
        self.task_id = check_id(task_id, "Task(task_id)")
        if register_to_context:
            _wf().register(self)

    def invoke(self, task_ctx: TaskContext) -> Any:
        return None


class TaskWrapper(Executable):
    """A Python function as a task.

    Keyword arguments are resolved per call, lowest priority first: the channel
    (``"<param>.__result__"``, then ``"<param>"``), then values bound with
    ``t(task_id=..., **bound)``, then injected ``llm_client`` / ``llm_agent``.
    """

    inject_context = False
    inject_llm_client = False
    inject_llm_agent: str | None = None
    resolve_keyword_args = True
    compensation: TaskWrapper | None = None
    # No bound values: one shared read-only mapping (a dict per task is 64 bytes of a
    # 10,000-branch graph each); ``t(task_id=..., **bound)`` gives a task its own dict.
    bound_kwargs: Mapping[str, Any] = MappingProxyType({})
    _params: tuple[tuple[str, bool], ...] = ()  # (name, required) of what the channel may fill
    # A run with a cache (execute(cache=...)): False never caches it, True caches it
    # even with side effects, None (the default) caches it unless it has side effects.
    cache: bool | None = None
    side_effects = False
    takes_nothing = True  # no parameter to fill and nothing to inject: invoke calls it bare

    def __init__(
        self,
        task_id: str,
        func: Callable[..., Any],
        inject_context: bool = False,
        inject_llm_client: bool = False,
        inject_llm_agent: str | None = None,
        register_to_context: bool = True,
        handler_type: str | None = None,
        resolve_keyword_args: bool = True,
        max_cycles: int | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        bound_kwargs: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        compensate: Callable[..., Any] | None = None,
        cache: bool | None = None, side_effects: bool = False,
    ):
        if type(task_id) is not str or not task_id:
            check_id(task_id, "a task id")
        if not callable(func):
            raise TypeError(f"task {shown(task_id)}: {describe(func)} is not callable")
        if func.__code__.co_flags & _ASYNC if type(func) is FunctionType else _async_kind(func):
            self._take_async(task_id, func)  # before the parameters: it is never called bare
        self.task_id = task_id
        self.func = func
        if (
            inject_context or inject_llm_client or inject_llm_agent is not None or handler_type is not None
            or not resolve_keyword_args or max_cycles is not None or max_retries is not None or side_effects
            or retry_policy is not None or timeout is not None or compensate is not None or cache is not None
        ):
            self._configure(
                inject_context, inject_llm_client, inject_llm_agent, handler_type, resolve_keyword_args,
                max_cycles, max_retries, retry_policy, timeout, compensate, cache, side_effects,
            )
        # A function of no parameters has nothing for the channel to fill: ``_params``
        # stays the class's ``()`` (and ``takes_nothing`` its True) unless told otherwise.
        code = func.__code__ if type(func) is FunctionType else None
        if (
            code is None
            or code.co_argcount
            or code.co_kwonlyargcount
            or (code.co_flags & _VARIADIC and "__wrapped__" in func.__dict__)  # functools.wraps
        ):
            params = self._parameter_specs()
            if params:
                self._params = params
                self.takes_nothing = False
        if bound_kwargs:
            self.bound_kwargs = dict(bound_kwargs)
            _check_bindable(func, self.bound_kwargs, f"task {shown(task_id)}")
            self.takes_nothing = False
        elif inject_context or inject_llm_client or inject_llm_agent:
            self.takes_nothing = False
        plain = type(func) is FunctionType
        self.__name__ = func.__name__ if plain else getattr(func, "__name__", task_id)
        self.__doc__ = func.__doc__ if plain else getattr(func, "__doc__", None)
        self.__wrapped__ = func
        if register_to_context:
            _join_scope(self)

    def _take_async(self, task_id: str, func: Callable[..., Any]) -> None:
        """An ``async def`` task: the engine awaits it on the run's event loop (through
        its awaited call kind, never bare).  An async generator is refused here."""
        if _async_kind(func) == "an async generator":
            raise TypeError(_async_refusal(task_id))
        self.is_async = True
        self.takes_nothing = False  # __init__ only ever sets it False

    def _configure(
        self,
        inject_context: bool,
        inject_llm_client: bool,
        inject_llm_agent: str | None,
        handler_type: str | None,
        resolve_keyword_args: bool,
        max_cycles: int | None,
        max_retries: int | None,
        retry_policy: RetryPolicy | None,
        timeout: float | None,
        compensate: Callable[..., Any] | None,
        cache: bool | None = None,
        side_effects: bool = False,
    ) -> None:
        """The settings beyond id and function, checked and stored; only called when one
        is not at its default.  Settings left at their defaults stay on the class: a wide
        graph builds thousands of tasks, and each store costs more than the check."""
        owner = f"task {shown(self.task_id)}"
        check_count(max_cycles, "max_cycles", owner, minimum=1, optional=True)
        check_count(max_retries, "max_retries", owner, minimum=0, optional=True)
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(f"{owner}: retry_policy must be a RetryPolicy, got {describe(retry_policy)}")
        if inject_context:
            self.inject_context = True
        if inject_llm_client:
            self.inject_llm_client = True
        if inject_llm_agent is not None:
            self.inject_llm_agent = inject_llm_agent
        if handler_type is not None:
            self.handler_type = handler_type
        if not resolve_keyword_args:
            self.resolve_keyword_args = False
        if max_cycles is not None:
            self.max_cycles = max_cycles
        if retry_policy is not None:
            self.retry_policy = retry_policy
            if max_retries is None:
                max_retries = retry_policy.max_retries
        if max_retries is not None:
            self.max_retries = max_retries
        if timeout is not None:
            self.timeout = check_timeout(timeout, owner)
        if compensate is not None:
            self.compensate(compensate)
        if cache is not None:
            if type(cache) is not bool:
                raise TypeError(f"{owner}: cache must be True, False or None, got {describe(cache)}")
            self.cache = cache
        if side_effects:
            self.side_effects = True

    def _parameter_specs(self) -> tuple[tuple[str, bool], ...]:
        """``(name, required)`` for every parameter the channel may fill.

        Read from the code object when there is one: ``inspect.signature`` costs more
        than running a trivial task, and a 1000-branch graph builds 1000 of these.
        """
        func = self.func
        if type(func) is FunctionType and "__wrapped__" not in func.__dict__:
            code = func.__code__
            positional = code.co_argcount
            if not positional and not code.co_kwonlyargcount:
                return ()
            first_default = positional - len(func.__defaults__ or ())
            kw_defaults = func.__kwdefaults__ or {}
            specs = [(name, i < first_default) for i, name in enumerate(code.co_varnames[:positional])]
            specs += [
                (name, name not in kw_defaults)
                for name in code.co_varnames[positional : positional + code.co_kwonlyargcount]
            ]
        else:
            try:
                params = inspect.signature(self.func).parameters.values()
            except (TypeError, ValueError):
                return ()
            specs = [
                (p.name, p.default is inspect.Parameter.empty)
                for p in params
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            ]
        if self.inject_context and specs:
            specs = specs[1:]
        return tuple(spec for spec in specs if spec[0] not in _INJECTED_NAMES)

    def compensate(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Declare what undoes this task when its group fails under ``policy="rollback"``
        (usable as a decorator: ``@charge.compensate``).  It runs once, in the member's
        branch session, with parameters resolved from that branch's channel, so a
        parameter named after this task receives its result."""
        self.compensation = func if isinstance(func, TaskWrapper) else TaskWrapper(
            f"{self.task_id}.compensate", func, register_to_context=False,
            inject_context=_wants_context(func),
        )
        return func

    def resolve_kwargs(self, task_ctx: TaskContext) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        bound = self.bound_kwargs
        if self.resolve_keyword_args:
            channel = task_ctx.input_channel()
            missing = _MISSING
            for name, required in self._params:
                if name in bound:
                    continue
                value = channel.get(name + _RESULT_SUFFIX, missing)
                if value is missing:
                    value = channel.get(name, missing)
                if value is not missing:
                    kwargs[name] = value
                elif required:
                    raise TaskError(
                        f"task {self.task_id!r} in session {task_ctx.session_id!r}: required "
                        f"parameter {name!r} has no value: no channel key "
                        f"{name + _RESULT_SUFFIX!r} (a task named {name!r} that ran before) "
                        f"and no channel key {name!r}; pass it with "
                        f"execute(initial_channel={{{name!r}: ...}}) or bind it with "
                        f"{self.__name__}(task_id=..., {name}=...)",
                        task_id=self.task_id,
                        session_id=task_ctx.session_id,
                    )
        if bound:
            kwargs.update(bound)
        if self.inject_llm_client:
            kwargs["llm_client"] = task_ctx.llm_client
        if self.inject_llm_agent:
            kwargs["llm_agent"] = task_ctx.get_llm_agent(self.inject_llm_agent)
        return kwargs

    def invoke(self, task_ctx: TaskContext) -> Any:
        if self.takes_nothing:
            return self.func()
        kwargs = self.resolve_kwargs(task_ctx)
        if self.inject_context:
            return self.func(task_ctx, **kwargs)
        return self.func(**kwargs)


    SETTINGS = (
        "inject_context", "inject_llm_client", "inject_llm_agent", "handler_type", "resolve_keyword_args",
        "max_cycles", "max_retries", "retry_policy", "bound_kwargs", "timeout", "cache", "side_effects",
    )

    def settings(self) -> dict[str, Any]:
        """This task's constructor settings but its id, function and compensation: what
        an instance (``t(task_id=...)``) or a checkpoint's task spec copies."""
        settings = {name: getattr(self, name) for name in self.SETTINGS}
        settings["bound_kwargs"] = dict(self.bound_kwargs)  # a plain dict: specs are pickled
        return settings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``t()`` runs the function now; ``t(task_id=..., **bound)`` makes an instance."""
        if args:
            # graflow's words first (its tests match on them), then how to do it.
            raise TypeError(
                f"TaskWrapper instance creation does not support positional arguments. Please use "
                f"keyword arguments only. Got {len(args)} positional args. "
                f"{self.__name__}(task_id='name', param=value) creates a task instance from task "
                f"{shown(self.task_id)}; call {self.__name__}.func(...) to run the plain function"
            )
        if kwargs:
            task_id = kwargs.pop("task_id", None)
            if task_id is None:
                task_id = f"{self.task_id}_{uuid.uuid4().hex[:8]}"
            check_id(task_id, f"{self.__name__}(task_id=...)")
            settings = self.settings()
            settings["bound_kwargs"] = {**self.bound_kwargs, **kwargs}
            return TaskWrapper(task_id, self.func, **settings, compensate=self.compensation)
        return self.run()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """graflow's ``task.run()``: call the function now.  Inside a custom handler's
        ``execute_task`` it runs this task's current attempt (parameters resolved from
        the channel, the run's context injected); anywhere else only bound values are
        passed, and a task that wants a context gets a throwaway one.  ``args`` and
        ``kwargs`` go to the function too, kwargs over everything else (graflow's order)."""
        ctx = scope.running_session()
        task_ctx = None if ctx is None else ctx.current_task_context
        running = task_ctx if task_ctx is not None and task_ctx.task_id == self.task_id else None
        if running is not None:
            resolved = {**self.resolve_kwargs(running), **kwargs}
        else:
            task_ctx = self._direct_call_context() if self.inject_context else None
            resolved = {**self.bound_kwargs, **kwargs}
        result = self.func(task_ctx, *args, **resolved) if self.inject_context else self.func(*args, **resolved)
        if running is not None and self.is_async:
            return running.run_coroutine(result)  # the attempt's coroutine, on the run's loop
        return result

    def _direct_call_context(self) -> TaskContext:
        """A context of its own for a task called outside any run (graflow's throwaway)."""
        return cast("TaskContext", _wf().direct_call_context(self.task_id))


class IterationTask(TaskWrapper):
    """The task ``next_iteration(data)`` enqueues: the base task's function again."""

    def __init__(self, task_id: str, base: TaskWrapper, data: Any):
        super().__init__(
            task_id,
            base.func,
            inject_context=base.inject_context,
            register_to_context=False,
            max_retries=base.max_retries,
            retry_policy=base.retry_policy,
            max_cycles=base.max_cycles,
            bound_kwargs=base.bound_kwargs,
            timeout=base.timeout,
            cache=base.cache,
            side_effects=base.side_effects,
        )
        self.base_id: str = base.task_id
        self.data = data

    def invoke(self, task_ctx: TaskContext) -> Any:
        # graflow passes the task context first whether or not the task asked for it.
        args = (task_ctx,) if self.data is None else (task_ctx, self.data)
        return self.func(*args, **self.bound_kwargs)


class SequentialTask(Executable):
    """What ``a >> b`` returns: a handle on a chain; its ends take part in operators.

    ``a >> b >> ... >> z`` in one expression (or ``chain(*tasks)``) makes one of these
    per ``>>``: each keeps only its two operands and the chain's two ends, and ``tasks``
    is spelled out on first use, so a chain of n tasks costs O(n), not O(n^2) copies.
    """

    # A chain makes one of these per ``>>`` and throws most away: slots, no __dict__.
    __slots__ = ("_operands", "_tasks", "_head", "_tail")
    is_chain = True

    def __init__(self, tasks: Iterable[Executable]):
        self._operands: tuple[Executable, Executable] | None = None
        self._tasks = list(tasks)
        if not self._tasks:
            raise ValueError("SequentialTask requires at least one task")
        self._head = self._tasks[0]._leftmost()
        self._tail = self._tasks[-1]._rightmost()

    @property
    def tasks(self) -> list[Executable]:
        """The chain's items in order: its operands' items, a plain task as itself."""
        if self._operands is not None:
            items: list[Executable] = []
            stack: list[Executable] = [self]
            while stack:  # without recursion: a 100,000-task chain is that deep
                node = stack.pop()
                if not isinstance(node, SequentialTask):
                    items.append(node)
                elif node._operands is not None:
                    stack += reversed(node._operands)
                else:
                    items += node._tasks
            self._tasks, self._operands = items, None
        return self._tasks

    @property
    def task_id(self) -> str:  # type: ignore[override]  # built on demand: a long a >> b >> ... chain makes many of these
        return "SequentialTask(" + " >> ".join(t.task_id for t in self.tasks) + ")"

    def _leftmost(self) -> Executable:
        return self._head

    def _rightmost(self) -> Executable:
        return self._tail

    def invoke(self, task_ctx: TaskContext) -> Any:
        raise TaskError(f"{self.task_id} is not a node; run its first task instead")


def _wire(first: Executable, second: Executable) -> SequentialTask:
    """``first >> second``: the edge from first's last task to second's first task, and
    the chain they make.  Spelled out flat (``is_chain`` for the ends, the active
    workflow read here): a chain wires one of these per task."""
    if first.is_chain:
        head, last = cast(SequentialTask, first)._head, cast(SequentialTask, first)._tail
    else:
        head = last = first
    if second.is_chain:
        start, tail = cast(SequentialTask, second)._head, cast(SequentialTask, second)._tail
    else:
        start = tail = second
    (_entered() or _wf()).link(last, start)
    seq = SequentialTask.__new__(SequentialTask)
    seq._operands = (first, second)
    seq._head = head
    seq._tail = tail
    return seq


_DASK_CONFIG = ("client", "address", "thread_count")
DASK_EXTRA = 'backend="dask" needs Dask\'s distributed, which is not installed: pip install "graflow_nb[dask]"'


def _checked_backend_config(name: str, backend_config: Any, owner: str) -> dict[str, Any]:
    """A copy of ``backend_config``, refused if it is not a dict of keys backend ``name`` takes."""
    if backend_config is not None and not isinstance(backend_config, Mapping):
        raise TypeError(f"{owner}: backend_config must be a dict like {{'thread_count': 4}}, got {describe(backend_config)}")
    config = dict(backend_config or {})
    allowed = _DASK_CONFIG if name == "dask" else ("thread_count",)
    unknown = [k for k in config if k not in allowed]
    if unknown:
        raise ValueError(
            f"{owner}: backend_config key {shown(unknown[0])} is not known; the {name} backend "
            f"takes only {' or '.join(repr(k) for k in allowed)}"
        )
    if name == "dask":
        _check_dask_config(config, owner)
    return config


def _check_dask_config(config: dict[str, Any], owner: str) -> None:
    """A dask group names its cluster (a client, or a scheduler address), and the
    optional ``distributed`` package must be installed."""
    if find_spec("distributed") is None:
        raise ImportError(f"{owner}: {DASK_EXTRA}")
    if ("client" in config) == ("address" in config):
        raise ValueError(
            f"{owner}: backend='dask' takes backend_config={{'client': client}} or "
            f"{{'address': 'tcp://host:port'}} (one of them), got keys {sorted(config)}"
        )
    address = config.get("address")
    if address is not None and not isinstance(address, str):
        raise TypeError(f"{owner}: backend_config['address'] must be a scheduler address string, got {describe(address)}")


class ParallelGroup(Executable):
    """Members run concurrently, each in its own branch session; successors run once.

    Members live in ``tasks`` (declaration order decides merges and error reports);
    there are no graph edges from a group to its members, as in graflow.
    """

    is_group = True
    backend_chosen = False  # False: the run's executor decides (execute(executor=...))
    fail_fast = False  # True: the first failure stops the siblings (with_execution)
    # The graph that indexes this group's members (core.graph's ``_holders``), weakly:
    # a group kept from an old cell must not keep that cell's whole graph alive.
    home: Callable[[], Any] | None = None  # -> the TaskGraph (core.graph imports this module)

    def __init__(self, tasks: Iterable[Executable], name: str | None = None):
        if isinstance(tasks, (Executable, str)) or not isinstance(tasks, Iterable):
            raise TypeError(f"ParallelGroup(tasks) takes a list of tasks, got {describe(tasks)}")
        members = [as_node(member, None, "ParallelGroup") for member in tasks]
        if not members:
            raise ValueError(
                f"ParallelGroup({'name=' + shown(name) if name is not None else ''}) needs at least one "
                f"task: an empty group would run nothing and still merge and count as done"
            )
        if name is not None:
            check_id(name, "a group name")
        wf = _wf()
        self.tasks: list[Executable] = []
        self.member_id_set: set[str] = set()
        self.depth = 1  # 1 + the depth of the deepest member that is a group
        self.task_id = name or wf.new_group_name()
        self.backend = "threading"
        self.backend_config: dict[str, Any] = {}
        self.max_concurrency: int | None = None
        self.policy: Any = None
        self.merge: Any = None
        self.timeout: float | None = None
        checked = []
        for member in members:  # all checked first: a refused group never joins the graph
            node, depth = self._check_member(member, self.member_id_set, wf)
            self.member_id_set.add(node.task_id)
            checked.append((node, depth))
        self.member_id_set.clear()
        wf.register(self)
        for node, depth in checked:
            self._admit(node, depth, None, wf)

    def _check_member(self, member: Any, taken: set[str], wf: Any = None) -> tuple[Executable, int]:
        """``(node, depth it gives this group)``; refused if it is not a task, would run
        twice (here or in another group), contains this group, or nests groups deeper
        than ``MAX_GROUP_DEPTH``."""
        if type(member) not in _NODE_TYPES:
            member = as_node(member, self, "|")
        if member.is_chain:
            member = member._leftmost()
        member_id = member.task_id
        if member_id in taken:
            raise ConfigError(f"task {shown(member_id)} is already a member of {shown(self.task_id)}")
        is_group = member.is_group
        if member is self or (is_group and self.task_id in _nested_ids(member)):
            raise ConfigError(f"group {shown(self.task_id)} cannot contain itself")
        holder = (wf or _wf()).graph.group_holding(member_id, besides=self)
        if holder is not None:
            raise _in_two_groups(member_id, holder)
        if not is_group:
            return member, 1
        depth = member.depth + 1
        if depth > MAX_GROUP_DEPTH:
            raise GraphCompilationError(
                f"group {shown(self.task_id)} would nest parallel groups {depth} deep (its member "
                f"{shown(member_id)} is {depth - 1} deep); at most {MAX_GROUP_DEPTH} levels are "
                f"allowed: flatten the inner groups or chain them with >>"
            )
        return member, depth

    def add_member(self, member: Executable, index: int | None = None) -> None:
        """Add ``member`` (a chain's first task) after ``_check_member`` accepts it."""
        wf = _wf()
        node, depth = self._check_member(member, self.member_id_set, wf)
        self._admit(node, depth, index, wf)

    def _admit(self, member: Executable, depth: int, index: int | None = None, wf: Any = None) -> None:
        wf = wf or _wf()
        if wf.graph.nodes.get(member.task_id) is not member:  # else registering it is a no-op
            wf.register(member)
        self.member_id_set.add(member.task_id)
        home = self.home() if self.home is not None else None
        if home is not None:
            home.note_member(self, member.task_id)
        if depth > self.depth:
            self.depth = depth
        if index is None:
            self.tasks.append(member)
        else:
            self.tasks.insert(index, member)

    @property
    def member_ids(self) -> list[str]:
        return [m.task_id for m in self.tasks]

    def set_group_name(self, name: str) -> ParallelGroup:
        _wf().rename_node(self.task_id, name)
        self.task_id = name
        return self

    def with_execution(
        self,
        backend: Any = None,
        backend_config: dict[str, Any] | None = None,
        policy: Any = None,
        *,
        merge: Any = None,
        max_concurrency: int | None = None,
        timeout: float | None = None,
        fail_fast: bool = False,
    ) -> ParallelGroup:
        """Choose how members run (checked now, before anything runs).

        ``backend``: a ``CoordinationBackend`` or its name (``core.backends``):
        ``"threading"`` (default), ``"sequential"`` (branch sessions, run one after
        another on this thread: deterministic; no threads, as in Pyodide), ``"direct"``
        (graflow's: members one after another in this group's session) or ``"dask"``
        (each member's branch session a future on a Dask cluster:
        ``backend_config={"client": client}`` or ``{"address": "tcp://..."}``; see
        ``graflow_nb.distributed``).
        ``max_concurrency`` (or graflow's ``backend_config={"thread_count": n}``) caps
        how many members run at once; 1 starts them in declaration order.
        ``policy``: see ``core.policies``; None uses the run's default
        (``execute(default_policy=...)``, itself "strict" unless set): every member
        runs and the group's error lists every failure.
        ``fail_fast``: True stops the siblings at the first failure instead (members
        not started never start, running ones stop at their next task boundary);
        the policy still decides whether the group failed.
        ``merge``: how branch channel writes combine at fan-in (see ``core.merge``).
        ``timeout``: seconds for the whole group (default none); on expiry the
        group fails with ``GroupTimeoutError`` and running members are abandoned.
        """
        owner = f"group {shown(self.task_id)}"
        name = backend_name(backend, owner)
        config = _checked_backend_config(name, backend_config, owner)
        if max_concurrency is not None:
            limit = check_count(max_concurrency, "max_concurrency", owner, minimum=1)
        else:
            limit = check_count(config.get("thread_count"), "backend_config['thread_count']", owner, 1, optional=True)
        timeout = check_timeout(timeout, owner)
        if timeout is not None and name in ("direct", "sequential"):
            raise ValueError(
                f"{owner}: a timeout needs members on threads of their own; backend {name!r} runs "
                f"them one after another on the calling thread: use backend='threading'"
            )
        if policy is not None:
            resolve_policy(policy)
        if not isinstance(fail_fast, bool):
            raise TypeError(f"{owner}: fail_fast must be True or False, got {describe(fail_fast)}")
        validate_merge_spec(merge, self.task_id)
        self.backend = name
        self.backend_chosen = backend is not None
        self.backend_config = config
        self.max_concurrency = limit
        self.policy = policy
        self.merge = merge
        self.timeout = timeout
        self.fail_fast = fail_fast
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Shipped to Dask workers with the graph: a client is a live connection of
        this process, so it stays here (a nested group on a worker runs on threads)."""
        state = self.__dict__.copy()
        state.pop("home", None)  # a weak reference; the graph it ships with indexes it again
        state["backend_config"] = {k: v for k, v in self.backend_config.items() if k != "client"}
        return state

    def invoke(self, task_ctx: TaskContext) -> Any:
        raise TaskError(
            f"group {shown(self.task_id)} is not called: the engine runs a group node through "
            f"the coordinator (core.coordinator.execute_group)"
        )


class MapTask(ParallelGroup):
    """``task.map(over=...)``: a parallel group whose members are made at run time, one
    per item of a value (``core.model.mapping``), each a copy of ``template`` named
    ``<map id>[<label>]`` with the item bound to ``param``.  It has no members while
    wiring; the coordinator forks the items' branches and hands successors the results
    (the engine stores them as this node's result)."""

    is_map = True
    handed: tuple[Any] | None = None  # (items,) handed in by an outer map, for a map of a map

    def __init__(
        self, template: Executable, over: str | Callable[[Any], Any] | None = None, *,
        key: Callable[[Any], Any] | None = None, param: str | None = None, name: str | None = None,
    ):
        owner = f"{shown(getattr(template, 'task_id', template))}.map(...)"
        if not isinstance(template, (TaskWrapper, MapTask)) or isinstance(template, IterationTask):
            raise TypeError(
                f"{owner}: only a function task (or a map of one) can be mapped over items, got a "
                f"{type(template).__name__}; put a chain or group inside one task"
            )
        if over is not None and not callable(over):
            check_id(over, f"{owner}: over (a task id, a channel key or a function of the channel)")
        if key is not None and not callable(key):
            raise TypeError(f"{owner}: key must be a function of an item (or None), got {describe(key)}")
        if name is not None:
            check_id(name, f"{owner}: name")
        self.template = template
        self.over = over
        self.key = key
        self.param = _item_parameter(template, param, owner)
        self._item_only = self._takes_item_only(template)
        wf = _wf()
        self.tasks = []
        self.member_id_set = set()
        self.depth = 1 + (template.depth if isinstance(template, MapTask) else 0)
        if self.depth > MAX_GROUP_DEPTH:
            raise GraphCompilationError(f"{owner}: maps of maps may nest at most {MAX_GROUP_DEPTH} deep")
        self.task_id = name or template.task_id
        self.backend = "threading"
        self.backend_config = {}
        self.max_concurrency = None
        self.policy = None
        self.merge = None
        self.timeout = None
        self._stand_in(wf, owner)

    def _stand_in(self, wf: Any, owner: str) -> None:
        """Join the graph in the template's place: an unwired template leaves it (the
        map now stands for it); an id another wired task holds is refused."""
        graph = wf.graph
        template_id = self.template.task_id
        if (
            graph.nodes.get(template_id) is self.template and not graph.successors(template_id)
            and not graph.predecessors(template_id) and graph.group_holding(template_id) is None
        ):
            wf.remove_node(template_id)
        taken = graph.nodes.get(self.task_id)
        if taken is not None and taken is not self:
            raise ConfigError(
                f"{owner}: id {shown(self.task_id)} is taken by a task already wired in this workflow; "
                f"a map stands for its task under the task's id: map an unwired task, or name the map: "
                f".map(..., name={(self.task_id + '_each')!r})"
            )
        wf.register(self)

    def with_execution(self, backend: Any = None, *args: Any, **kwargs: Any) -> MapTask:
        """As ``ParallelGroup.with_execution``; backend ``"direct"`` is refused (a map's
        items each need a branch session of their own)."""
        if backend_name(backend, f"map {shown(self.task_id)}") == "direct":
            raise ValueError(f"map {shown(self.task_id)}: backend 'direct' runs no branch sessions; a map's items each need one")
        super().with_execution(backend, *args, **kwargs)
        return self

    def member(self, label: str, item: Any) -> Executable:
        """The task that runs ``item`` in its branch: a copy of the template named
        ``<map id>[<label>]`` (a dict copy: a 10,000-item map makes 10,000 of these)."""
        template = self.template
        copy = object.__new__(type(template))
        copy.__dict__.update(template.__dict__)
        copy.task_id = item_id(self.task_id, label)
        if isinstance(copy, MapTask):
            copy.handed = (item,)
            return copy
        assert isinstance(copy, TaskWrapper) and self.param is not None
        copy.bound_kwargs = {**copy.bound_kwargs, self.param: item}
        if self._item_only:
            # A plain function of the item alone: the engine calls it bare, as it calls
            # a task that takes nothing (no task context to build per item).
            copy.func = partial(copy.func, **copy.bound_kwargs)
        else:
            copy.takes_nothing = False
        return copy

    @staticmethod
    def _takes_item_only(template: Executable) -> bool:
        """``template`` is a plain ``def`` whose one parameter is the item: nothing
        else to resolve, inject or await."""
        return (
            isinstance(template, TaskWrapper) and type(template.func) is FunctionType
            and not template.func.__code__.co_flags & _ASYNC and len(template._params) == 1
            and not template.bound_kwargs and not template.inject_context and not template.inject_llm_client
            and template.inject_llm_agent is None
        )


def _item_parameter(template: Executable, param: str | None, owner: str) -> str | None:
    """The parameter of a function task ``template`` that receives each item: ``param``,
    else its first one the channel may fill; None for a map of a map (it hands items on)."""
    if isinstance(template, MapTask):
        if param is not None:
            raise TypeError(f"{owner}: param names the parameter of a function task; a map hands its items on")
        return None
    assert isinstance(template, TaskWrapper)
    names = [spec[0] for spec in template._params]
    if param is None:
        if not names:
            raise TypeError(
                f"{owner}: {template.__name__}() takes no parameter to receive an item; give it one "
                f"(def {template.__name__}(item): ...)"
            )
        return names[0]
    if param not in names:
        raise TypeError(f"{owner}: {template.__name__}() has no parameter {shown(param)}; it takes {', '.join(names) or 'none'}")
    return param


def _join_scope(task: Executable) -> None:
    """A new task joins the entered workflow (or running session), else, as in graflow,
    the default workflow."""
    wf = scope.entered()
    if wf is not None:
        wf.register_new(task)
    else:
        scope.default().adopt(task)


def _in_two_groups(member_id: str, holder: str) -> ConfigError:
    return ConfigError(
        f"task {shown(member_id)} is already a member of group {shown(holder)}; a task "
        f"in two groups would run once in each: use a second task in the other group "
        f"(t(task_id='new_id') makes one from a task t)"
    )


class _GroupRespelling:
    """``a | b`` where ``a`` and ``b`` open an existing group ``a | b | c``: graflow's
    documentation writes the same group twice (``load >> (a | b | c)``, then ``(a | b |
    c) >> aggregate``), and both mean the one group.  Spelled to its last member in
    the same order, it stands for that group (``>>``, ``<<``, its attributes); spelled
    any other way (another task, a different order, stopped short, or more members
    added) it is refused as a task in two groups, with that error's message."""

    def __init__(self, group: ParallelGroup, matched: int):
        self.group = group
        self.matched = matched

    @property
    def complete(self) -> bool:
        return self.matched == len(self.group.tasks)

    def whole(self) -> ParallelGroup:
        """The group, if spelled whole; else the refusal."""
        if not self.complete:
            raise self.refusal()
        return self.group

    def refusal(self) -> ConfigError:
        return _in_two_groups(self.group.tasks[0].task_id, self.group.task_id)

    def __or__(self, other: Any) -> _GroupRespelling:
        tasks = self.group.tasks
        if not self.complete and other is tasks[self.matched]:
            return _GroupRespelling(self.group, self.matched + 1)
        raise self.refusal()

    def __ror__(self, other: Any) -> _GroupRespelling:
        raise self.refusal()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.whole(), name)

    def __rshift__(self, other: Any) -> Any:
        return self.whole() >> other

    def __rrshift__(self, other: Any) -> Any:
        return other >> self.whole()

    def __lshift__(self, other: Any) -> Any:
        return self.whole() << other

    def __rlshift__(self, other: Any) -> Any:
        return other << self.whole()


def _respelling(left: Executable, right: Executable) -> ParallelGroup | _GroupRespelling | None:
    """The group ``left | right`` starts to write again, if it is one (see _GroupRespelling)."""
    if left.is_chain or right.is_chain:
        return None
    graph = _wf().graph
    holder = graph.group_holding(left.task_id)
    if holder is None:
        return None
    group = graph.nodes.get(holder)
    if not isinstance(group, ParallelGroup) or len(group.tasks) < 2:
        return None
    if group.tasks[0] is left and group.tasks[1] is right:
        return _GroupRespelling(group, 2)
    return None


def _join_parallel(left: Executable, right: Executable) -> ParallelGroup | _GroupRespelling:
    # ``is_group`` rather than isinstance: Executable is an ABC, and its isinstance is
    # the dearest step of a ``|`` that adds one member to a wide group.
    # A map is a group, but ``m | x`` makes it a member: it takes no members of its own.
    left_joins = left.is_group and not left.is_map
    right_joins = right.is_group and not right.is_map
    if left_joins and right_joins:
        wf = _wf()
        left_group, right_group = cast(ParallelGroup, left), cast(ParallelGroup, right)
        if not wf.successors_of(left.task_id) and not wf.successors_of(right.task_id):
            wf.remove_node(right.task_id)  # first, so its members are free to move
            for member in right_group.tasks:
                left_group.add_member(member)
            return left_group
        return ParallelGroup([left, right])
    if left_joins:
        group = cast(ParallelGroup, left)
        group.add_member(right)
        return group
    if right_joins:
        # graflow adds an edge group -> x here and runs x twice; x simply joins first.
        group = cast(ParallelGroup, right)
        group.add_member(left, index=0)
        return group
    return _respelling(left, right) or ParallelGroup([left, right])


def chain(*tasks: Executable) -> Executable:
    """``chain(a, b, c)`` is ``a >> b >> c``: for a sequence built from a list."""
    if not tasks:
        raise ValueError("chain requires at least one task: chain(a, b, ...) wires a >> b >> ...")
    result: Executable = as_node(tasks[0], None, "chain")
    for nxt in tasks[1:]:
        result = result >> nxt
    return result


def parallel(*tasks: Executable) -> ParallelGroup:
    """``parallel(a, b, c)`` is ``a | b | c``: a group whose members each run in their own
    branch session, for a fan-out built from a list."""
    if len(tasks) < 2:
        raise ValueError(
            f"parallel requires at least two tasks, got {len(tasks)}: one task needs no group; "
            f"ParallelGroup([t]) makes a group of one"
        )
    return ParallelGroup([as_node(t, None, "parallel") for t in tasks])


def as_node(value: Any, left: Executable | None, where: str) -> Executable:
    """``value`` if it can sit in a graph; else a TypeError saying what it is and,
    for a plain function, that ``@task`` is missing."""
    if type(value) in _NODE_TYPES or isinstance(value, Executable):
        return value
    if isinstance(value, _GroupRespelling):
        return value.whole()
    if left is None:
        place = f"{where}()"
    elif where == "ParallelGroup":
        place = f"group {shown(left.task_id)}"
    else:
        place = f"{shown(left._rightmost().task_id)} {where}"
    hint = ": decorate it with @task" if callable(value) else ""
    # graflow's words first (its tests match on them), then which operand and why.
    raise TypeError(
        f"Can only combine with Task, TaskWrapper, SequentialTask, or ParallelGroup: {type(value)}; "
        f"{place}: {describe(value)} is not a task or group{hint}"
    )


def _nested_ids(group: ParallelGroup) -> set[str]:
    """Ids of every group inside ``group``, at any depth (walked without recursion)."""
    found: set[str] = set()
    stack = [group]
    while stack:
        for member in stack.pop().tasks:
            if member.is_group and member.task_id not in found:
                found.add(member.task_id)
                stack.append(cast(ParallelGroup, member))
    return found


def _async_kind(func: Callable[..., Any]) -> str | None:
    """What kind of async callable ``func`` is, also behind a partial, a method or a
    callable object's ``__call__`` (None for a plain one): calling it gives an
    awaitable, never a result."""
    for target in (func, inspect.getattr_static(type(func), "__call__", None)):
        if inspect.isasyncgenfunction(target):
            return "an async generator"
        if inspect.iscoroutinefunction(target):
            return "an 'async def' function"
    return None


def _async_refusal(task_id: str) -> str:
    """Why an async generator task is refused, and what to write instead, in a few lines.

    A task has one result for its successors; a generator's items would need a stream
    the engine does not offer, and calling it would hand on an async generator object."""
    return (
        f"task {shown(task_id)} is an async generator; a task returns one result, so graflow_nb "
        f"does not take 'async def ... yield' tasks. Collect the items and return them as a list "
        f"(an 'async def' task that returns is awaited on the run's event loop)."
    )


def _check_bindable(func: Callable[..., Any], bound: dict[str, Any], owner: str) -> None:
    """Bound keywords must be parameters ``func`` takes by keyword (or it takes **kwargs)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return  # no signature to check against (some builtins)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    takes = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in bound if k not in takes]
    if unknown:
        raise TypeError(
            f"{owner}: {getattr(func, '__name__', 'the function')}() takes no parameter "
            f"{', '.join(shown(k) for k in unknown[:5])}{' ...' if len(unknown) > 5 else ''}; "
            f"it takes {', '.join(takes[:10]) or 'none'}"
        )


def _wants_context(func: Callable[..., Any]) -> bool:
    """A compensation whose first parameter is called ``ctx``/``context`` gets the context."""
    try:
        first = next(iter(inspect.signature(func).parameters), None)
    except (TypeError, ValueError):
        return False
    return first in ("ctx", "context")


# The node types themselves, so the operators test ``type(x) in _NODE_TYPES`` before
# the ABC's isinstance (which a subclass still goes through).
_NODE_TYPES = frozenset({Task, TaskWrapper, IterationTask, SequentialTask, ParallelGroup, MapTask})


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
