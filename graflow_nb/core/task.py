"""Tasks and the operators that wire them: ``>>`` (sequence) and ``|`` (parallel group).

Operators write into the *current* workflow (``workflow.current_workflow()``), so a task
defined in one notebook cell can be wired into a new workflow in another cell as often
as the cell is re-run: nodes join a graph when an edge first uses them, never through a
one-shot "pending registration" flag (graflow's re-run bug).
"""

from __future__ import annotations

import inspect
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from types import FunctionType
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, TaskError
from .workflow import active_workflow, current_workflow

if TYPE_CHECKING:
    from .context import TaskExecutionContext
    from .retry import RetryPolicy

_INJECTED_NAMES = frozenset({"llm_client", "llm_agent"})
_RESULT_SUFFIX = ".__result__"


_wf = current_workflow


class Executable(ABC):
    """Anything that can sit in a graph: a task, a parallel group, a pseudo node."""

    task_id: str
    is_group = False
    base_id: str | None = None  # set on iteration tasks: the task whose cycles they count
    handler_type: str | None = None
    timeout: float | None = None

    # -- chaining helpers: a SequentialTask is never a node, its ends are --------------
    def _leftmost(self) -> Executable:
        return self

    def _rightmost(self) -> Executable:
        return self

    def _chain_items(self) -> tuple[Executable, ...]:
        return (self,)

    # -- operators ---------------------------------------------------------------------
    def __rshift__(self, other: Executable) -> SequentialTask:
        _wf().link(self._rightmost(), other._leftmost())
        return SequentialTask(self._chain_items() + other._chain_items())

    def __lshift__(self, other: Executable) -> SequentialTask:
        _wf().link(other._rightmost(), self._leftmost())
        return SequentialTask(other._chain_items() + self._chain_items())

    def __or__(self, other: Executable) -> ParallelGroup:
        return _join_parallel(self, other)

    # -- execution ---------------------------------------------------------------------
    @abstractmethod
    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
        """Run this node for one attempt; the engine stores what it returns."""

    max_retries: int | None = None  # None: the run's default_max_retries
    retry_policy: RetryPolicy | None = None
    max_cycles: int | None = None  # None: the run's default_max_cycles

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id!r}>"


