"""``GraphView``: the workflow graph as a widget you can touch.

The graph (and, for a run, its branch sessions as clusters and the session tree
beside it) is laid out in the browser by Graphviz compiled to WebAssembly
(``js/``, bundled as ``graflow_nb/static/graph_view.js``), so it needs no ``dot`` on
the machine.  Hover a node for its state, session, duration, attempts and a preview of
its result or error; hover a session for its queue counts and what it ran.  Click a
node for the inspector (``graph_panel``), a session for its channel.  ``refresh()``
repaints states in place; the browser lays out again only when the drawing's shape
changes (``observe.scene``).

Loading.  Jupyter sends a widget's ``_esm`` with every instance, so ``_esm`` here is a
small loader.  The bundle's bytes travel once per kernel, as the state of one shared
``GraphBundle`` widget that every view refers to (state, not a request: the kernel is
busy running the cell while a live view draws, and would answer only afterwards).  The
first view on a page imports them from a ``blob:`` URL and keeps the module promise on
``globalThis`` under a key naming the bundle's hash; every later view uses that.  No
request leaves the machine.

Saved notebooks.  Displaying a GraphView makes two outputs (``show``): the same
picture as static ``image/svg+xml`` and ``image/png`` (and a line of text), then the
widget, which hides the picture above it while it shows.  GitHub, nbviewer, nbconvert,
nbval, a front end without widgets and a reopened notebook whose kernel is gone show
the picture (JupyterLab adds its "model not found" line under it for the widget, as for
any widget).  With no ``dot`` on the machine, the browser's own SVG is sent back to
the kernel after its first layout and the picture's output is updated to carry it (no
PNG then); until then (or in a front end with no widgets at all) that output is the
line of text.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import anywidget
import ipywidgets
import traitlets
from IPython.display import display

from ..observe import _dotkit as kit
from ..observe.captions import graph_text, run_text
from ..observe.collapse import COLLAPSE_OVER
from ..observe.live import widget_front_end
from ..observe.output import capture_of
from ..observe.render import Render, fit_width, pictures_carry_png
from ..observe.scene import Scene, build_scene
from .graph_panel import join_panel, session_panel, task_panel

BUNDLE = "graph_view.js"
# The widget output's own line of text (the picture is the output above it).
WIDGET_TEXT = "(the interactive graph view of the picture above: it needs the kernel that drew it)"


@cache
def bundle_bytes() -> bytes:
    """The built bundle shipped in the package (``make js`` builds it from ``js/``)."""
    return resources.files("graflow_nb").joinpath("static", BUNDLE).read_bytes()


@cache
def loader() -> str:
    """The small ``_esm`` every instance sends: fetch the bundle from the kernel once per page."""
    key = "__graflow_nb_graph_view_" + hashlib.sha256(bundle_bytes()).hexdigest()[:16]
    return _LOADER.replace("@KEY@", key)


_LOADER = """
const KEY = "@KEY@";
const PREFIX = "IPY_MODEL_";
function load(model) {
  let promise = globalThis[KEY];
  if (promise) return promise;
  promise = (async () => {
    const holder = await model.widget_manager.get_model(model.get("bundle").slice(PREFIX.length));
    const url = URL.createObjectURL(new Blob([holder.get("data")], { type: "text/javascript" }));
    try { return await import(url); } finally { URL.revokeObjectURL(url); }
  })();
  globalThis[KEY] = promise;
  promise.catch(() => { if (globalThis[KEY] === promise) delete globalThis[KEY]; });
  return promise;
}
export default { async render({ model, el }) { return (await load(model)).render({ model, el }); } };
"""


class GraphBundle(ipywidgets.Widget):
    """The bundle's bytes as one widget's state, shared by every GraphView of the kernel:
    the front end receives them once (with the widget's state, so no request to a
    kernel that is busy running the cell), and a reloaded page gets them back with
    the other widgets."""

    data = traitlets.Bytes(b"").tag(sync=True)


_HOLDER: list[GraphBundle] = []  # the kernel's one GraphBundle, made by the first GraphView


def bundle_widget() -> GraphBundle:
    """The kernel's ``GraphBundle`` (made again if someone closed every widget)."""
    if not _HOLDER or _HOLDER[0].comm is None:
        _HOLDER[:] = [GraphBundle(data=bundle_bytes())]
    return _HOLDER[0]

