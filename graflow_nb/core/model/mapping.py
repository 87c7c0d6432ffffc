"""What a map node maps over: a value known only at run time, turned into items.

``summarize.map(over="fetch")`` forks one branch session per item of ``fetch``'s
result.  This module decides, from the value alone, what the items are and what
each is called, so the runtime (which forks) and the snapshot (which finds a map's
keys again) agree:

    a list, tuple, range, generator or any iterable
              items in iteration order, labelled 0, 1, 2 ...; results come back as a
              list in that order
    a mapping (a dict) items are its values, labelled by its keys; results come back
              as a dict with the same keys, in the mapping's order
    ``key=f`` items in iteration order, labelled ``f(item)``; results as a dict

A label becomes part of the item's task id, ``summarize[3]`` or ``summarize[doc-7]``,
and of its branch session's id; any characters are allowed (renders quote them).
Two items with the same label would be two branches with one id: refused, naming
both.  A value that is no iterable (or a str/bytes, which would map over its
characters), or an iteration that raises, is one ``MapItemsError`` naming the map and
the value's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..checks import describe, shown
from ..errors import MapItemsError


@dataclass(frozen=True, slots=True)
class MapItems:
    """The items of one map, in order: ``labels[i]`` names ``items[i]``; ``keys`` are
    the result dict's keys (None: results are a list)."""

    items: list[Any]
    labels: list[str]
    keys: list[Any] | None
    source_key: str | None = None  # the channel key they were read from (None: handed in)


def label_of(key: Any) -> str:
    """How a key reads inside an id: a str as itself, anything else as its repr."""
    return key if isinstance(key, str) else repr(key)


def item_id(map_id: str, label: str) -> str:
    return f"{map_id}[{label}]"


def map_items(value: Any, map_id: str, source: str, key: Callable[[Any], Any] | None = None) -> MapItems:
    """The items of ``value`` (what ``source`` held) for map ``map_id``; see the module
    docstring.  Every error is a ``MapItemsError`` naming the map and what it read."""
    where = f"map {shown(map_id)} over {source}"
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise MapItemsError(
            f"{where}: got {describe(value)}, which is not a collection of items; a map needs a list, "
            f"tuple, dict, generator or other iterable (a str would map over its characters: "
            f"wrap it in a list)"
        )
    if isinstance(value, Mapping) and key is None:
        try:
            keys = list(value.keys())
            items = [value[k] for k in keys]
        except Exception as error:
            raise _iteration_failed(where, value, error) from error
        labels = [label_of(k) for k in keys]
        _check_unique(where, labels, keys)
        return MapItems(items, labels, keys)
    try:
        items = list(value)
    except Exception as error:
        raise _iteration_failed(where, value, error) from error
    if key is None:
        return MapItems(items, [str(i) for i in range(len(items))], None)
    keys = []
    for index, item in enumerate(items):
        try:
            keys.append(key(item))
        except Exception as error:
            raise MapItemsError(
                f"{where}: key function {getattr(key, '__name__', describe(key))} raised "
                f"{type(error).__name__} on item {index} ({describe(item)}): {str(error)[:300]}"
            ) from error
    labels = [label_of(k) for k in keys]
    _check_unique(where, labels, keys)
    return MapItems(items, labels, keys)


def _iteration_failed(where: str, value: Any, error: Exception) -> MapItemsError:
    return MapItemsError(
        f"{where}: iterating over {describe(value)} raised {type(error).__name__}: {str(error)[:300]}"
    )


def _check_unique(where: str, labels: list[str], keys: list[Any]) -> None:
    """Two items may not share a label: their branch sessions would share an id."""
    if len(set(labels)) == len(labels):
        return
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if label in seen:
            first = seen[label]
            raise MapItemsError(
                f"{where}: items {first} and {index} have keys {keys[first]!r} and {keys[index]!r}, which both "
                f"read {shown(label)} in an id; each item needs a key of its own"
            )
        seen[label] = index


def results_of(values: list[Any], keys: list[Any] | None, succeeded: list[bool]) -> list[Any] | dict[Any, Any]:
    """What a map hands its successors: a list in item order (an item that did not
    succeed holds None), or, for keyed items, a dict of the items that succeeded."""
    if keys is None:
        return [v if ok else None for v, ok in zip(values, succeeded, strict=True)]
    return {k: v for k, v, ok in zip(keys, values, succeeded, strict=True) if ok}
