"""``type: shell``: run a command, capture stdout/stderr and the exit code.

``cmd`` is an argv list (``["grep", "-c", "${fetch.word}", "data.txt"]``) or a string
split like a shell would (``"grep -c ${fetch.word} data.txt"``), always *before*
templates are substituted, and run without a shell: a value with spaces, quotes or
``;`` stays one argument and cannot start another command.

``shell: true`` runs a ``cmd`` string through ``/bin/sh`` (pipes, globs, redirection).
Substituted values are never pasted into the script: each template becomes a quoted
reference to an environment variable holding the value (``shell_script``), so the
shell cannot read a value as code, whether the template is bare or inside quotes.

The command runs in a process group of its own; a timeout, a cancelled run or an
interrupt stops the whole group (SIGTERM, then SIGKILL), see ``process_group``.

Params: ``cmd``, ``shell`` (false), ``cwd``, ``env`` (added to the environment),
``stdin`` (text fed to the command), ``check`` (true: a non-zero exit fails the step).
The step's ``timeout`` stops the command after that many seconds.
Result: ``{"stdout", "stderr", "exit_code"}``.
"""

from __future__ import annotations

import errno
import os
import shlex
from collections.abc import Callable
from subprocess import PIPE
from typing import Any

from ..errors import ShellCommandError, StepStoppedError, StepTimeoutError, TemplateError
from ..templates import parse, resolve, substitute
from .base import StepContext, StepType
from .process_group import GroupStopped
from .process_group import run as run_in_group
from .shell_script import checked_text, script_values, shell_script

SCHEMA = {
    "type": "object",
    "properties": {
        "cmd": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
        "shell": {"type": "boolean"},
        "cwd": {"type": "string"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "stdin": {"type": "string"},
        "check": {"type": "boolean"},
    },
    "required": ["cmd"],
    "additionalProperties": False,
}


def check(step: dict[str, Any]) -> list[tuple[tuple, str]]:
    params = step.get("params")
    if not isinstance(params, dict):
        return []
    cmd = params.get("cmd")
    if params.get("shell") is True and not isinstance(cmd, str):
        return [(("params", "cmd"), "shell: true runs a command string: give cmd as one string, or drop shell: true")]
    if params.get("shell") is True:
        try:
            shell_script(cmd)
        except (TemplateError, ValueError) as error:
            return [(("params", "cmd"), str(error))]
    elif isinstance(cmd, str):
        try:
            shlex.split(cmd)
        except ValueError as error:
            return [
                (("params", "cmd"), f"cannot split {cmd!r} into arguments ({error}); close the quote or use a list")
            ]
    return []


def resolve_params(params: dict[str, Any], lookup: Callable[[str], Any]) -> dict[str, Any]:
    """Substitute templates per argument (argv), or as environment variables the
    script reads (``shell: true``)."""
    out = resolve({k: v for k, v in params.items() if k != "cmd"}, lookup)
    env = {str(k): checked_text(f"env {k!r}", v) for k, v in out.get("env", {}).items()}
    cmd = params["cmd"]
    if params.get("shell"):
        script, refs = shell_script(cmd)
        out["cmd"] = script
        env.update(script_values(refs, lookup))
    else:
        argv = shlex.split(cmd) if isinstance(cmd, str) else cmd
        out["cmd"] = [_argument(arg, lookup) for arg in argv]
    if env:
        out["env"] = env
    return out


def _argument(arg: str, lookup: Callable[[str], Any]) -> str:
    text = substitute(arg, lookup)
    if "\0" in text:
        ref = next((part for part in parse(arg) if not isinstance(part, str)), arg)
        checked_text(ref, text)
    return text


def run(params: dict[str, Any], step: StepContext) -> dict[str, Any]:
    cmd = params["cmd"]
    argv = ["/bin/sh", "-c", cmd] if params.get("shell") else cmd
    env = {**os.environ, **params["env"]} if params.get("env") else None
    task = step.task_context
    try:
        exit_code, stdout, stderr = run_in_group(
            argv, params.get("stdin"), step.timeout, lambda: task is not None and task.cancelled,
            cwd=params.get("cwd"), env=env, stdout=PIPE, stderr=PIPE, text=True,
        )
    except FileNotFoundError as error:
        raise FileNotFoundError(f"step {step.step_id!r}: command not found: {argv[0]!r}") from error
    except GroupStopped as stopped:
        if stopped.reason == "timeout":
            raise StepTimeoutError(
                f"step {step.step_id!r}: command {cmd!r} ran longer than {step.timeout}s and was killed, "
                f"with every process it started"
            ) from None
        raise StepStoppedError(
            f"step {step.step_id!r}: the run was cancelled; command {cmd!r} and every process it started were stopped"
        ) from None
    except OSError as error:
        if error.errno != errno.E2BIG:
            raise
        size = sum(len(a) for a in argv) + sum(len(v) for v in (params.get("env") or {}).values())
        raise OSError(
            error.errno,
            f"step {step.step_id!r}: the command's arguments and environment ({size} characters) are more than the "
            f"system lets one command have; pass large values with stdin or a file",
        ) from error
    result = {"stdout": stdout, "stderr": stderr, "exit_code": exit_code}
    if exit_code != 0 and params.get("check", True):
        raise ShellCommandError(cmd, exit_code, stdout, stderr)
    return result


SHELL = StepType("shell", run, params_schema=SCHEMA, supports_timeout=True, check=check, resolve_params=resolve_params)
