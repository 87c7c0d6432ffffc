"""``${step.key}`` templates: parsed once, substituted at run time, never evaluated.

A template names a root and a path: ``${fetch.response.rows}`` reads the result of step
``fetch`` and walks the keys ``response`` then ``rows`` (a digit walks into a list by
index).  Roots are step ids, ``workflow`` (the run's inputs: ``${workflow.url}``) and a
batch step's item name.  ``$${`` writes a literal ``${``.

A string that is exactly one template becomes the referenced value itself (a list stays
a list); a template embedded in longer text is formatted: dicts and lists as JSON,
anything else with ``str()``.  Nothing is ever passed to ``eval``.

>>> parse("Summarise ${fetch.response} now")
['Summarise ', Ref(root='fetch', path=('response',)), ' now']
>>> resolve("${a.n}", lambda root: {"n": [1, 2]})
[1, 2]
>>> resolve("n=${a.n.1}; raw=$${x}", lambda root: {"n": [1, 2]})
'n=2; raw=${x}'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import PicklableError
from .errors import TemplateError

_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class Ref:
    """One ``${root.path...}`` reference."""

    root: str
    path: tuple[str, ...]

    def __str__(self) -> str:
        return "${" + ".".join((self.root, *self.path)) + "}"


class TemplateSyntaxError(PicklableError, ValueError):
    """A ``${`` that does not open a well-formed reference."""


def parse(text: str) -> list[str | Ref]:
    """Split ``text`` into literal pieces and references (raises TemplateSyntaxError)."""
    parts: list[str | Ref] = []
    literal = ""
    position = 0
    for match in _TOKEN.finditer(text):
        literal += text[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token == "$${":
            literal += "${"
            continue
        inner = match.group(1)
        if inner is None:
            raise TemplateSyntaxError(f"unclosed template in {text!r}: close it with '}}' or write $${{ for a literal")
        inner = inner.strip()
        if not _REFERENCE.fullmatch(inner):
            raise TemplateSyntaxError(
                f"malformed template ${{{inner}}} in {text!r}: write ${{step}}, ${{step.key}} or ${{workflow.input}} "
                f"(names, dots and list indices only; expressions are not evaluated)"
            )
        if literal:
            parts.append(literal)
            literal = ""
        root, *path = inner.split(".")
        parts.append(Ref(root, tuple(path)))
    literal += text[position:]
    if literal:
        parts.append(literal)
    return parts


def references(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Ref | TemplateSyntaxError]]:
    """Every reference (or syntax error) in a params structure, with where it sits."""
    if isinstance(value, str):
        try:
            for part in parse(value):
                if isinstance(part, Ref):
                    yield path, part
        except TemplateSyntaxError as error:
            yield path, error
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, (*path, index))


def walk(value: Any, ref: Ref) -> Any:
    """Follow ``ref.path`` into ``value`` by dict keys and list indices."""
    current = value
    for depth, key in enumerate(ref.path):
        where = ".".join((ref.root, *ref.path[:depth])) or ref.root
        if isinstance(current, Mapping):
            if key not in current:
                known = ", ".join(repr(k) for k in list(current)[:10]) or "none"
                raise TemplateError(f"{ref}: {where} has no key {key!r} (its keys: {known})")
            current = current[key]
        elif isinstance(current, (list, tuple)) and key.isdigit():
            index = int(key)
            if index >= len(current):
                raise TemplateError(f"{ref}: {where} has {len(current)} item(s), no index {index}")
            current = current[index]
        else:
            raise TemplateError(f"{ref}: cannot read {key!r} from {where}, a {type(current).__name__}")
    return current


def format_embedded(value: Any) -> str:
    """How a value reads inside longer text: JSON for containers, ``str`` otherwise."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def substitute(text: str, lookup: Callable[[str], Any], embed: Callable[[Any], str] = format_embedded) -> str:
    """Like ``resolve`` on one string, but always text: a lone template is formatted too."""
    return "".join(part if isinstance(part, str) else embed(walk(lookup(part.root), part)) for part in parse(text))


def resolve(value: Any, lookup: Callable[[str], Any], embed: Callable[[Any], str] = format_embedded) -> Any:
    """Substitute every template in ``value`` (strings inside dicts and lists too).

    ``lookup(root)`` returns the value of a root (a step's result, the inputs...);
    ``embed`` formats values placed inside longer strings.
    """
    if isinstance(value, str):
        if "${" not in value and "$${" not in value:
            return value
        parts = parse(value)
        if len(parts) == 1 and isinstance(parts[0], Ref):
            return walk(lookup(parts[0].root), parts[0])
        return substitute(value, lookup, embed)
    if isinstance(value, Mapping):
        return {key: resolve(item, lookup, embed) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup, embed) for item in value]
    return value
