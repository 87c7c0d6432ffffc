"""Where a new task goes: one context variable, set by whoever is wiring.

``with workflow("x")`` enters the workflow; while a task runs, the engine enters its
session, so ``a >> b`` or ``@task`` inside a task adds to that session only (the graph
is read-only while runs use it).  Branch threads and timed attempts run in a copy of
the context that started them, so they find the right scope without being told.
Outside any of these, tasks go to the default workflow, which the front door
(``core.workflow``) names once with ``provide_default``.

A scope is anything with the methods of ``Scope``; the task model calls nothing else,
so it never imports the workflow or the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Protocol


class Scope(Protocol):
    """What the task model asks of the place new tasks go."""

    graph: Any

    @property
    def workflow(self) -> Any:
        """The workflow this scope wires (a running session: its run's), or None."""

    @property
    def running_session(self) -> Any:
        """The session whose task is running here, or None while wiring a workflow."""

    def register(self, task: Any) -> None: ...
    def register_new(self, task: Any) -> None: ...
    def link(self, left: Any, right: Any) -> None: ...
    def successors_of(self, task_id: str) -> list[str]: ...
    def remove_node(self, task_id: str) -> None: ...
    def rename_node(self, old_id: str, new_id: str) -> None: ...
    def new_group_name(self) -> str: ...
    def direct_call_context(self, task_id: str) -> Any:
        """A throwaway task context for a task called directly, outside its run."""


class TaskContext(Protocol):
    """What a task's ``invoke`` reads of the context it runs in (the runtime's
    ``TaskExecutionContext`` is one): the model knows no more of the runtime than this."""

    task_id: str

    @property
    def session_id(self) -> str: ...
    @property
    def llm_client(self) -> Any: ...
    def get_channel(self) -> Any: ...
    def input_channel(self) -> Any:
        """The channel its parameters are read from (``get_channel()`` is what its code
        gets, which a run may watch)."""
    def get_llm_agent(self, name: str) -> Any: ...
    def run_coroutine(self, coroutine: Any) -> Any:
        """Run an async task's ``coroutine`` to its end on the run's loop; its result."""


_scope: ContextVar[Any] = ContextVar("graflow_nb_scope", default=None)
_default: list[Any] = []  # [the default workflow], made on first use
_default_factory: list[Callable[[], Any]] = []  # [how to make it]: the front door's own


# The variable's own methods, not wrappers: the engine enters a session per session and
# every ``>>`` reads the scope, so these cost what one ContextVar call costs.
entered: Callable[[], Any] = _scope.get  # the scope entered here (a workflow or a running session), or None
enter: Callable[[Any], Token[Any]] = _scope.set  # make it current; leave(token) restores the one before
leave: Callable[[Token[Any]], None] = _scope.reset


def current() -> Scope:
    """Where a new task goes: the entered scope, else the default workflow."""
    scope = _scope.get()
    return scope if scope is not None else default()


def active_workflow() -> Any:
    """The workflow of the enclosing ``with workflow(...)`` block or running task."""
    scope = _scope.get()
    return None if scope is None else scope.workflow


def running_session() -> Any:
    """The session whose task runs on this thread (None outside tasks)."""
    scope = _scope.get()
    return None if scope is None else scope.running_session


def provide_default(factory: Callable[[], Any]) -> None:
    """Name how the default workflow is made (the front door does, once, on import)."""
    _default_factory[:] = [factory]


def default() -> Any:
    """The process-wide workflow for wiring outside any block, made on first use."""
    if not _default:
        _default.append(_default_factory[0]())
    return _default[0]
