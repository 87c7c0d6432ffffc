"""Renders as HTML strings for widgets (an ``HTML`` widget can't take a Render itself)."""

from __future__ import annotations

import html
from typing import Any

from ..observe import MISSING_DOT, draw_graph, draw_sessions
from ..observe.render import inline_svg


def render_html(render: Any) -> str:
    """The render's SVG as an inline element fitted to the output's width, or the DOT
    source when ``dot`` is missing."""
    svg = render.svg
    if svg is None:
        return f"<pre>{html.escape(MISSING_DOT)}\n{html.escape(render.source)}</pre>"
    return inline_svg(svg)


def graph_html(workflow: Any, run: Any = None) -> str:
    return render_html(draw_graph(workflow, run))


def sessions_html(run: Any) -> str:
    return "" if run is None else render_html(draw_sessions(run))
