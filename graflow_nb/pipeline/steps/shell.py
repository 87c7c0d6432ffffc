"""``type: shell``: run a command, capture stdout/stderr and the exit code.

``cmd`` is an argv list (``["grep", "-c", "${fetch.word}", "data.txt"]``) or a string
split like a shell would (``"grep -c ${fetch.word} data.txt"``), always *before*
templates are substituted, and run without a shell: a value with spaces, quotes or
``;`` stays one argument and cannot start another command.

``shell: true`` runs a ``cmd`` string through ``/bin/sh`` (pipes, globs, redirection).
That trusts the file's author with the shell; substituted values are still quoted with
``shlex.quote`` so they cannot, but prefer argv lists whenever data comes from outside.

Params: ``cmd``, ``shell`` (false), ``cwd``, ``env`` (added to the environment),
``stdin`` (text fed to the command), ``check`` (true: a non-zero exit fails the step).
The step's ``timeout`` kills the command after that many seconds.
Result: ``{"stdout", "stderr", "exit_code"}``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from typing import Any

from ..errors import ShellCommandError, StepTimeoutError
from ..templates import format_embedded, resolve, substitute
from . import StepContext, StepType

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
    if isinstance(cmd, str) and params.get("shell") is not True:
        try:
            shlex.split(cmd)
        except ValueError as error:
            return [
                (("params", "cmd"), f"cannot split {cmd!r} into arguments ({error}); close the quote or use a list")
            ]
    return []


def resolve_params(params: dict[str, Any], lookup: Callable[[str], Any]) -> dict[str, Any]:
    """Substitute templates per argument (argv) or shell-quoted (``shell: true``)."""
    out = resolve({k: v for k, v in params.items() if k != "cmd"}, lookup)
    cmd = params["cmd"]
    if params.get("shell"):
        out["cmd"] = substitute(cmd, lookup, lambda value: shlex.quote(format_embedded(value)))
    else:
        argv = shlex.split(cmd) if isinstance(cmd, str) else cmd
        out["cmd"] = [substitute(arg, lookup) for arg in argv]
    if "env" in out:
        out["env"] = {str(k): format_embedded(v) for k, v in out["env"].items()}
    return out


def run(params: dict[str, Any], step: StepContext) -> dict[str, Any]:
    cmd = params["cmd"]
    env = {**os.environ, **params["env"]} if params.get("env") else None
    try:
        done = subprocess.run(
            cmd,
            shell=bool(params.get("shell")),
            cwd=params.get("cwd"),
            env=env,
            input=params.get("stdin"),
            capture_output=True,
            text=True,
            timeout=step.timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise StepTimeoutError(
            f"step {step.step_id!r}: command {cmd!r} ran longer than {step.timeout}s and was killed"
        ) from error
    except FileNotFoundError as error:
        program = cmd[0] if isinstance(cmd, list) else cmd
        raise FileNotFoundError(f"step {step.step_id!r}: command not found: {program!r}") from error
    result = {"stdout": done.stdout, "stderr": done.stderr, "exit_code": done.returncode}
    if done.returncode != 0 and params.get("check", True):
        raise ShellCommandError(cmd, done.returncode, done.stdout, done.stderr)
    return result


SHELL = StepType("shell", run, params_schema=SCHEMA, supports_timeout=True, check=check, resolve_params=resolve_params)
