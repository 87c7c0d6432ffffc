"""Reading a pipeline document from a file, a string or a dict.

JSON and YAML are both accepted (the suffix decides for files; text starting with
``{`` is JSON).  Syntax errors, repeated keys and nesting too deep to parse become validation
issues naming the line and column, so a broken file reports like any other problem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from .depth import depth_message, too_deep_in_text
from .errors import Issue, PipelineValidationError


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except a key given twice in one mapping is an error
    (PyYAML keeps the last one silently, which hides typos in long files)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping; keep one", mark
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


def _fail(origin: str, where: str, message: str) -> PipelineValidationError:
    return PipelineValidationError([Issue(origin, where, message)])


def _json_pairs(origin: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _fail(origin, "$", f"key {key!r} appears twice in one object; keep one")
            out[key] = value
        return out

    return hook


def parse_text(text: str, origin: str, syntax: str | None = None) -> Any:
    """``syntax``: "json", "yaml" or None (JSON if the text starts with ``{``)."""
    if syntax is None:
        syntax = "json" if text.lstrip().startswith("{") else "yaml"
    deep = too_deep_in_text(text, syntax)
    if deep is not None:
        line, column, depth = deep
        raise _fail(origin, f"line {line}, column {column}", depth_message(depth))
    if syntax == "json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs(origin))
        except json.JSONDecodeError as error:
            raise _fail(
                origin, f"line {error.lineno}, column {error.colno}", f"JSON syntax error: {error.msg}"
            ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "$"
        problem = getattr(error, "problem", None) or str(error)
        raise _fail(origin, where, f"YAML syntax error: {problem}") from None


def read_file(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """The parsed document and the label messages use for it (the path as given)."""
    file = Path(path)
    origin = str(path)
    if not file.is_file():
        raise FileNotFoundError(f"pipeline file {origin!r} does not exist")
    suffix = file.suffix.lower()
    syntax = "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    return parse_text(file.read_text(encoding="utf-8"), origin, syntax), origin
