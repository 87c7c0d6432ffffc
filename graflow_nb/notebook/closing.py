"""Closing a widget together with the widgets inside it.

ipywidgets keeps every widget it made in a module-level table until the widget is
closed, and closing a widget leaves open the widgets it is made of: a box's children,
and the ``layout`` and ``style`` widgets every visible widget gets.  A part still in
that table keeps whatever it reaches: a button of a ``DebuggerWidget`` reaches, through
its click callback, the debugger and so its run, with every result the run holds, for
the rest of the kernel's life.  So the widgets here close their whole tree, and close
the parts they replace on a redraw.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets


def close_parts(widget: Any) -> None:
    """Close every widget ``widget`` is made of (children at any depth, layouts,
    styles), not ``widget`` itself."""
    parts = [*getattr(widget, "children", ()), getattr(widget, "layout", None), getattr(widget, "style", None)]
    for part in parts:
        if isinstance(part, widgets.Widget):
            close_parts(part)
            part.close()
