"""The JSON Schema shipped with the package, and its errors in plain words.

``schema.json`` states the file's shape (which keys, which types, which values); this
module runs it with ``jsonschema`` and rewrites each error as "where: what to change",
since "Additional properties are not allowed" helps nobody find a typo.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# Names people write by habit (other tools, the design notes) -> ours.
ALIASES = {
    "max_concurrent": "max_concurrency",
    "concurrency": "max_concurrency",
    "retries": "max_retries",
    "retry": "max_retries",
    "depends_on": "edges (edge format) or the order of the pipeline list",
    "source": "from",
    "target": "to",
    "args": "params",
    "kwargs": "params",
    "with": "params",
    "command": "cmd",
    "callable": "function",
}

_ON_ERROR_HINT = {
    "parallel": "use fail_fast (the default), continue (alias ignore) or rollback",
    "batch": "use fail_fast (the default), continue or ignore (rollback applies to parallel blocks only)",
    "map": "use fail_fast (the default), continue or ignore (rollback applies to parallel blocks only)",
}

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def pipeline_schema() -> dict[str, Any]:
    """The pipeline file JSON Schema (``graflow_nb/pipeline/schema.json``)."""
    text = resources.files("graflow_nb.pipeline").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _unknown_key(key: str, allowed: list[str]) -> str:
    if key in ALIASES:
        return f"unknown key {key!r}: did you mean {ALIASES[key]}?"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}: did you mean {close[0]!r}?"
    return f"unknown key {key!r} (allowed here: {', '.join(allowed)})"


def explain(error: ValidationError, where: tuple) -> Iterator[tuple[tuple, str]]:
    """``(path parts, message)`` for one jsonschema error found at ``where``."""
    kind = error.validator
    value = error.instance
    last = where[-1] if where else None
    parent = where[-2] if len(where) >= 2 else None
    if kind == "required":
        for key in error.validator_value:
            if isinstance(value, dict) and key not in value:
                yield where, f"missing required key {key!r}"
    elif kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in value:
            if key not in allowed:
                yield (*where, key), _unknown_key(key, allowed)
    elif kind == "enum":
        if last == "on_error":
            block = parent if parent in ("batch", "map") else "parallel"
            yield where, f"unknown on_error {value!r}: {_ON_ERROR_HINT[block]}"
        else:
            yield where, f"{value!r} is not allowed here: use one of {', '.join(map(str, error.validator_value))}"
    elif kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(w, w) for w in wanted)
        if isinstance(last, int) and parent in ("pipeline", "parallel"):
            yield where, f"expected a step ({{id, type, ...}}) or a block ({{parallel: [...]}}), got {_kind(value)}"
        else:
            yield where, f"expected {words}, got {_kind(value)}"
    elif kind == "minItems":
        if last == "parallel":
            yield where, "empty parallel block: put at least one step in it, or remove the block"
        elif last == "pipeline":
            yield where, "empty pipeline: add at least one step"
        else:
            yield where, f"must not be empty (at least {error.validator_value} item)"
    elif kind == "pattern":
        yield where, f"{value!r} is not a valid name: use letters, digits, '_' and '-', starting with a letter or '_'"
    elif kind == "propertyNames":
        yield where, f"{value!r} is not a valid input name: use letters, digits, '_' and '-'"
    elif kind == "minimum":
        yield where, f"{value!r} is too small: use a value >= {error.validator_value}"
    elif kind == "exclusiveMinimum":
        yield where, f"{value!r} is too small: use a value > {error.validator_value}"
    elif kind == "minLength":
        yield where, "must not be empty"
    elif kind == "oneOf" and last == "cmd":
        yield where, "cmd must be a non-empty string or a non-empty list of strings"
    else:
        yield where, error.message


def schema_problems(instance: Any, schema: dict[str, Any], prefix: tuple = ()) -> list[tuple[tuple, str]]:
    """Every way ``instance`` breaks ``schema``, as ``(path parts, message)``."""
    out: list[tuple[tuple, str]] = []
    for error in Draft202012Validator(schema).iter_errors(instance):
        where = (*prefix, *error.absolute_path)
        if error.validator == "propertyNames":
            where = (*where, error.instance)
        out.extend(explain(error, where))
    return out
