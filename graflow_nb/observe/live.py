"""``execute(..., live=True)``: one output area that follows a run, then a still picture.

Threads.  Branch tasks run on worker threads, and output written from a worker lands
in whichever cell happens to be running (or nowhere).  So workers only *record*:
``observe`` appends the event and marks the view dirty.  The thread that called
``execute`` is blocked inside it and cannot draw either, so ``start`` spawns one small
daemon renderer that, at most every ``interval`` seconds, lays out the graph and the
session tree (one ``dot`` call, see ``panel``) and updates a display handle.  A handle
update is addressed by its ``display_id``, not by "the current cell", so it lands in
the cell that started the run; the renderer also runs in a copy of the caller's
``contextvars`` context, which is where ipykernel keeps the cell's parent header.

Determinism.  nbval compares a cell's ``display_data`` outputs and ignores display
updates; a saved notebook holds the *last* update.  So the live area begins and ends
with a one-line note naming the workflow (what follows the name, "the final picture
follows" and then "the run ended", is the one part ``notebooks/nbval_sanitize.cfg``
lets differ), and when the run ends ``finish`` emits the final picture as a *new*
output: graph and sessions side by side, drawn from the run record in canonical order,
with no times and no version stamps.

Layout.  Every branch cluster is drawn from the first frame on (as ``pending`` until
its group forks: ``graph_dot(reserve=True)``), so boxes do not jump when branches start.

Time.  The elapsed time in the progress line advances with no event too: when nothing
happened for ``TICK`` seconds, the renderer redraws the line over the last picture
(no ``dot`` call), so a long quiet task still shows the clock running.

Resuming.  A run that stopped paused (waiting for input) is resumed later, from a form
in the same cell: ``redraw_final(run)`` redraws the note and the final picture that the
run's live view left (both are display handles), so they stop saying "paused".  What it
needs is a ``FinalPicture``, filed under the run in a weak table; it holds the two
handles and what to draw with, never the run, so the entry goes when the run does (a
value that held its key would keep every live run of the kernel's life).

No threads.  Where threads can't start (Pyodide, ``core.runtime.threadless``) there
is no renderer: the run's own thread draws a frame when a task starts or ends, at most
every ``interval`` seconds, and nothing else changes.

Outside a notebook (plain Python, terminal IPython) there is nothing to update in
place: the run is still recorded, and ``finish`` prints one summary line to stderr.

Cost.  An event costs a list append and a flag check.  Frames come at most every
``interval`` seconds (0.25 by default), the first one too, so a run shorter than that
draws no frame at all: its final picture says everything.  A frame's layout runs in
``dot`` (a subprocess); building its DOT takes a couple of milliseconds of this
process.  The benchmark's ``fanout-64-live`` workload measures both.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from ..core.events import Event, EventKind, EventLog
from ..core.runtime.threadless import threads_available
from .collapse import COLLAPSE_OVER, check_limit
from .panel import draw_run, run_dot
from .record import keep_events
from .render import MISSING_DOT, Render, inline_svg
from .state import RunView

if TYPE_CHECKING:
    from ..core.runtime.run import Run

DEFAULTS: dict[str, Any] = {"interval": 0.25, "collapse_over": COLLAPSE_OVER, "final": True}
MIN_INTERVAL = 0.1  # "a few frames a second at most"
TICK = 1.0  # seconds: how often the elapsed time moves while no event arrives


class FinalPicture:
    """What a live view left in its cell when its run ended: the note's display handle,
    the final picture's (None with ``final=False``), and what to draw them with.  It
    holds no run (``redraw`` is given the run as it is now; the workflow keeps only its
    last runs)."""

    def __init__(self, workflow: Any, options: dict[str, Any], note: Any, picture: Any = None):
        self.workflow = workflow
        self.options = options
        self.note = note
        self.picture = picture

    def draw(self, run: Run) -> Any:
        return draw_run(self.workflow, run, collapse_over=self.options["collapse_over"], reserve=True)

    def redraw(self, run: Run) -> None:
        """The closing note and the final picture again, for ``run`` as it is now."""
        self.note.update(placeholder(self.workflow.name, run, self.options["final"]), raw=True)
        if self.picture is not None:
            self.picture.update(self.draw(run))


# The final picture a live view left for each run, while the run is alive (weak keys;
# the values hold no run, see FinalPicture).
_FINAL_PICTURES: weakref.WeakKeyDictionary[Run, FinalPicture] = weakref.WeakKeyDictionary()


def keep_final(run: Run, final: FinalPicture) -> None:
    """File the final picture a live view left for ``run`` (what ``redraw_final`` redraws)."""
    _FINAL_PICTURES[run] = final


def redraw_final(run: Run) -> bool:
    """Redraw the closing note and final picture a live view left for ``run`` (after a
    resume); False when no live view drew this run in a notebook."""
    final = _FINAL_PICTURES.get(run)
    if final is None:
        return False
    final.redraw(run)
    return True


def live_options(options: Any) -> dict[str, Any]:
    """``True`` or a mapping of ``interval`` (seconds between frames, >= 0.1),
    ``collapse_over`` (as in ``graph_dot``) and ``final`` (emit the final picture)."""
    if options is True or options is None:
        return dict(DEFAULTS)
    if not isinstance(options, Mapping):
        raise TypeError(f"live= takes True or a dict of {sorted(DEFAULTS)}, got {options!r}")
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown live option(s) {sorted(unknown)}: expected {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **options}
    if not isinstance(out["interval"], (int, float)) or out["interval"] < MIN_INTERVAL:
        raise ValueError(f"live interval must be a number >= {MIN_INTERVAL} s, got {out['interval']!r}")
    check_limit(out["collapse_over"])
    return out


WIDGETS_VARIABLE = "GRAFLOW_NB_WIDGETS"


def widget_front_end() -> bool:
    """True in a Jupyter kernel (a front end that can show widgets is on the other
    end), unless ``GRAFLOW_NB_WIDGETS=0`` asks for the plain pictures."""
    shell = notebook_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return os.environ.get(WIDGETS_VARIABLE, "1").strip().lower() not in ("0", "no", "false")


def notebook_shell() -> Any:
    """The running IPython shell if it can show rich output in place, else None.  A
    running shell has imported IPython already, so a plain script never imports it."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or any(cls.__name__ == "TerminalInteractiveShell" for cls in type(shell).__mro__):
        return None
    return shell


