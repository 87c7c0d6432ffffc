"""``@task`` in every form graflow accepts."""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any, TypedDict, Unpack, overload

from ..checks import check_id, describe, shown
from .retry import RetryPolicy
from .task import TaskWrapper


class TaskOptions(TypedDict, total=False):
    """The keyword options of ``@task``, spelled once for the two typed forms below."""

    id: str | None
    inject_context: bool
    inject_llm_client: bool
    inject_llm_agent: str | None
    handler: str | None
    resolve_keyword_args: bool
    max_cycles: int | None
    max_retries: int | None
    retry_policy: RetryPolicy | None
    timeout: float | None
    compensate: Callable[..., Any] | None
    cache: bool | None
    side_effects: bool


# ``@task`` on a function gives the task; ``@task(...)`` / ``@task("id")`` gives a
# decorator. Telling them apart lets a type checker see a TaskWrapper in both cases.
@overload
def task(id_or_func: Callable[..., Any], /, **options: Unpack[TaskOptions]) -> TaskWrapper: ...
@overload
def task(
    id_or_func: str | None = None, /, **options: Unpack[TaskOptions]
) -> Callable[[Callable[..., Any]], TaskWrapper]: ...
def task(
    id_or_func: str | Callable[..., Any] | None = None,
    *,
    id: str | None = None,
    inject_context: bool = False,
    inject_llm_client: bool = False,
    inject_llm_agent: str | None = None,
    handler: str | None = None,
    resolve_keyword_args: bool = True,
    max_cycles: int | None = None,
    max_retries: int | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
    compensate: Callable[..., Any] | None = None,
    cache: bool | None = None,
    side_effects: bool = False,
) -> TaskWrapper | Callable[[Callable[..., Any]], TaskWrapper]:
    """Turn a function into a task: ``@task``, ``@task()``, ``@task("id")``,
    ``@task("id", inject_context=True)`` or ``@task(id="id")``.

    Inside ``with workflow(...)`` the task joins that workflow at once; outside, it
    joins whichever workflow first wires it with ``>>`` or ``|``.  Beyond graflow:
    ``timeout`` (seconds per attempt; the task fails with ``TaskTimeoutError``) and
    ``compensate`` (what undoes it under a group's ``policy="rollback"``), ``cache``
    and ``side_effects`` (``execute(cache=...)``: see ``graflow_nb.core.cache``).
    """
    given = _given_id(id_or_func, id)
    # Only an id (the common case in a cell): no options to pass on, and ``wrap`` keeps
    # two variables alive instead of twelve (each a cell made on every call).
    options: dict[str, Any] | None = None
    if (
        inject_context or inject_llm_client or inject_llm_agent is not None or handler is not None
        or not resolve_keyword_args or max_cycles is not None or max_retries is not None
        or retry_policy is not None or timeout is not None or compensate is not None
        or cache is not None or side_effects
    ):
        options = {
            "inject_context": inject_context, "inject_llm_client": inject_llm_client,
            "inject_llm_agent": inject_llm_agent, "handler_type": handler,
            "resolve_keyword_args": resolve_keyword_args, "max_cycles": max_cycles,
            "max_retries": max_retries, "retry_policy": retry_policy, "timeout": timeout,
            "compensate": compensate, "cache": cache, "side_effects": side_effects,
        }

    def wrap(func: Callable[..., Any]) -> TaskWrapper:
        if type(func) is not FunctionType and isinstance(func, TaskWrapper):
            raise TypeError(f"{shown(func.task_id)} is already a task")
        task_id = given or _default_id(func)
        if options is None:
            return TaskWrapper(task_id, func)
        return TaskWrapper(task_id, func, **options)

    if callable(id_or_func) and not isinstance(id_or_func, str):
        return wrap(id_or_func)
    return wrap


def _given_id(id_or_func: str | Callable[..., Any] | None, id: str | None) -> str | None:
    """The id ``@task`` was given, checked (None: the function's name will be used)."""
    if id is not None and (type(id) is not str or not id):
        check_id(id, "task(id=...)")
    if isinstance(id_or_func, str):
        check_id(id_or_func, "task(id)")
        if id is not None and id_or_func != id:
            raise ValueError(f"task id given twice: {shown(id_or_func)} and id={shown(id)}")
        return id_or_func
    if id_or_func is not None and not callable(id_or_func):
        raise TypeError(f"task() takes a function or an id string, got {describe(id_or_func)}")
    return id


def _default_id(func: Callable[..., Any]) -> str:
    """The function's name; a lambda, partial or callable object has none worth using
    (every lambda is ``<lambda>``), so it must be given an id."""
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise TypeError(
            f"task(): {describe(func)} has no name to use as the task id; give one: "
            f"task('my_id')(...)"
        )
    return name
