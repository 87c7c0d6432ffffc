"""graflow 0.2.0's module names, and what graflow_nb does with each.

Two lists decide everything the compatibility layer does:

    MODULES       graflow modules that exist in graflow_nb under the same path
                  (``graflow.core.task`` is ``graflow_nb.core.task``)
    NOT_OFFERED   graflow modules graflow_nb leaves out, each with what to use instead

``RefusedModules`` (installed when graflow_nb is imported) turns an import of a left-out
module, ``graflow_nb.llm`` say, into an ``ImportError`` that says what to use; the
opt-in alias (``graflow_nb.alias``) maps ``graflow.*`` names through the same lists.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

MODULES: frozenset[str] = frozenset({
    "",
    "channels", "channels.base", "channels.memory_channel", "channels.typed",
    "coordination", "coordination.coordinator",
    "core", "core.checkpoint", "core.context", "core.cycle", "core.decorators", "core.engine",
    "core.graph", "core.handler", "core.handlers", "core.handlers.direct",
    "core.handlers.group_policy", "core.retry", "core.task", "core.workflow",
    "exceptions",
    "hitl", "hitl.handler", "hitl.manager", "hitl.types",
    "utils", "utils.graph",
})

_REDIS = (
    "graflow_nb has no Redis workers, queues or channels: parallel members run on threads "
    "(the default) or, with with_execution(backend=\"dask\"), on a Dask cluster"
)
NOT_OFFERED: dict[str, str] = {
    "llm": (
        "graflow_nb has no LLM clients or agents: call your LLM library inside a @task "
        "(pass a client in through the channel or a closure)"
    ),
    "prompts": (
        "graflow_nb has no prompt managers: keep prompts in your own code or files and pass "
        "them in with execute(initial_channel={...})"
    ),
    "core.handlers.docker": (
        "graflow_nb has no Docker handler: subclass graflow_nb.core.handler.TaskHandler to run "
        "tasks where you need them, and register it with WorkflowEngine().register_handler(name, handler)"
    ),
    "worker": _REDIS,
    "coordination.redis_coordinator": _REDIS,
    "channels.redis_channel": _REDIS,
    "utils.redis_utils": _REDIS,
    "queue": "graflow_nb keeps one in-memory queue per session (graflow_nb.core.queue.InMemoryTaskQueue); " + _REDIS,
    "hitl.backend": (
        "graflow_nb keeps questions in memory on the run (nothing is written to ./feedback_data/): "
        "answer them with execution_context.feedback_manager.provide_feedback(...) or PausedRun.resume(...)"
    ),
    "api": (
        "graflow_nb has no feedback web API: answer questions with "
        "execution_context.feedback_manager.provide_feedback(feedback_id, response), "
        "PausedRun.resume(...), or the notebook's HumanInputPanel"
    ),
    "trace": (
        "graflow_nb has no tracer classes (graflow's Tracer, ConsoleTracer, LangFuseTracer): give "
        "workflow(name, tracer=...) any object with graflow's hook methods (on_task_start, on_task_end, "
        "...), or watch every event with execute(observers=[...])"
    ),
}


def refusal(relative: str) -> str | None:
    """What to use instead of the left-out module ``relative`` (or one inside it)."""
    parts = relative.split(".")
    for end in range(len(parts), 0, -1):
        message = NOT_OFFERED.get(".".join(parts[:end]))
        if message is not None:
            return message
    return None


class RefusedModules(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: a left-out ``graflow_nb.*`` module is an ImportError
    naming what to use instead (every other name is found, or not, as usual)."""

    prefix = "graflow_nb."

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname.startswith(self.prefix):
            message = refusal(fullname[len(self.prefix):])
            if message is not None:
                raise ImportError(f"{fullname} is not part of graflow_nb: {message}", name=fullname)
        return None


def install_refusals() -> None:
    if not any(isinstance(finder, RefusedModules) for finder in sys.meta_path):
        sys.meta_path.append(RefusedModules())
