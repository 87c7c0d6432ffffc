"""``BuilderWidget``: compose a graph from the namespace's functions by clicking.

Pick one or more functions and press ``>> then`` to add them as the next stage (several
at once make a parallel group), or ``| alongside`` to add them to the last stage.  The
graph is redrawn after every change, and the equivalent ``%%graflow`` cell is shown
once, above it, ready to copy, so the notebook stays reproducible: run that cell and
you get the same workflow without the widget.

What it offers: the notebook's own functions and tasks, the ones defined in it.  A
notebook namespace also holds IPython's ``open``, graflow's ``task`` and ``workflow``
and whatever was imported, none of which is a step of the user's workflow; a function
counts as the notebook's own when its ``__module__`` is the namespace's ``__name__``
(``__main__`` in a kernel).  A namespace without ``__name__`` (a plain dict) offers
every public function in it.  Tasks of a workflow already built in the namespace and
helpers that the offered functions call are not steps to pick either; the rest are
listed in the order they were defined, and members picked together join a group in
that order (it is their merge order), not alphabetically; ``| alongside`` appends one
at a time for another order.  The list can be filtered by typing, and is as tall as
it is long (up to ``MAX_ROWS``).
"""

from __future__ import annotations

import html
from functools import reduce
from typing import Any

import ipywidgets as widgets

from ..core.model.task import TaskWrapper
from ..core.workflow import WorkflowContext, workflow
from .pictures import graph_html
from .wiring import include, is_plain_function, wire

MAX_ROWS = 15


def candidate_names(namespace: dict[str, Any]) -> list[str]:
    """Public names bound to the namespace's own plain functions or tasks, in the order
    they were defined (a group's members keep it: it is their merge order).

    Left out: tasks that belong to a workflow in the namespace (another workflow's
    steps), and helpers: plain functions that another offered function calls by name
    (a task's parameters are read by their own names, never called)."""
    home = namespace.get("__name__")
    owned = {
        id(node)
        for value in list(namespace.values())
        if isinstance(value, WorkflowContext)
        for node in list(value.graph.nodes.values())
    }
    own = {
        name: value
        for name, value in list(namespace.items())
        if not name.startswith("_") and _defined_here(value, home) and id(value) not in owned
    }
    called = {name for value in own.values() for name in _called_names(value)}
    return [name for name, value in own.items() if isinstance(value, TaskWrapper) or name not in called]


def _called_names(value: Any) -> tuple[str, ...]:
    func = value.func if isinstance(value, TaskWrapper) else value
    code = getattr(func, "__code__", None)
    return () if code is None else code.co_names


def _defined_here(value: Any, home: str | None) -> bool:
    func = value.func if isinstance(value, TaskWrapper) else value
    if not is_plain_function(func):
        return False
    return home is None or getattr(func, "__module__", None) == home


def matching(names: list[str], text: str) -> list[str]:
    """The names containing ``text`` (case-insensitive); all of them for no text."""
    needle = text.strip().lower()
    return [n for n in names if needle in n.lower()]


