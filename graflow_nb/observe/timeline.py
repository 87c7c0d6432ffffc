"""When each task ran: one lane per session, one bar per task attempt, time left to right.

The chart is laid out here, in Python, as a list of boxes, texts and lines, and written
two ways from that one list: as SVG directly (what Jupyter shows, so the timeline needs
no Graphviz at all) and as DOT with every node pinned (``neato``), which is the
``.source`` and what ``.save("x.png")`` renders.

Everything but the times is deterministic: lanes follow the session tree (depth-first,
fork order), bars follow the canonical task order, and each SVG element carries its
identity (``class`` plus ``data-session`` / ``data-task`` / ``data-status`` /
``data-attempt``), so a test can check the structure without trusting pixel positions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import graphviz

from . import _dotkit as kit
from .captions import timeline_text
from .render import Render
from .state import RunView

if TYPE_CHECKING:
    from ..core.runtime.run import Run

MAX_LANES = 60
PLOT_W = 640.0
LANE_H = 22.0
BAR_H = 14.0
GROUP_H = 5.0
PAD = 8.0
TITLE_H = 24.0
AXIS_H = 26.0
FONT_SIZE = 10.0
CHAR_W = 0.6 * FONT_SIZE  # a generous average glyph width for Helvetica
STATUS_FILL = {status: kit.task_style(status)["fillcolor"] for status in ("running", "succeeded", "cached", "failed",
                                                                         "cancelled", "paused")}
GROUP_FILL = "#9fb3d1"
STROKE = "#555555"


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    cls: str
    data: dict[str, str] = field(default_factory=dict)
    title: str = ""
    label: str = ""
    stroke: str = STROKE


@dataclass
class Text:
    x: float
    y: float  # the baseline
    text: str
    cls: str
    anchor: str = "start"
    size: float = FONT_SIZE


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    cls: str
    stroke: str = "#999999"


Shape = Box | Text | Line


@dataclass
class Chart:
    """The laid-out timeline: shapes in drawing order and the canvas size."""

    name: str
    width: float
    height: float
    shapes: list[Shape]

    def to_svg(self) -> str:
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(self.width)}pt" height="{_n(self.height)}pt" '
            f'viewBox="0 0 {_n(self.width)} {_n(self.height)}" class="graflow-timeline" '
            f'font-family="Helvetica,Arial,sans-serif" font-size="{_n(FONT_SIZE)}">',
            f'<rect class="background" x="0" y="0" width="{_n(self.width)}" height="{_n(self.height)}" fill="white"/>',
        ]
        for shape in self.shapes:
            out.append(_svg_shape(shape))
        out.append("</svg>")
        return "\n".join(out)

    def to_dot(self) -> graphviz.Digraph:
        """The same shapes as pinned neato nodes (y flipped: Graphviz's y grows upwards)."""
        dot = kit.Digraph(
            name=kit.name(self.name),
            engine="neato",
            graph_attr={"inputscale": "72", "splines": "false", "outputorder": "edgesfirst", "bgcolor": "white",
                        "pad": "0.1"},
            node_attr={"fontname": "Helvetica", "fontsize": _n(FONT_SIZE), "fixedsize": "true", "margin": "0"},
            edge_attr={"dir": "none", "arrowhead": "none"},
        )
        for i, shape in enumerate(self.shapes):
            _dot_shape(dot, i, shape, self.height)
        return dot


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg_shape(shape: Shape) -> str:
    if isinstance(shape, Box):
        attrs = "".join(f" data-{k}={quoteattr(v)}" for k, v in shape.data.items())
        rect = (
            f'<rect class="{shape.cls}"{attrs} x="{_n(shape.x)}" y="{_n(shape.y)}" width="{_n(shape.w)}" '
            f'height="{_n(shape.h)}" fill="{shape.fill}" stroke="{shape.stroke}" stroke-width="0.6" rx="2">'
        )
        title = f"<title>{escape(shape.title)}</title>" if shape.title else ""
        label = ""
        if shape.label:
            cx, cy = shape.x + shape.w / 2, shape.y + shape.h / 2 + FONT_SIZE * 0.35
            label = f'<text class="bar-label" x="{_n(cx)}" y="{_n(cy)}" text-anchor="middle">{escape(shape.label)}</text>'
        return f"<g>{rect}{title}</rect>{label}</g>"
    if isinstance(shape, Text):
        return (
            f'<text class="{shape.cls}" x="{_n(shape.x)}" y="{_n(shape.y)}" text-anchor="{shape.anchor}" '
            f'font-size="{_n(shape.size)}">{escape(shape.text)}</text>'
        )
    return (
        f'<line class="{shape.cls}" x1="{_n(shape.x1)}" y1="{_n(shape.y1)}" x2="{_n(shape.x2)}" '
        f'y2="{_n(shape.y2)}" stroke="{shape.stroke}" stroke-width="0.6"/>'
    )


def _dot_shape(dot: graphviz.Digraph, i: int, shape: Shape, height: float) -> None:
    def pos(x: float, y: float) -> str:
        return f"{_n(x)},{_n(height - y)}!"

    if isinstance(shape, Box):
        dot.node(
            f"s{i}",
            label=kit.label(shape.label) if shape.label else "",
            shape="box",
            style="filled",
            fillcolor=shape.fill,
            color=shape.stroke,
            penwidth="0.6",
            width=_n(shape.w / 72),
            height=_n(shape.h / 72),
            pos=pos(shape.x + shape.w / 2, shape.y + shape.h / 2),
            tooltip=kit.label(shape.title) if shape.title else "",
        )
    elif isinstance(shape, Text):
        width = len(shape.text) * CHAR_W * shape.size / FONT_SIZE
        cx = shape.x + (width / 2 if shape.anchor == "start" else 0.0)
        dot.node(
            f"s{i}",
            label=kit.label(shape.text),
            shape="plaintext",
            fontsize=_n(shape.size),
            fixedsize="false",
            width="0",
            height="0",
            pos=pos(cx, shape.y - shape.size * 0.35),
        )
    else:
        for end, (x, y) in (("a", (shape.x1, shape.y1)), ("b", (shape.x2, shape.y2))):
            dot.node(f"s{i}{end}", label="", shape="point", width="0", style="invis", pos=pos(x, y))
        dot.edge(f"s{i}a", f"s{i}b", color=shape.stroke, penwidth="0.6")


def _ticks(span: float) -> tuple[float, list[float]]:
    """A 1/2/5 x 10^k step giving at most 8 intervals over ``span`` seconds."""
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = int(span / step + 1e-9)
    return step, [i * step for i in range(count + 1)]


def _tick_label(value: float, step: float) -> str:
    if step < 1:
        return f"{value * 1000:.{max(0, -math.floor(math.log10(step * 1000)))}f} ms"
    return f"{value:g} s"


def timeline_chart(run: Run, max_lanes: int | None = MAX_LANES, now: float | None = None) -> Chart:
    """Lay out ``run``'s task attempts; at most ``max_lanes`` sessions (None: all)."""
    view = RunView(run)
    lanes = view.tree if max_lanes is None else view.tree[:max_lanes]
    left_out = len(view.tree) - len(lanes)
    t0 = run.started
    end_times = [tr.end for tr in view.attempts if tr.end is not None]
    shift = _resume_gap(run)
    t1 = shift(run.ended if run.ended is not None else max([now or time.time(), *end_times]))
    span = max(t1 - t0, 1e-3)
    label_w = max([len(rec.session_id) * CHAR_W + rec.depth * 10 for rec in lanes] + [60.0]) + 2 * PAD
    x0 = label_w
    scale = PLOT_W / span

    def x_of(t: float) -> float:
        return x0 + (shift(t) - t0) * scale

    title = f"{run.workflow_name or 'workflow'}: run {run.root_session_id} {run.status}"
    shapes: list[Shape] = [Text(PAD, TITLE_H - 8, title, "title", size=FONT_SIZE + 1)]
    lane_y = {rec.session_id: TITLE_H + i * LANE_H for i, rec in enumerate(lanes)}
    for i, rec in enumerate(lanes):
        y = lane_y[rec.session_id]
        shade = "#f7f7f7" if i % 2 == 0 else "#ffffff"
        shapes.append(Box(0, y, x0 + PLOT_W + PAD, LANE_H, shade, "lane", {"session": rec.session_id},
                          stroke=shade))
        shapes.append(Text(PAD + rec.depth * 10, y + LANE_H / 2 + FONT_SIZE * 0.35, rec.session_id, "lane-label"))
    for tr in view.attempts:
        y = lane_y.get(tr.session_id)
        if y is None:
            continue
        is_group = tr.task_id in view.group_ids
        end = tr.end if tr.end is not None else t1
        x, w = x_of(tr.start), max((end - tr.start) * scale, 1.0)
        h = GROUP_H if is_group else BAR_H
        status = tr.status if tr.end is not None else "running"
        if status == "succeeded" and tr.order_key in view.cached:
            status = "cached"  # replayed from the re-run cache, not called
        took = "" if tr.end is None else f" in {(tr.end - tr.start) * 1000:.1f} ms"
        label = tr.task_id if not is_group and len(tr.task_id) * CHAR_W + 4 <= w else ""
        shapes.append(
            Box(
                x,
                y + (LANE_H - BAR_H) / 2 + (BAR_H - h if is_group else 0),
                w,
                h,
                GROUP_FILL if is_group else STATUS_FILL.get(status, kit.WHITE),
                "group" if is_group else "bar",
                {"task": tr.task_id, "session": tr.session_id, "status": status, "attempt": str(tr.attempt)},
                title=f"{tr.task_id} (attempt {tr.attempt}) {status}{took} on {tr.thread}",
                label=label,
            )
        )
    bottom = TITLE_H + len(lanes) * LANE_H
    mark = run.resumed_at()
    if mark is not None:  # where the saved history ends and the resumed run begins
        x = x_of(mark.at)
        shapes.append(Line(x, TITLE_H, x, bottom, "resume", stroke="#d9822b"))
        shapes.append(Text(x + 3, TITLE_H - 8, f"resumed from {mark.source}", "resume-label"))
    if left_out:
        more = f"... {left_out} more sessions (draw_timeline(run, max_lanes=None) draws every lane)"
        shapes.append(Text(PAD, bottom + LANE_H / 2 + FONT_SIZE * 0.35, more, "more"))
        bottom += LANE_H
    shapes.append(Line(x0, bottom + 2, x0 + PLOT_W, bottom + 2, "axis", stroke=STROKE))
    step, ticks = _ticks(span)
    for value in ticks:
        x = x_of(t0 + value)
        shapes.append(Line(x, bottom + 2, x, bottom + 6, "tick", stroke=STROKE))
        shapes.append(Text(x, bottom + 6 + FONT_SIZE, _tick_label(value, step), "tick-label", anchor="middle"))
    return Chart(f"{title} timeline", x0 + PLOT_W + 2 * PAD, bottom + AXIS_H, shapes)


def _resume_gap(run: Run) -> Callable[[float], float]:
    """Times as drawn: after a resume from a checkpoint, the wait between the saved
    history's last moment and the resume (minutes, days) is cut out, so both halves
    keep their width; the resume line marks the cut."""
    mark = run.resumed_at()
    if mark is None:
        return lambda t: t
    before = [tr.end if tr.end is not None else tr.start for tr in run.task_runs[: mark.task_runs]]
    cut = max(0.0, mark.at - max([run.started, *before]))
    return lambda t: t - cut if t >= mark.at else t


class Timeline(Render):
    """A run's timeline: shows as SVG built in Python (no Graphviz needed); ``.source``
    is the pinned-neato DOT of the same chart, which ``.save("x.png")`` lays out."""

    def __init__(self, chart: Chart, text: str | None = None):
        super().__init__(chart.to_dot(), text)
        self.chart = chart
        self._svg = chart.to_svg()


def draw_timeline(run: Run, *, max_lanes: int | None = MAX_LANES) -> Timeline:
    """Tasks as bars per session over time; works during a run (running bars end now)."""
    if run is None or not hasattr(run, "task_runs"):
        raise TypeError(f"draw_timeline() takes a run record such as wf.last_run, got {type(run).__name__}")
    return Timeline(timeline_chart(run, max_lanes=max_lanes), timeline_text(run))