def placeholder(workflow_name: str, run: Run | None = None, final: bool = True) -> dict[str, str]:
    """What the live area shows before the first frame and, given the ended ``run``,
    after the last (``final``: whether the final picture follows)."""
    if run is None:
        state = "the final picture follows when the run ends"
    else:
        ended = "the run paused for input" if run.status == "paused" else f"the run ended ({run.status})"
        state = ended + ("; its final picture is below" if final else "")
    note = f"live view of workflow {workflow_name!r}: {state}"
    return {"text/plain": note, "text/html": f'<div class="graflow-live"><em>{escape(note)}</em></div>'}


def progress_line(view: RunView, graph: Any, now: float) -> tuple[str, dict[str, int]]:
    p = view.progress(graph)
    run = view.run
    elapsed = (run.ended or now) - run.started
    paused = f"{p['paused']} paused, " if p["paused"] else ""
    line = (
        f"{p['done']}/{p['known']} tasks done, {p['running']} running, {paused}{p['queued']} queued, "
        f"{len(view.tree)} sessions, {elapsed:.1f} s"
    )
    return line, p


# Where a live view with no renderer thread draws a frame: a task began or ended.
_BOUNDARIES = frozenset({EventKind.TASK_STARTED, EventKind.TASK_FINISHED, EventKind.TASK_FAILED})


