"""``type: python``: call a function named by import path, with the params as keywords.

``function: "package.module:name"`` (``name`` may be dotted, ``Class.method``).  A
module-level ``@task`` is accepted too; its plain function is called.  The function is
imported and its signature checked against the params before anything runs, so a typo
in a path or a parameter name is a validation error, not a failure halfway through.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from ...core.errors import PicklableError
from .base import StepContext, StepType

_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class ImportPathError(PicklableError, ValueError):
    """``module:name`` does not lead to a callable."""


def import_callable(path: str) -> Callable[..., Any]:
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ImportPathError(f"function {path!r} is not an import path: write 'package.module:function'")
    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # a module can fail to import in any way; say which
        raise ImportPathError(
            f"function {path!r}: cannot import module {module_name!r}: {type(error).__name__}: {error}"
        ) from error
    for attr in attr_path.split("."):
        if not hasattr(target, attr):
            raise ImportPathError(f"function {path!r}: {module_name!r} has no attribute {attr_path!r}")
        target = getattr(target, attr)
    target = getattr(target, "func", target) if type(target).__name__ == "TaskWrapper" else target
    if not callable(target):
        raise ImportPathError(f"function {path!r} is a {type(target).__name__}, not a callable")
    return target


def signature_problems(func: Callable[..., Any], names: list[str]) -> list[tuple[tuple, str]]:
    """Which params the function cannot take, and which of its required ones are missing."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    problems: list[tuple[tuple, str]] = []
    takes = ", ".join(sorted(accepted)) or "nothing"
    if not takes_any:
        for name in names:
            if name not in accepted:
                problems.append(
                    (
                        ("params", name),
                        f"{func.__qualname__}() has no parameter {name!r} (it takes: {takes})",
                    )
                )
    for name, p in params.items():
        required = p.default is inspect.Parameter.empty and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and name not in names:
            problems.append((("params",), f"{func.__qualname__}() needs parameter {name!r}: add it to params"))
    return problems


def check(step: dict[str, Any]) -> list[tuple[tuple, str]]:
    path = step.get("function")
    if path is None:
        return [((), "a python step needs 'function': 'package.module:function'")]
    try:
        func = import_callable(path)
    except ImportPathError as error:
        return [(("function",), str(error))]
    params = step.get("params") or {}
    return signature_problems(func, list(params)) if isinstance(params, dict) else []


def run(params: dict[str, Any], step: StepContext) -> Any:
    return import_callable(step.step.function)(**params)


PYTHON = StepType("python", run, params_schema={"type": "object"}, check=check)