# ``handler(view, info, shift, alt) -> bool``: a click on a node (with the shift or
# alt key held), before the inspector opens; True means it was handled (the debugger
# steps a held node this way).
ClickHandler = Callable[["GraphView", dict[str, Any], bool, bool], bool]


class GraphView(anywidget.AnyWidget):
    """The graph of ``workflow`` coloured by ``run``; ``sessions=True`` draws the
    session tree beside it.  ``capture`` (an ``observe.output.OutputCapture``; by
    default the one ``capture_output(workflow)`` added) gives the inspector each
    attempt's printed output."""

    _esm = traitlets.Unicode("").tag(sync=True)
    bundle = traitlets.Instance(GraphBundle, allow_none=True).tag(sync=True, **ipywidgets.widget_serialization)
    dot = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.Dict().tag(sync=True)
    clusters = traitlets.Dict().tag(sync=True)
    progress = traitlets.Unicode("").tag(sync=True)
    panel = traitlets.Unicode("").tag(sync=True)
    want_svg = traitlets.Bool(False).tag(sync=True)
    static_above = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        workflow: Any,
        run: Any = None,
        *,
        sessions: bool = False,
        collapse_over: int | None = COLLAPSE_OVER,
        expand: Iterable[str] = (),
        states: Mapping[str, str] | None = None,
        reserve: bool = False,
        capture: Any = None,
    ):
        super().__init__(_esm=loader(), bundle=bundle_widget())
        self.workflow = workflow
        self.run = run
        self.options = {"sessions": sessions, "collapse_over": collapse_over, "expand": tuple(expand),
                        "reserve": reserve}
        self.states = dict(states or {})
        self.capture = capture if capture is not None else capture_of(workflow)
        self.click_handlers: list[ClickHandler] = []
        self.breakpoints: set[str] = set()  # task ids drawn with a breakpoint mark (the debugger's)
        self.browser_svg: str | None = None
        self.layouts_sent = 0
        self._key: str | None = None
        self._scene: Scene | None = None
        self._render: Render | None = None
        self._handle: Any = None
        self.on_msg(self._message)
        self.refresh()

    # -- the picture -------------------------------------------------------------------
    def refresh(self, run: Any = None, states: Mapping[str, str] | None = None, relayout: bool = False) -> bool:
        """Draw ``run`` (default: the one shown) as it is now; True if the browser is sent
        a new layout, False if it only repaints states in place."""
        if run is not None:
            self.run = run
        if states is not None:
            self.states = dict(states)
        graph = self.workflow.graph if hasattr(self.workflow, "graph") else self.workflow
        scene = build_scene(graph, self.run, name=getattr(self.workflow, "name", None), states=self.states,
                            **self.options)
        for task_id in self.breakpoints:
            info = scene.nodes.get(kit.user(task_id))
            if info is not None:
                info["mark"] = True
                info["tip"] = [*info["tip"], "breakpoint: the run halts before it"]
        self._scene = scene
        self._render = None
        key = scene.layout_key
        new_layout = relayout or key != self._key
        with self.hold_sync():
            if new_layout:
                self._key = key
                self.dot = scene.dot
                self.layouts_sent += 1
            self.nodes = scene.nodes
            self.clusters = scene.clusters
            self.progress = scene.progress
        return new_layout

    @property
    def render(self) -> Render:
        """The current frame as a ``Render`` (its SVG and PNG come from ``dot``)."""
        if self._render is None:
            assert self._scene is not None
            self._render = Render(self._scene.digraph, self.text)
        return self._render

    @property
    def text(self) -> str:
        graph = getattr(self.workflow, "graph", self.workflow)
        if self.run is not None and self.options["sessions"]:
            return run_text(graph, self.run)
        return graph_text(graph, self.run, getattr(self.workflow, "name", None))

    def static_bundle(self) -> dict[str, str]:
        """The picture for places without widgets: SVG and PNG from ``dot``, else the
        browser's SVG once it sent one, else only the text."""
        bundle = {"text/plain": self.text}
        svg = self.render.svg
        if svg is not None:
            bundle["image/svg+xml"] = fit_width(svg)
            if pictures_carry_png():
                png = self.render.png
                if png is not None:
                    bundle["image/png"] = base64.b64encode(png).decode("ascii")
        elif self.browser_svg is not None:
            bundle["image/svg+xml"] = fit_width(self.browser_svg)
        return bundle

    def mimebundle_widget(self) -> dict[str, Any]:
        """The widget alone (its ``application/vnd.jupyter.widget-view+json`` entry)."""
        data = super()._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else dict(data or {})
        return {k: v for k, v in data.items() if k != "text/plain"}

    def show(self) -> Any:
        """Display the static picture, then the widget, as two new outputs; returns the
        picture's display handle (with no ``dot`` here, the browser's SVG updates it).

        Two outputs, because JupyterLab shows only the richest kind of each output: one
        holding both would show the widget, and a reopened notebook whose kernel no
        longer has the widget would show "Error displaying widget: model not found"
        instead of the picture.  While the widget shows, it hides the picture above it
        (``static_above``)."""
        if self.render.svg is None and self.browser_svg is None:
            self.want_svg = True  # no dot here: keep the browser's layout as the static picture
        self._handle = display(self.static_bundle(), raw=True, display_id=True)
        self.static_above = True
        display({"text/plain": WIDGET_TEXT, **self.mimebundle_widget()}, raw=True)
        return self._handle

    def _ipython_display_(self) -> None:
        """Shown as one output holding the widget and the static picture (``show``)."""
        self.show()

    # -- clicks ------------------------------------------------------------------------
    def on_node_click(self, handler: ClickHandler) -> None:
        """Call ``handler(view, info, shift, alt)`` on each click on a node, before the
        inspector opens (``info`` is what ``nodes`` holds for it); a handler that
        returns True has handled the click."""
        self.click_handlers.append(handler)

    def click(self, name: str, shift: bool = False, alt: bool = False) -> str:
        """What clicking the node (or cluster) drawn as ``name`` does; returns the panel."""
        info = self.nodes.get(name) or self.clusters.get(name)
        if info is None:
            return self.panel
        for handler in self.click_handlers:
            if handler(self, info, shift, alt):
                return self.panel
        self.panel = self.panel_for(info)
        return self.panel

    def panel_for(self, info: Mapping[str, Any]) -> str:
        """The inspector's HTML for a node (a task, a group's fork or join, a folded
        group) or a session."""
        kind, node_id = info.get("kind"), info.get("id", "")
        try:
            if kind == "session":
                return session_panel(self.run, node_id)
            if kind in ("group", "join"):
                return join_panel(self.workflow, self.run, node_id) + task_panel(self.workflow, self.run, node_id)
            if kind == "folded":
                return (f"<h4>{html.escape(node_id)}</h4><p>{html.escape('; '.join(info.get('tip', [])))}</p>"
                        f"<p>pass expand=[{html.escape(repr(node_id))}] to draw every branch</p>")
            return task_panel(self.workflow, self.run, node_id, self.capture)
        except Exception as error:  # a value that can't be shown must not break the widget
            return f"<p class='graflow-gv-error'>{html.escape(f'{type(error).__name__}: {error}')}</p>"

    def _message(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "click" and isinstance(content.get("node"), str):
            self.click(content["node"], bool(content.get("shift")), bool(content.get("alt")))
        elif kind == "svg" and isinstance(content.get("svg"), str) and self.want_svg:
            if content.get("dot") == self.dot:
                self.browser_svg = content["svg"]
                self.want_svg = False
                if self._handle is not None:
                    self._handle.update(self.static_bundle(), raw=True)

    def close(self) -> None:
        """Close the widget and drop what it holds (the run, the workflow)."""
        self.click_handlers.clear()
        self.run = None
        self._scene = None
        self._render = None
        super().close()


def show_graph_render(render: Any) -> None:
    """Show what ``draw_graph`` returned as a GraphView of the same picture (its static
    picture, then the widget), or as the picture alone with ``GRAFLOW_NB_WIDGETS=0``."""
    if not widget_front_end():
        display(render._repr_mimebundle_(), raw=True)
        return
    options = render.options
    GraphView(render.subject, render.run, collapse_over=options["collapse_over"], expand=options["expand"],
              states=options["states"]).show()
