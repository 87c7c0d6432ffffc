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
small loader: the first view on a page asks the kernel for the bundle (a widget
message with the file as a binary buffer), imports it from a ``blob:`` URL and keeps
the module promise on ``globalThis`` under a key naming the bundle's hash; every later
view on the page uses that.  No request leaves the machine.

Saved notebooks.  The display carries the widget and, beside it, the same picture as
static ``image/svg+xml`` and ``image/png`` (and a line of text), so GitHub, nbviewer,
nbconvert, nbval and a front end without widgets show the picture.  With no ``dot``
on the machine, the browser's own SVG is sent back to the kernel after its first
layout and the display is updated to carry it (no PNG then); until then (or in a
front end with no widgets at all) the output is the line of text.
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
import traitlets
from IPython.display import display

from ..observe.captions import graph_text, run_text
from ..observe.collapse import COLLAPSE_OVER
from ..observe.output import capture_of
from ..observe.render import Render, fit_width, pictures_carry_png
from ..observe.scene import Scene, build_scene
from .graph_panel import join_panel, session_panel, task_panel

BUNDLE = "graph_view.js"


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
function load(model) {
  let promise = globalThis[KEY];
  if (promise) return promise;
  promise = new Promise((resolve, reject) => {
    const got = (msg, buffers) => {
      if (!msg || msg.type !== "bundle") return;
      model.off("msg:custom", got);
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "text/javascript" }));
      import(url).then(resolve, reject).finally(() => URL.revokeObjectURL(url));
    };
    model.on("msg:custom", got);
    model.send({ type: "bundle" });
  });
  globalThis[KEY] = promise;
  promise.catch(() => { if (globalThis[KEY] === promise) delete globalThis[KEY]; });
  return promise;
}
export default { async render({ model, el }) { return (await load(model)).render({ model, el }); } };
"""

# ``handler(view, info, shift) -> bool``: a click on a node, before the inspector opens;
# True means it was handled (the debugger steps a held node this way).
ClickHandler = Callable[["GraphView", dict[str, Any], bool], bool]


class GraphView(anywidget.AnyWidget):
    """The graph of ``workflow`` coloured by ``run``; ``sessions=True`` draws the
    session tree beside it.  ``capture`` (an ``observe.output.OutputCapture``; by
    default the one ``capture_output(workflow)`` added) gives the inspector each
    attempt's printed output."""

    _esm = traitlets.Unicode("").tag(sync=True)
    dot = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.Dict().tag(sync=True)
    clusters = traitlets.Dict().tag(sync=True)
    progress = traitlets.Unicode("").tag(sync=True)
    panel = traitlets.Unicode("").tag(sync=True)
    want_svg = traitlets.Bool(False).tag(sync=True)

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
        super().__init__(_esm=loader())
        self.workflow = workflow
        self.run = run
        self.options = {"sessions": sessions, "collapse_over": collapse_over, "expand": tuple(expand),
                        "reserve": reserve}
        self.states = dict(states or {})
        self.capture = capture if capture is not None else capture_of(workflow)
        self.click_handlers: list[ClickHandler] = []
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

    def mimebundle(self) -> dict[str, Any]:
        """The widget and its static picture, as one output."""
        data = super()._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else dict(data or {})
        return {**self.static_bundle(), **{k: v for k, v in data.items() if k != "text/plain"}}

    def _ipython_display_(self) -> None:
        """Shown as one output holding the widget and the static picture; its display
        id lets the browser's SVG replace the text line when there is no ``dot``."""
        if self.render.svg is None and self.browser_svg is None:
            self.want_svg = True  # no dot here: keep the browser's layout as the static picture
        self._handle = display(self.mimebundle(), raw=True, display_id=True)

    # -- clicks ------------------------------------------------------------------------
    def on_node_click(self, handler: ClickHandler) -> None:
        """Call ``handler(view, info, shift)`` on each click on a node, before the
        inspector opens (``info`` is what ``nodes`` holds for it); a handler that
        returns True has handled the click."""
        self.click_handlers.append(handler)

    def click(self, name: str, shift: bool = False) -> str:
        """What clicking the node (or cluster) drawn as ``name`` does; returns the panel."""
        info = self.nodes.get(name) or self.clusters.get(name)
        if info is None:
            return self.panel
        for handler in self.click_handlers:
            if handler(self, info, shift):
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
        if kind == "bundle":
            self.send({"type": "bundle"}, buffers=[bundle_bytes()])
        elif kind == "click" and isinstance(content.get("node"), str):
            self.click(content["node"], bool(content.get("shift")))
        elif kind == "svg" and isinstance(content.get("svg"), str) and self.want_svg:
            if content.get("dot") == self.dot:
                self.browser_svg = content["svg"]
                self.want_svg = False
                if self._handle is not None:
                    self._handle.update(self.mimebundle(), raw=True)

    def close(self) -> None:
        """Close the widget and drop what it holds (the run, the workflow)."""
        self.click_handlers.clear()
        self.run = None
        self._scene = None
        self._render = None
        super().close()
