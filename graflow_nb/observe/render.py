"""``Render``: a DOT graph that shows itself in Jupyter and saves itself on request.

Laying out needs Graphviz's ``dot`` program, which pip cannot install.  A notebook
without it should still show something useful rather than a traceback in every cell,
so a missing ``dot`` is detected once and the render falls back to a one-line hint plus
the DOT source (paste-able into any Graphviz viewer).  Nothing is written to disk
unless ``save()`` is called: piping to ``dot`` keeps the output in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import graphviz

MISSING_DOT = (
    "Graphviz's dot is not installed: install the 'graphviz' system package "
    "(apt install graphviz / brew install graphviz)"
)
_FALLBACK_HEAD = MISSING_DOT + "; DOT source follows"


class Render:
    """One drawing: ``.source`` is the DOT text; Jupyter shows the SVG."""

    def __init__(self, digraph: graphviz.Digraph):
        self.digraph = digraph
        self._svg: str | None = None
        self._missing: graphviz.ExecutableNotFound | None = None

    @property
    def source(self) -> str:
        return self.digraph.source

    @property
    def dot_available(self) -> bool:
        """False once a layout failed because ``dot`` is missing (it is not retried)."""
        return self._missing is None

    def _pipe(self, fmt: str) -> bytes | None:
        if self._missing is not None:
            return None
        try:
            return self.digraph.pipe(format=fmt)
        except graphviz.ExecutableNotFound as error:
            self._missing = error
            return None

    @property
    def svg(self) -> str | None:
        """The laid-out SVG, computed once; None when ``dot`` is missing."""
        if self._svg is None:
            data = self._pipe("svg")
            if data is not None:
                self._svg = data.decode("utf-8")
        return self._svg

    def _repr_svg_(self) -> str | None:
        return self.svg

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        svg = self.svg
        if svg is None:
            return {"text/plain": f"{_FALLBACK_HEAD}\n{self.source}"}
        return {"image/svg+xml": svg}

    def save(self, path: str | Path) -> Path:
        """Write ``.svg``, ``.png`` or ``.dot``/``.gv`` (chosen by suffix); returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".dot", ".gv"):
            path.write_text(self.source, encoding="utf-8")
            return path
        if suffix not in (".svg", ".png"):
            raise ValueError(f"cannot save a render as {path.name!r}: use a .svg, .png or .dot file name")
        if suffix == ".svg":
            svg = self.svg
            data = None if svg is None else svg.encode("utf-8")
        else:
            data = self._pipe("png")
        if data is None:
            raise RuntimeError(MISSING_DOT) from self._missing
        path.write_bytes(data)
        return path

    def __repr__(self) -> str:
        return f"<Render {self.digraph.name or 'graph'!r}>"
