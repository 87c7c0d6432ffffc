"""The small vocabulary every drawing shares: safe names, labels, colours and shapes.

Task and session ids are user text.  They may hold ``:`` (which the graphviz package
would read as a node port in an edge), ``#`` (loop sessions: ``4821_a#2``), quotes,
backslashes, or look like ``<html>``; everything that reaches the DOT source goes
through ``name()`` or ``label()`` so none of that changes what is drawn.

Node names live in two namespaces that can never meet: a user id is drawn under
``user(id)`` (every ``/`` doubled), a node we add (a group's fork and join, a folded
summary) under ``internal(id, ..., kind)`` (the parts' ``user()`` forms joined by
single ``/``).  A user name has only even runs of ``/``, an internal one always has an
odd run, so a task called ``ParallelGroup_1/fork`` is its own node, not the fork.
``user()`` also writes a backslash as ``&#92;`` (and ``&`` as ``&amp;``, so the
mapping stays one to one): DOT has no way to quote a backslash before a quote, a
newline or the end of a name, and SVG shows the entity as the backslash again.
Labels show the ids as they are.

>>> user("ParallelGroup_1/fork"), internal("ParallelGroup_1", "fork")
('ParallelGroup_1//fork', 'ParallelGroup_1/fork')
>>> print(user("C:\\\\temp & co"))
C:&#92;temp &amp; co
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
PALE_GREEN = "#e8f5e1"

# Colour *and* shape per task state, so a state still reads in a grey-scale print.
TASK_STYLE = {
    "pending": {"fillcolor": WHITE, "shape": "box", "style": "rounded,filled"},
    "queued": {"fillcolor": BLUE, "shape": "box", "style": "rounded,filled,dashed"},
    # a cds arrow sizes itself for one line: the margin keeps a two-line label inside it
    "held": {"fillcolor": LILAC, "shape": "cds", "style": "filled,bold", "margin": "0.2,0.12"},
    "running": {"fillcolor": YELLOW, "shape": "box", "style": "rounded,filled,bold"},
    "succeeded": {"fillcolor": GREEN, "shape": "box", "style": "rounded,filled"},
    # replayed from the re-run cache: a paler green and a double border
    "cached": {"fillcolor": PALE_GREEN, "shape": "box", "style": "rounded,filled", "peripheries": "2"},
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


def user(node_id: str) -> str:
    """The node name of a user's task or session id (see the module docstring)."""
    if "&" in node_id:
        node_id = node_id.replace("&", "&amp;")
    if "\\" in node_id:
        node_id = node_id.replace("\\", "&#92;")
    if "/" in node_id:
        node_id = node_id.replace("/", "//")
    return node_id


def internal(*parts: str) -> str:
    """The name of a node we draw: ``internal(group_id, "fork")`` and the like; the
    last part is our own word, the others are user ids."""
    *ids, kind = parts
    return "/".join([*(user(p) for p in ids), kind])


def name(text: str) -> str:
    """A node or subgraph name that DOT takes literally (quoted when it must be)."""
    return nohtml(text)


def label(*lines: str) -> str:
    """A multi-line label; backslashes and ``&`` in ids show as themselves (Graphviz
    would read ``&amp;`` as an entity), lines break with ``\\n``."""
    return nohtml("\\n".join(escape(line).replace("&", "&amp;") for line in lines))


def shorten(items: list[str], keep: int = 6) -> str:
    """``a, b, c`` or ``a, b, c, ... (+N more)``: a session that ran a thousand tasks
    should still draw as a box, not a page."""
    if len(items) <= keep:
        return ", ".join(items)
    return ", ".join(items[:keep]) + f", ... (+{len(items) - keep} more)"
