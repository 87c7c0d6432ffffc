"""The two values every step type deals in: ``StepContext`` (what a step's ``run``
gets besides its params) and ``StepType`` (a registered type).  The built-in types
(http, python, shell) import them from here, and the registry in ``steps/__init__``
imports the built-ins, so nothing imports back into the package's ``__init__``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..templates import resolve


@dataclass
class StepContext:
    """What a step type's ``run`` gets besides its params."""

    step_id: str
    session_id: str | None
    timeout: float | None
    attempt: int
    task_context: Any  # the engine's TaskExecutionContext of the running task
    step: Any  # the model.Step being run
    item: Any = None  # the current item, in a batch


@dataclass
class StepType:
    """A registered step type.

    ``params_schema``: JSON Schema for the step's params, checked before anything runs.
    ``supports_timeout``: the type enforces ``StepContext.timeout`` itself (a subprocess
    or socket timeout); otherwise the engine times the step's task and abandons it.
    ``check(step_dict) -> [(path, message)]``: further checks before anything runs.
    ``resolve_params(params, lookup)``: how templates are substituted (default: all strings).
    """

    name: str
    run: Callable[[dict[str, Any], StepContext], Any]
    params_schema: dict[str, Any] | None = None
    supports_timeout: bool = False
    check: Callable[[dict[str, Any]], list[tuple[tuple, str]]] | None = None
    resolve_params: Callable[[dict[str, Any], Callable[[str], Any]], dict[str, Any]] | None = None

    def substitute(self, params: dict[str, Any], lookup: Callable[[str], Any]) -> dict[str, Any]:
        if self.resolve_params is not None:
            return self.resolve_params(params, lookup)
        return resolve(params, lookup)
