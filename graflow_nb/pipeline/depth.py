"""How deep a pipeline document nests, measured without recursion.

Python's JSON and YAML parsers, ``copy.deepcopy`` and the schema check all recurse
once per level, so a file of ten million ``[`` ends in a bare ``RecursionError`` (or,
with libyaml, a crash).  Documents nesting deeper than ``MAX_DOCUMENT_DEPTH`` lists
and mappings are refused first, as an ``Issue`` naming where the limit was crossed:
line and column in text, the JSON path in a dict.  The limit leaves room for
``MAX_GROUP_DEPTH`` parallel blocks written the roomiest way
(``{parallel: [{pipeline: [...]}]}`` is four levels per block) plus deep ``params``.

>>> too_deep_in_text('{"a": [[1]]}', "json", limit=2)
(1, 8, 3)
>>> too_deep_in_object({"a": [[1]]}, limit=2)
(('a', 0), 3)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_DOCUMENT_DEPTH = 200

_JSON_TOKENS = re.compile(r'[\[\]{}"\\\n]')


def too_deep_in_text(text: str, syntax: str, limit: int = MAX_DOCUMENT_DEPTH) -> tuple[int, int, int] | None:
    """``(line, column, depth)`` (1-based) of the first opening that goes past
    ``limit``, or None.  Syntax errors are left to the real parser."""
    if syntax == "json":
        return _json_depth(text, limit)
    return _yaml_depth(text, limit)


def _json_depth(text: str, limit: int) -> tuple[int, int, int] | None:
    depth = 0
    line, line_start = 1, 0
    in_string = False
    escaped_at = -1  # the position a backslash inside a string escapes
    for match in _JSON_TOKENS.finditer(text):
        char, at = match.group(), match.start()
        if char == "\n":
            line, line_start = line + 1, at + 1
            continue
        if in_string:
            if at == escaped_at:
                continue
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line, at - line_start + 1, depth
        elif char in "]}":
            depth -= 1
    return None


def _yaml_depth(text: str, limit: int) -> tuple[int, int, int] | None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    mark = event.start_mark
                    return mark.line + 1, mark.column + 1, depth
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # the loader reports it, with its position
    return None


def too_deep_in_object(document: Any, limit: int = MAX_DOCUMENT_DEPTH) -> tuple[tuple, int] | None:
    """``(path parts, depth)`` of the first list or mapping nested past ``limit``."""
    stack: list[tuple[Any, tuple]] = [(document, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, (list, tuple)):
            children = list(enumerate(value))
        else:
            continue
        if len(parts) + 1 > limit:
            return parts, len(parts) + 1
        stack.extend((child, (*parts, key)) for key, child in reversed(children))
    return None


def depth_message(depth: int, limit: int = MAX_DOCUMENT_DEPTH) -> str:
    return (
        f"lists and mappings nest {depth} deep here; at most {limit} levels are read "
        f"(a pipeline needs far fewer): flatten this part of the document"
    )