class LiveView:
    """The view ``LIVE_VIEW_FACTORY(workflow, options)`` makes for one run."""

    def __init__(self, workflow: Any, options: Any = True):
        self.workflow = workflow
        self.options = live_options(options)
        self.log = EventLog()
        self.run: Run | None = None
        self.error: BaseException | None = None
        self._dirty = threading.Event()
        self._done = threading.Event()
        # Held while a frame is published and while finish() restores the placeholder,
        # so a late frame can never overwrite the live area's final state.
        self._lock = threading.Lock()
        self._handle: Any = None
        self._shell = notebook_shell()
        # Where the live area goes instead of a new output of the calling cell: a pair of
        # display-handle-like targets (``update(obj, raw=...)``) for the note and the final
        # picture, which a run started in the background (``wf.start``) draws into (its
        # cell has ended by the time frames come: they must go through widget traits).
        self.targets: tuple[Any, Any] | None = None
        self._picture = ""  # the last frame's drawing (HTML), reused when only the clock moved
        self._inline = False  # True: no renderer thread; task boundaries draw (_draw_here)
        self._last = 0.0  # when _draw_here last drew

    # -- called by the engine ------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """Any thread: record and mark dirty; never draw or print here (except with no
        renderer thread, where a task boundary draws: see ``_draw_here``)."""
        self.log.events.append(event)
        if not self._dirty.is_set():
            self._dirty.set()
        if self._inline and event.kind in _BOUNDARIES:
            self._draw_here()

    def start(self, run: Run) -> None:
        self.run = run
        keep_events(run, self.log)
        if self.targets is not None:
            self._handle = self.targets[0]
            self._handle.update(placeholder(self.workflow.name), raw=True)
        elif self._shell is None:
            return
        else:
            from IPython.display import display

            self._handle = display(placeholder(self.workflow.name), raw=True, display_id=True)
        if not threads_available():
            # No renderer thread (Pyodide): frames are drawn at task boundaries, on the
            # run's own thread, still at most every ``interval`` seconds.
            self._inline = True
            self._last = time.monotonic()
            return
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._render_loop,), name=f"graflow-live-{run.root_session_id}", daemon=True
        ).start()

    def finish(self, run: Run) -> None:
        """On the thread that called execute: close the live area, show the result."""
        if self._handle is None:
            print(f"{RunView(run, self.workflow.graph).summary(self.workflow.graph)} "
                  f"(live view: no notebook display here)", file=sys.stderr)
            return
        from IPython.display import display

        with self._lock:
            self._done.set()
            self._dirty.set()  # wake the renderer so it sees _done and exits
            self._handle.update(placeholder(self.workflow.name, run, self.options["final"]), raw=True)
        final = FinalPicture(self.workflow, self.options, self._handle)
        if self.options["final"]:
            try:
                if self.targets is not None:
                    final.picture = self.targets[1]
                    final.picture.update(final.draw(run))
                else:
                    final.picture = display(final.draw(run), display_id=True)
            except BaseException as error:  # the run's own result or exception matters more
                self._failed("final picture", error)
        keep_final(run, final)

    # -- the renderer thread -------------------------------------------------------------
    def _render_loop(self) -> None:
        interval = self.options["interval"]
        last = time.monotonic()  # the first frame waits too: a run shorter than that needs none
        while True:
            changed = self._dirty.wait(max(TICK, interval))
            if self._done.is_set():
                return
            wait = last + interval - time.monotonic()
            if wait > 0 and self._done.wait(wait):
                return
            self._dirty.clear()
            try:
                if not self._publish(changed):
                    return
            except BaseException as error:  # a broken frame must not take the run down
                self._failed("frame", error)
                return
            last = time.monotonic()

    def _publish(self, changed: bool) -> bool:
        """Draw one frame into the live area (``changed``: an event came since the last
        one); False once the run has ended (the renderer stops)."""
        frame = self.frame(redraw=changed or not self._picture)
        with self._lock:
            if self._done.is_set():
                return False
            self._handle.update(frame, raw=True)
        return True

    def _draw_here(self) -> None:
        """One frame on this thread, if ``interval`` has passed since the last (the
        renderer loop's work, where no renderer thread can run)."""
        now = time.monotonic()
        if self._done.is_set() or self.error is not None or now - self._last < self.options["interval"]:
            return
        self._dirty.clear()
        try:
            self._publish(True)
        except BaseException as error:  # a broken frame must not take the run down
            self._failed("frame", error)
        self._last = time.monotonic()

    def _failed(self, what: str, error: BaseException) -> None:
        """Report a drawing error once, as the run's observer errors are (the live area
        stops updating; the run goes on unchanged)."""
        if self.error is None:
            self.error = error
            self.run.bus.report(self, what, error)

    def frame(self, redraw: bool = True) -> dict[str, str]:
        """The current picture as a mime bundle: progress line, graph beside sessions;
        ``redraw=False`` keeps the last drawing and only updates the line."""
        run, graph = self.run, self.workflow.graph
        line, p = progress_line(RunView(run, graph), graph, time.time())
        if redraw:
            render = Render(run_dot(graph, run, collapse_over=self.options["collapse_over"], reserve=True))
            svg = render.svg
            self._picture = inline_svg(svg) if svg is not None else f"<pre>{escape(MISSING_DOT)}</pre>"
        html = (
            f'<div class="graflow-live"><div><progress value="{p["done"]}" max="{max(p["known"], 1)}"></progress> '
            f"{escape(line)}</div>{self._picture}</div>"
        )
        return {"text/plain": line, "text/html": html}