class BuilderWidget(widgets.VBox):
    """Compose a graph by clicking the notebook's own functions; shows the equivalent
    ``%%graflow`` cell."""

    def __init__(self, namespace: dict[str, Any] | None = None, name: str = "built", pictures: bool = True):
        if namespace is None:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is None:
                raise RuntimeError("BuilderWidget() outside IPython needs a namespace: BuilderWidget(globals())")
            namespace = shell.user_ns
        self.namespace = namespace
        self.pictures = pictures
        self.stages: list[list[str]] = []
        self.names = candidate_names(namespace)
        self.picker = widgets.SelectMultiple(description="functions")
        self.filter = widgets.Text(placeholder="filter functions", description="find")
        self.filter.observe(lambda _c: self._show_names(), names="value")
        self._show_names()
        self.name = widgets.Text(value=name, description="workflow")
        self.then_button = widgets.Button(description=">> then", tooltip="add the picked functions as the next stage")
        self.alongside_button = widgets.Button(description="| alongside", tooltip="add them to the last stage")
        self.undo_button = widgets.Button(description="undo")
        self.clear_button = widgets.Button(description="clear")
        self.reload_button = widgets.Button(description="reload names")
        self.then_button.on_click(lambda _b: self.then(*self.picker.value))
        self.alongside_button.on_click(lambda _b: self.alongside(*self.picker.value))
        self.undo_button.on_click(lambda _b: self.undo())
        self.clear_button.on_click(lambda _b: self.clear())
        self.reload_button.on_click(lambda _b: self.reload())
        self.name.observe(lambda _c: self.refresh(), names="value")
        self.code_view = widgets.HTML()
        self.picture = widgets.HTML()
        self.status = widgets.HTML()
        buttons = [self.then_button, self.alongside_button, self.undo_button, self.clear_button, self.reload_button]
        super().__init__(
            [
                widgets.HBox([widgets.VBox([self.filter, self.picker]), widgets.VBox([self.name, *buttons])]),
                self.code_view,
                self.status,
                self.picture,
            ]
        )
        self.refresh()

    # -- composing ---------------------------------------------------------------------
    def _in_order(self, names: tuple[str, ...]) -> list[str]:
        """The picked names in the order they were defined (a group's merge order)."""
        known = [n for n in self.names if n in names]
        return known + [n for n in names if n not in known]

    def then(self, *names: str) -> None:
        if names:
            self.stages.append(self._in_order(names))
            self.refresh()

    def alongside(self, *names: str) -> None:
        names = tuple(self._in_order(names))
        if not names:
            return
        if not self.stages:
            self.then(*names)
            return
        self.stages[-1].extend(n for n in names if n not in self.stages[-1])
        self.refresh()

    def undo(self) -> None:
        if self.stages:
            self.stages.pop()
            self.refresh()

    def clear(self) -> None:
        self.stages = []
        self.refresh()

    def reload(self) -> None:
        self.names = candidate_names(self.namespace)
        self._show_names()

    def _show_names(self) -> None:
        """The names the filter lets through (picked ones stay picked), one row each."""
        shown = matching(self.names, self.filter.value)
        picked = tuple(n for n in self.picker.value if n in shown)
        self.picker.options = shown
        self.picker.value = picked
        self.picker.rows = max(1, min(len(shown), MAX_ROWS))

    # -- results -----------------------------------------------------------------------
    @property
    def expression(self) -> str:
        """The wiring, e.g. ``fetch >> (clean | enrich) >> store``."""
        parts = []
        for stage in self.stages:
            text = " | ".join(stage)
            parts.append(f"({text})" if len(stage) > 1 and len(self.stages) > 1 else text)
        return " >> ".join(parts)

    @property
    def code(self) -> str:
        """The ``%%graflow`` cell that builds the same workflow."""
        return f"%%graflow {self.name.value}\n{self.expression}\n" if self.stages else ""

    def build(self) -> WorkflowContext:
        """A new workflow wired as composed (plain functions become tasks)."""
        wf = workflow(self.name.value)
        with wf:
            nodes = [reduce(lambda a, b: wire("|", a, b), [self.namespace[n] for n in stage]) for stage in self.stages]
            if len(nodes) == 1:
                include(nodes[0])
            elif nodes:
                reduce(lambda a, b: wire(">>", a, b), nodes)
        return wf

    def refresh(self) -> None:
        self.code_view.value = f"<pre>{html.escape(self.code or '(pick functions, then press >> then)')}</pre>"
        if not self.stages:
            self.picture.value = ""
            self.status.value = ""
            return
        try:
            wf = self.build()
        except Exception as error:
            self.status.value = f"<span style='color:#b00'>{html.escape(f'{type(error).__name__}: {error}')}</span>"
            return
        self.status.value = ""
        if self.pictures:
            self.picture.value = graph_html(wf)

