"""The small vocabulary every drawing shares: safe names, labels, colours and shapes.

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
BLUE = "#dde8f7"
ORANGE = "#f8cbad"
PALE = "#f4f4f4"
LILAC = "#e4d7f5"

# Colour *and* shape per task state, so a state still reads in a grey-scale print.
TASK_STYLE = {
    "pending": {"fillcolor": WHITE, "shape": "box", "style": "rounded,filled"},
    "queued": {"fillcolor": BLUE, "shape": "box", "style": "rounded,filled,dashed"},
    "held": {"fillcolor": LILAC, "shape": "cds", "style": "filled,bold"},
    "running": {"fillcolor": YELLOW, "shape": "box", "style": "rounded,filled,bold"},
    "succeeded": {"fillcolor": GREEN, "shape": "box", "style": "rounded,filled"},
    "failed": {"fillcolor": RED, "shape": "octagon", "style": "filled"},
    "skipped": {"fillcolor": PALE, "shape": "box", "style": "rounded,filled,dotted"},
    "cancelled": {"fillcolor": GREY, "shape": "box", "style": "filled,diagonals"},
    "paused": {"fillcolor": ORANGE, "shape": "hexagon", "style": "filled,bold"},
}
SESSION_FILL = {
    "merged": GREEN,
    "failed": RED,
    "cancelled": GREY,
    "discarded": GREY,
    "open": YELLOW,
    "paused": ORANGE,
    "closed": WHITE,
}

FONT = {"fontname": "Helvetica", "fontsize": "11"}


def task_style(state: str) -> dict[str, str]:
    """The look of ``state``; a state added to the engine later looks pending until drawn."""
    return TASK_STYLE.get(state, TASK_STYLE["pending"])


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
