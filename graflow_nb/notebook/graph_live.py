"""``execute(..., live=True)`` in a Jupyter kernel: the live view drawn by a ``GraphView``.

It is ``observe.live.LiveView`` with another surface.  The live area starts as the
same one-line note; the first frame puts the widget into that area (one display
update), and every later frame only changes the widget's state: the browser repaints
states, counts and the progress line in place and lays the graph out again only when
its shape changes (a dynamic task, a session cluster that was not reserved).  When the
run ends the area goes back to its closing note, as before, and the final picture is
the static SVG and PNG (what a saved notebook, nbval and a front end without widgets
show) with the widget below it (laid out once more, so every shape is exact; it hides
the static picture while it shows), as ``GraphView.show`` makes them.

While the run goes, each attempt's printed and logged output is kept
(``observe.output.OutputCapture``) for the widget's inspector.
"""

from __future__ import annotations

from typing import Any

from ..core.events import Event
from ..core.runtime.run import Run
from ..observe.live import FinalPicture, LiveView, keep_final, placeholder
from ..observe.output import OutputCapture, capture_of
from .graph_view import GraphView

LIVE_CLASS = "graflow-live"


class GraphFinalPicture(FinalPicture):
    """The final picture a widget live view left: redrawn by refreshing its widget."""

    def __init__(self, workflow: Any, options: dict[str, Any], note: Any, view: GraphView):
        super().__init__(workflow, options, note)
        self.view = view

    def redraw(self, run: Run) -> None:
        self.note.update(placeholder(self.workflow.name, run, self.options["final"]), raw=True)
        self.view.refresh(run, relayout=True)
        if self.picture is not None:
            self.picture.update(self.view.static_bundle(), raw=True)


class GraphLiveView(LiveView):
    """The live view of one run, drawn by a ``GraphView`` (see the module docstring)."""

    def __init__(self, workflow: Any, options: Any = True):
        super().__init__(workflow, options)
        found = capture_of(workflow)  # capture_output(wf) already listens: don't count twice
        self.capture = OutputCapture() if found is None else None
        self.view: GraphView | None = None
        self._shown = False

    def observe(self, event: Event) -> None:
        if self.capture is not None:
            self.capture(event)
        super().observe(event)

    def start(self, run: Run) -> None:
        super().start(run)
        if self._handle is not None:
            self.view = GraphView(
                self.workflow, run, sessions=True, reserve=True, collapse_over=self.options["collapse_over"],
                capture=self.capture if self.capture is not None else capture_of(self.workflow),
            )
            self.view.add_class(LIVE_CLASS)  # as the picture live view's area is marked

    def _publish(self, changed: bool) -> bool:
        view = self.view
        assert view is not None
        with self._lock:
            if self._done.is_set():
                return False
            view.refresh()
            if not self._shown:
                if self.targets is not None:  # a started run's panel holds the widget itself
                    self.targets[0].show_widget(view)
                else:
                    note = placeholder(self.workflow.name)
                    self._handle.update({**note, **view.mimebundle_widget()}, raw=True)
                self._shown = True
        return True

    def finish(self, run: Run) -> None:
        if self.capture is not None:
            self.capture.close()
        if self._handle is None or self.view is None:
            super().finish(run)
            return
        with self._lock:
            self._done.set()
            self._dirty.set()
            self._handle.update(placeholder(self.workflow.name, run, self.options["final"]), raw=True)
        final = GraphFinalPicture(self.workflow, self.options, self._handle, self.view)
        self.view.remove_class(LIVE_CLASS)
        if self.options["final"]:
            try:
                self.view.refresh(run, relayout=True)
                # A started run's cell ended long ago: its panel keeps the widget, and
                # nothing new is displayed (it would land wherever a cell runs now).
                if self.targets is None:
                    final.picture = self.view.show()
                elif not self._shown:  # the run ended (or paused) before its first frame
                    self.targets[0].show_widget(self.view)
                    self._shown = True
            except BaseException as error:  # the run's own result or exception matters more
                self._failed("final picture", error)
        keep_final(run, final)