class Task(Executable):
    """A pseudo node that does nothing (graflow's ``Task(task_id)``)."""

    def __init__(self, task_id: str, register_to_context: bool = True):
        self.task_id = task_id
        if register_to_context:
            _wf().register(self)

    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
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
        bound_kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
        compensate: Callable[..., Any] | None = None,
    ):
        if not callable(func):
            raise TypeError(f"task {task_id!r}: {func!r} is not callable")
        self.task_id = task_id
        self.func = func
        # Settings left at their defaults stay on the class: a wide graph builds
        # thousands of these, and each store costs more than the check.
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
        self.bound_kwargs = dict(bound_kwargs) if bound_kwargs else {}
        if timeout is not None:
            if timeout <= 0:
                raise ValueError(f"task {task_id!r}: timeout must be > 0 seconds, got {timeout!r}")
            self.timeout = timeout
        if compensate is not None:
            self.compensate(compensate)
        self._params = self._parameter_specs()
        # No parameter to fill and nothing to inject: invoke calls the function bare.
        self._takes_nothing = not (
            self._params or self.bound_kwargs or inject_context or inject_llm_client or inject_llm_agent
        )
        self.__name__ = getattr(func, "__name__", task_id)
        self.__doc__ = getattr(func, "__doc__", None)
        self.__wrapped__ = func
        if register_to_context:
            wf = active_workflow()
            if wf is not None:
                wf.register(self)

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

    def resolve_kwargs(self, task_ctx: TaskExecutionContext) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        bound = self.bound_kwargs
        if self.resolve_keyword_args:
            channel = task_ctx.get_channel()
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

    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
        if self._takes_nothing:
            return self.func()
        kwargs = self.resolve_kwargs(task_ctx)
        if self.inject_context:
            return self.func(task_ctx, **kwargs)
        return self.func(**kwargs)


    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``t()`` runs the function now; ``t(task_id=..., **bound)`` makes an instance."""
        if args:
            raise TypeError(
                f"task {self.task_id!r} takes keyword arguments only when called: "
                f"{self.__name__}(task_id='name', param=value) creates a task instance; "
                f"call {self.__name__}.func(...) to run the plain function"
            )
        if kwargs:
            task_id = kwargs.pop("task_id", None) or f"{self.task_id}_{uuid.uuid4().hex[:8]}"
            return TaskWrapper(
                task_id,
                self.func,
                inject_context=self.inject_context,
                inject_llm_client=self.inject_llm_client,
                inject_llm_agent=self.inject_llm_agent,
                handler_type=self.handler_type,
                resolve_keyword_args=self.resolve_keyword_args,
                max_cycles=self.max_cycles,
                max_retries=self.max_retries,
                retry_policy=self.retry_policy,
                bound_kwargs={**self.bound_kwargs, **kwargs},
                timeout=self.timeout,
                compensate=self.compensation,
            )
        if self.inject_context:
            from .context import ExecutionContext, TaskExecutionContext
            from .graph import TaskGraph

            throwaway = ExecutionContext.create(TaskGraph(), session_id="direct_call")
            return self.func(TaskExecutionContext(self.task_id, throwaway), **self.bound_kwargs)
        return self.func(**self.bound_kwargs)


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
        )
        self.base_id: str = base.task_id
        self.data = data

    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
        # graflow passes the task context first whether or not the task asked for it.
        args = (task_ctx,) if self.data is None else (task_ctx, self.data)
        return self.func(*args, **self.bound_kwargs)


class SequentialTask(Executable):
    """What ``a >> b`` returns: a handle on a chain; its ends take part in operators."""

    def __init__(self, tasks: Iterable[Executable]):
        self.tasks = list(tasks)
        if not self.tasks:
            raise ValueError("a sequence needs at least one task")

    @property
    def task_id(self) -> str:  # type: ignore[override]  # built on demand: a long a >> b >> ... chain makes many of these
        return "SequentialTask(" + " >> ".join(t.task_id for t in self.tasks) + ")"

    def _leftmost(self) -> Executable:
        return self.tasks[0]._leftmost()

    def _rightmost(self) -> Executable:
        return self.tasks[-1]._rightmost()

    def _chain_items(self) -> tuple[Executable, ...]:
        return tuple(self.tasks)

    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
        raise TaskError(f"{self.task_id} is not a node; run its first task instead")


_BACKENDS = ("threading", "direct")


class ParallelGroup(Executable):
    """Members run concurrently, each in its own branch session; successors run once.

    Members live in ``tasks`` (declaration order decides merges and error reports);
    there are no graph edges from a group to its members, as in graflow.
    """

    is_group = True

    def __init__(self, tasks: Iterable[Executable], name: str | None = None):
        wf = _wf()
        self.tasks: list[Executable] = []
        self._member_ids: set[str] = set()
        self.task_id = name or wf.new_group_name()
        self.backend = "threading"
        self.backend_config: dict[str, Any] = {}
        self.max_concurrency: int | None = None
        self.policy: Any = None
        self.merge: Any = None
        self.timeout: float | None = None
        wf.register(self)
        for member in tasks:
            self.add_member(member)

    def add_member(self, member: Executable, index: int | None = None) -> None:
        member = member._leftmost()
        if member.task_id in self._member_ids:
            raise ConfigError(f"task {member.task_id!r} is already a member of {self.task_id!r}")
        _wf().register(member)
        self._member_ids.add(member.task_id)
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
    ) -> ParallelGroup:
        """Choose how members run (checked now, before anything runs).

        ``backend``: ``"threading"`` (default) or ``"direct"`` (members one after
        another on the calling thread, still each in its own branch session).
        ``max_concurrency`` (or graflow's ``backend_config={"thread_count": n}``) caps
        how many members run at once; 1 starts them in declaration order.
        ``policy``: see ``core.policies``; None uses the run's default
        (``execute(default_policy=...)``, itself "strict" unless set).
        ``merge``: how branch channel writes combine at fan-in (see ``core.merge``).
        ``timeout``: seconds for the whole group (default none); on expiry the
        group fails with ``GroupTimeoutError`` and running members are abandoned.
        """
        from .merge import validate_merge_spec
        from .policies import resolve_policy

        name = getattr(backend, "value", backend)
        name = "threading" if name is None else str(name).lower()
        if name not in _BACKENDS:
            raise ValueError(
                f"unknown backend {backend!r} for group {self.task_id!r}; "
                f"choose one of {', '.join(_BACKENDS)}"
            )
        config = dict(backend_config or {})
        limit = max_concurrency if max_concurrency is not None else config.get("thread_count")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"group {self.task_id!r}: max_concurrency must be a positive int, got {limit!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"group {self.task_id!r}: timeout must be > 0 seconds, got {timeout!r}")
        if policy is not None:
            resolve_policy(policy)
        validate_merge_spec(merge, self.task_id)
        self.backend = name
        self.backend_config = config
        self.max_concurrency = limit
        self.policy = policy
        self.merge = merge
        self.timeout = timeout
        return self

    def invoke(self, task_ctx: TaskExecutionContext) -> Any:
        from .coordinator import execute_group

        execute_group(self, task_ctx.execution_context)
        return None


def _join_parallel(left: Executable, right: Executable) -> ParallelGroup:
    wf = _wf()
    if isinstance(left, ParallelGroup) and isinstance(right, ParallelGroup):
        if not wf.successors_of(left.task_id) and not wf.successors_of(right.task_id):
            for member in right.tasks:
                left.add_member(member)
            wf.remove_node(right.task_id)
            return left
        return ParallelGroup([left, right])
    if isinstance(left, ParallelGroup):
        left.add_member(right)
        return left
    if isinstance(right, ParallelGroup):
        # graflow adds an edge group -> x here and runs x twice; x simply joins first.
        right.add_member(left, index=0)
        return right
    return ParallelGroup([left, right])


def chain(*tasks: Executable) -> Executable:
    if not tasks:
        raise ValueError("chain() needs at least one task")
    result: Executable = tasks[0]
    for nxt in tasks[1:]:
        result = result >> nxt
    return result


def parallel(*tasks: Executable) -> ParallelGroup:
    if len(tasks) < 2:
        raise ValueError("parallel() needs at least two tasks")
    return ParallelGroup(list(tasks))


def _wants_context(func: Callable[..., Any]) -> bool:
    """A compensation whose first parameter is called ``ctx``/``context`` gets the context."""
    try:
        first = next(iter(inspect.signature(func).parameters), None)
    except (TypeError, ValueError):
        return False
    return first in ("ctx", "context")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
