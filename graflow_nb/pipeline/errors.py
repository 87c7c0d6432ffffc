"""Errors of the pipeline layer: one for bad files (every problem at once), a few for
steps that fail while running.

A file is checked completely before anything runs, and every problem found becomes an
``Issue`` naming the file, the JSON path inside it and what to change; they are raised
together as one ``PipelineValidationError`` so a user fixes a file in one pass rather
than one error per attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..core.checks import clip, shown
from ..core.errors import GraflowError, GraflowRuntimeError, PicklableError, TaskStoppedError

_PATH_ENDS = 10  # path parts kept at each end of a very deep path


def json_path(parts: Iterable[Any]) -> str:
    """``("pipeline", 1, "parallel", 0)`` -> ``$.pipeline[1].parallel[0]``; a path more
    than twenty parts deep keeps its ten outermost and ten innermost
    (``$.a.b.<180 more>.c[0]``)."""
    parts = list(parts)
    if len(parts) > 2 * _PATH_ENDS:
        hidden = len(parts) - 2 * _PATH_ENDS
        return f"{json_path(parts[:_PATH_ENDS])}.<{hidden} more>{json_path(parts[-_PATH_ENDS:])[1:]}"
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "a").replace("-", "a").isalnum() and not part[:1].isdigit():
            out += f".{part}" if len(part) <= 60 else f"[{shown(part)}]"
        else:
            out += f"[{shown(part)}]"
    return out


@dataclass(frozen=True)
class Issue:
    """One problem in one file: where it is and what to do about it."""

    origin: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.origin, "path": self.path, "message": self.message}


class PipelineError(GraflowError):
    """Base of the errors raised for pipeline files."""


class PipelineValidationError(PipelineError, ValueError):
    """A pipeline file (or dict) cannot be run as written; ``errors`` lists every problem."""

    def __init__(self, errors: list[Issue]):
        self.errors = list(errors)
        count = len(self.errors)
        head = f"{count} problem{'s' if count != 1 else ''} in pipeline"
        lines = [f"  {clip(str(issue), 400)}" for issue in self.errors[:_LISTED]]
        if count > _LISTED:
            lines.append(f"  ... and {count - _LISTED} more (all of them are in .errors)")
        super().__init__(head + ":\n" + "\n".join(lines))


_LISTED = 15  # issues spelled out in the message: it should fit on a screen



class NotExpressibleError(PipelineError):
    """``to_pipeline`` met a part of a Python-built graph the file format cannot say."""


class TemplateError(GraflowRuntimeError):
    """A ``${...}`` reference had no value when its step ran (the producer failed or
    was skipped, a key is missing, or a workflow input was not given)."""


class StepTimeoutError(PicklableError, TimeoutError):
    """A shell command or HTTP request ran past its step's ``timeout``."""


class StepStoppedError(TaskStoppedError, RuntimeError):
    """A step's command was stopped because its run was cancelled (a sibling failed,
    an interrupt): the step and its session end ``cancelled``, and the run ends with
    what cancelled it (the group's own error, the interrupt), never with this."""


class ShellCommandError(PicklableError, RuntimeError):
    """A shell step's command exited non-zero (set ``check: false`` to keep going)."""

    def __init__(self, argv: list[str] | str, exit_code: int, stdout: str, stderr: str):
        self.argv = argv
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        tail = (stderr or stdout).strip().splitlines()[-3:]
        shown = argv if isinstance(argv, str) else " ".join(argv)
        super().__init__(f"command {shown!r} exited with {exit_code}" + (f": {' | '.join(tail)}" if tail else ""))


class HttpStatusError(PicklableError, RuntimeError):
    """An http step got a 4xx/5xx answer (set ``check: false`` to receive it as data)."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"{method} {url} answered {status}: {body[:200]}")


class BatchError(PicklableError, RuntimeError):
    """A batch step with ``on_error: fail_fast`` had failing items; ``batch`` holds the
    recorded results and errors (plain data) of the items that ran."""

    def __init__(self, step_id: str, batch: dict[str, Any]):
        self.step_id = step_id
        self.batch = batch
        errors = batch["errors"]
        first = errors[0]
        super().__init__(
            f"batch step {step_id!r}: {len(errors)} of {batch['batch_metadata']['total']} item(s) failed; "
            f"first: item {first['index']} ({first['item']!r}): {first['error']}"
        )
