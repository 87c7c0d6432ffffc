"""The small vocabulary both DOT builders share: safe names, labels, colours.

Task and session ids are user text.  They may hold ``:`` (which the graphviz package
would read as a node port in an edge), ``#`` (loop sessions: ``4821_a#2``), quotes,
backslashes, or look like ``<html>``; everything that reaches the DOT source goes
through ``name()`` or ``label()`` so none of that changes what is drawn.
"""

from __future__ import annotations

import graphviz
from graphviz.quoting import escape, nohtml, quote

# One palette for tasks and sessions, so "green" means the same thing in both renders.
GREEN = "#c6efce"
RED = "#ffc7ce"
GREY = "#e0e0e0"
YELLOW = "#ffeb9c"
WHITE = "#ffffff"

TASK_FILL = {"succeeded": GREEN, "failed": RED, "cancelled": GREY, "running": YELLOW, "pending": WHITE}
SESSION_FILL = {
    "merged": GREEN,
    "failed": RED,
    "cancelled": GREY,
    "discarded": GREY,
    "open": YELLOW,
    "closed": WHITE,
}

FONT = {"fontname": "Helvetica", "fontsize": "11"}


class Digraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose edge ends are plain node names, never ``node:port``."""

    _quote_edge = staticmethod(quote)


def name(text: str) -> str:
    """A node or subgraph name that DOT takes literally (quoted when it must be)."""
    return nohtml(text)


def label(*lines: str) -> str:
    """A multi-line label; backslashes in ids stay backslashes, lines break with ``\\n``."""
    return nohtml("\\n".join(escape(line) for line in lines))


def shorten(items: list[str], keep: int = 6) -> str:
    """``a, b, c`` or ``a, b, c, ... (+N more)``: a session that ran a thousand tasks
    should still draw as a box, not a page."""
    if len(items) <= keep:
        return ", ".join(items)
    return ", ".join(items[:keep]) + f", ... (+{len(items) - keep} more)"
