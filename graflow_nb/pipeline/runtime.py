"""What runs when a step's task runs: substitute templates from the channel, call the type.

Each step becomes one ``TaskWrapper`` whose function is a ``StepTask``.  Templates are
substituted at run time from the session's channel, so a step in a branch reads the
values its branch sees (``<id>.__result__``, the task results) and a step after a
parallel block reads what the block merged.  Workflow inputs are channel keys given at
``execute(initial_channel=...)``, falling back to the defaults the file declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..core.checks import clip
from .batch import run_items
from .errors import TemplateError
from .model import Input, Step
from .steps import StepContext, get_step_type
from .steps.python import ImportPathError, import_callable
from .templates import resolve

_MISSING: Any = object()


class _Inputs(Mapping):
    """``${workflow.x}``: channel key ``x``, else the declared default."""

    def __init__(self, channel: Any, inputs: dict[str, Input]):
        self._channel = channel
        self._inputs = inputs

    def __contains__(self, key: object) -> bool:
        # Always "present", so a missing input reaches __getitem__ and its precise message.
        return True

    def __getitem__(self, key: str) -> Any:
        value = self._channel.get(key, _MISSING)
        if value is not _MISSING:
            return value
        declared = self._inputs.get(key)
        if declared is not None and not declared.required:
            return declared.default
        raise TemplateError(
            f"workflow input {key!r} was not given: run with --input {key}=... "
            f"or execute(initial_channel={{{key!r}: ...}})"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)


def channel_lookup(
    get_result: Callable[[str, Any], Any], channel: Any, inputs: dict[str, Input]
) -> Callable[[str], Any]:
    """``lookup(root)`` for templates: ``workflow`` -> inputs, a step id -> its result."""

    def lookup(root: str) -> Any:
        if root == "workflow":
            return _Inputs(channel, inputs)
        value = get_result(root, _MISSING)
        if value is _MISSING:
            raise TemplateError(
                f"step {root!r} has no output here: it failed, was skipped, or has not run in this session"
            )
        return value

    return lookup


def call_step(step: Step, params: dict[str, Any], context: StepContext) -> Any:
    stype = get_step_type(step.type)
    if stype is None:
        raise TemplateError(f"step {step.id!r}: step type {step.type!r} is no longer registered")
    return stype.run(params, context)


def substitute(step: Step, lookup: Callable[[str], Any]) -> dict[str, Any]:
    stype = get_step_type(step.type)
    try:
        return stype.substitute(step.params, lookup)
    except TemplateError as error:
        raise TemplateError(clip(f"step {step.id!r} ({step.path}): {error}", 600)) from None


class MapItemsReader:
    """What a ``map:`` step maps over: its ``items`` (a list, or one template) read
    from the session's channel when the map runs (``MapTask``'s ``over``)."""

    def __init__(self, step: Step, inputs: dict[str, Input]):
        assert step.map is not None
        self.step = step
        self.inputs = inputs
        self.__name__ = f"{step.id}.map.items"

    def __call__(self, channel: Any) -> Any:
        step = self.step
        assert step.map is not None

        def get_result(root: str, default: Any) -> Any:
            return channel.get(root + ".__result__", default)

        try:
            return resolve(step.map.items, channel_lookup(get_result, channel, self.inputs))
        except TemplateError as error:
            raise TemplateError(clip(f"step {step.id!r} ({step.path}.map.items): {error}", 600)) from None


class StepTask:
    """The function of one step's task (the engine passes its task context)."""

    def __init__(self, step: Step, inputs: dict[str, Input]):
        self.step = step
        self.inputs = inputs
        self.__name__ = step.id
        self.__doc__ = step.raw.get("description") or f"{step.type} step {step.id!r} ({step.path})"
        if step.type == "python":
            # The function it calls, which the re-run cache keys it by (core.cache.keys); not
            # __wrapped__, which inspect.signature would follow to the function's parameters.
            try:
                self.keyed_function = import_callable(step.function)
            except ImportPathError:
                pass  # validation says so; such a step is never cached (compile.py)

    def __call__(self, task_ctx: Any, item: Any = _MISSING) -> Any:
        """One run of the step; ``item``: a ``map:`` step's item (its map binds it)."""
        step = self.step
        lookup = channel_lookup(task_ctx.get_result, task_ctx.get_channel(), self.inputs)
        if step.batch is not None:
            return self._batch(task_ctx, lookup)
        if item is not _MISSING and step.map is not None:
            name, outer = step.map.name, lookup

            def lookup(root: str) -> Any:
                return item if root == name else outer(root)

        params = substitute(step, lookup)
        # The session id from the session itself: a python step's function never sees it, so
        # reading it is no input of the step's (the re-run cache keys a task that reads it).
        context = StepContext(
            step.id, task_ctx.execution_context.session_id, step.timeout, task_ctx.retry_count + 1, task_ctx, step,
            None if item is _MISSING else item,
        )
        return call_step(step, params, context)

    def _batch(self, task_ctx: Any, lookup: Callable[[str], Any]) -> dict[str, Any]:
        step = self.step
        batch = step.batch
        session_id = task_ctx.execution_context.session_id  # as in __call__
        try:
            items = resolve(batch.items, lookup)
        except TemplateError as error:
            raise TemplateError(clip(f"step {step.id!r} ({step.path}.batch.items): {error}", 600)) from None
        if not isinstance(items, (list, tuple)):
            raise TypeError(f"step {step.id!r}: batch items {batch.items!r} gave a {type(items).__name__}, not a list")

        def one(item: Any, attempt: int) -> Any:
            def item_lookup(root: str) -> Any:
                return item if root == batch.name else lookup(root)

            params = substitute(step, item_lookup)
            context = StepContext(step.id, session_id, step.timeout, attempt, task_ctx, step, item)
            return call_step(step, params, context)

        return run_items(step, list(items), one, lambda: task_ctx.cancelled)

    def __repr__(self) -> str:
        return f"<StepTask {self.step.type} {self.step.id!r}>"
