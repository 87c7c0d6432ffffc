"""A drawing other than the workflow graph (``draw_sessions``' session tree, ``%graflow
sessions``) laid out in the browser, for a kernel where ``dot`` can't run: Pyodide in
JupyterLite, or a machine without Graphviz.

There the drawing's own output would be the "Graphviz is not installed" note and its
DOT source.  ``DrawingView`` is the ``GraphView`` widget (the same loader and bundle,
Graphviz compiled to WebAssembly) given the drawing's DOT as it is: nothing to colour
by a run, nothing to click.  As with ``GraphView.show``, the static picture's output
first holds the drawing's line of text, and carries the browser's SVG once the widget
has laid it out (what a saved notebook then shows).  The kernel's display hook
(``graflow_nb._register_graph_view``) sends drawings here only where ``dot`` can't run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.display import display

from ..observe.live import widget_front_end
from ..observe.render import Render
from .graph_view import GraphView


class DrawingView(GraphView):
    """The ``GraphView`` widget drawing a finished ``Render`` (see the module docstring)."""

    def __init__(self, drawing: Render):
        self.drawing = drawing
        super().__init__(drawing.digraph)

    def refresh(self, run: Any = None, states: Mapping[str, str] | None = None, relayout: bool = False) -> bool:
        """Send the drawing's DOT (once: it does not change)."""
        if self.dot == self.drawing.source and not relayout:
            return False
        self.dot = self.drawing.source
        self.layouts_sent += 1
        return True

    @property
    def render(self) -> Render:
        return self.drawing

    @property
    def text(self) -> str:
        return self.drawing.text

    def panel_for(self, info: Mapping[str, Any]) -> str:
        return ""


def show_drawing(drawing: Render) -> None:
    """Show ``drawing`` as a ``DrawingView`` (its static picture, then the widget), or as
    the drawing alone where widgets are off (``GRAFLOW_NB_WIDGETS=0``)."""
    if not widget_front_end():
        display(drawing._repr_mimebundle_(), raw=True)
        return
    DrawingView(drawing).show()
