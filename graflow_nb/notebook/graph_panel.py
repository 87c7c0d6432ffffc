"""The inspector a click opens inside the graph view: HTML for one task, one fan-in, one
session.  Every piece of user text is escaped here (the browser puts it in as HTML).

A task: per session it ran in, its inputs, its result (a frame as a table, a long value
cut with a fold to see more), each attempt with its error and traceback, and what each
attempt printed and logged (kept by ``observe.output.OutputCapture`` when the view that
ran it asked for it).  A fan-in (a group's join): each branch's changes to the channel,
as ``preview_merge`` computes them.  A session: its channel as it is now, and for a
branch its changes since the fork.
"""

from __future__ import annotations

import html
import traceback
from typing import Any

from ..debug.merge_preview import describe_change, preview_merge
from ..debug.values import value_html
from .inspector import task_details

TRACEBACK_LINES = 60


def task_panel(workflow: Any, run: Any, task_id: str, capture: Any = None) -> str:
    """The inspector of ``task_id`` in ``run``."""
    details = task_details(workflow, run, task_id)
    head = f"<h4 style='margin:2px 0'>{html.escape(task_id)} <small>({html.escape(details['kind'])})</small></h4>"
    if run is None or not details["runs"]:
        return head + "<p>not run</p>"
    outputs = capture.of(run, task_id) if capture is not None else None
    blocks = []
    for entry in details["runs"]:
        sid = entry["session"]
        inputs = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{value_html(v)}</td></tr>"
                         for k, v in entry["inputs"].items())
        blocks.append(
            f"<div class='graflow-gv-run'><p>session <b>{html.escape(sid)}</b>: {html.escape(entry['status'])}</p>"
            f"<p><b>inputs</b></p><table>{inputs or '<tr><td>-</td></tr>'}</table>"
            f"<p><b>result</b>: {value_html(entry['result'])}</p>"
            f"{_attempts(entry['attempts'], sid, outputs)}</div>"
        )
    return head + "".join(blocks)


def _attempts(attempts: list[dict[str, Any]], session_id: str, outputs: Any) -> str:
    rows = []
    for a in attempts:
        took = "-" if a["duration"] is None else f"{a['duration'] * 1000:.1f} ms"
        text = f"attempt {a['attempt']}: {a['status']} (+{a['start']:.3f} s, took {took}, thread {a['thread']})"
        block = f"<p><b>{html.escape(text)}</b></p>"
        error = a["error"]
        if error is not None:
            lines = "".join(traceback.format_exception(error)).splitlines()[-TRACEBACK_LINES:]
            block += (f"<p class='graflow-gv-error'>{html.escape(f'{type(error).__name__}: {error}')}</p>"
                      f"<details><summary>traceback</summary><pre>{html.escape(chr(10).join(lines))}</pre></details>")
        if outputs is not None:
            mine = [o for o in outputs if o.session_id == session_id and o.attempt == a["attempt"]]
            printed = "".join(o.text for o in mine)
            block += (f"<p>output [session {html.escape(session_id)}]:</p>"
                      f"<pre class='graflow-gv-output'>{html.escape(printed) or '(nothing printed)'}</pre>")
        rows.append(block)
    if outputs is None:
        rows.append("<p><i>printed output is kept when the run is shown live (execute(live=True))</i></p>")
    return "".join(rows)


def join_panel(workflow: Any, run: Any, group_id: str) -> str:
    """Each branch's changes at the fan-in of ``group_id`` (every time it ran)."""
    head = f"<h4 style='margin:2px 0'>join {html.escape(group_id)}</h4>"
    if run is None:
        return head + "<p>not run</p>"
    group = workflow.graph.nodes.get(group_id)
    by_parent: dict[str, list[Any]] = {}
    for rec in sorted(list(run.sessions.values()), key=lambda r: r.order_key):
        if rec.group_id == group_id and rec.parent_id is not None:
            by_parent.setdefault(rec.parent_id, []).append(rec)
    if group is None or not by_parent:
        return head + "<p>no branch has forked yet</p>"
    blocks = []
    for parent_id, kids in by_parent.items():
        parent = run.sessions.get(parent_id)
        branches = [(k.member_id, k.context, None) for k in kids if k.context is not None]
        if parent is None or parent.context is None or not branches:
            continue
        preview = preview_merge(group, parent.context, branches)
        items = []
        for branch in preview.branches:
            changes = "".join(f"<li>{html.escape(describe_change(key, change))}</li>"
                              for key, change in branch.changes.items())
            items.append(f"<li><b>{html.escape(str(branch.member))}</b> ({html.escape(branch.session_id)}): "
                         f"<ul>{changes or '<li>no changes</li>'}</ul></li>")
        blocks.append(f"<p>into <b>{html.escape(parent_id)}</b>, {html.escape(preview.strategy)}:</p>"
                      f"<ul>{''.join(items)}</ul>")
    return head + ("".join(blocks) or "<p>no branch to show</p>")


def session_panel(run: Any, session_id: str) -> str:
    """The channel of ``session_id`` as it is now, a branch's changes since its fork in bold."""
    head = f"<h4 style='margin:2px 0'>session {html.escape(session_id)}</h4>"
    rec = run.sessions.get(session_id) if run is not None else None
    if rec is None or rec.context is None:
        return head + "<p>no channel to show</p>"
    channel = rec.context.channel
    changes = dict(channel.changes()) if hasattr(channel, "changes") else {}
    try:
        values = channel.to_dict()
    except Exception as error:  # a channel that can't be read now still names itself
        return head + f"<p class='graflow-gv-error'>{html.escape(f'{type(error).__name__}: {error}')}</p>"
    rows = "".join(
        f"<tr{' style=font-weight:bold' if key in changes else ''}><td><code>{html.escape(str(key))}</code></td>"
        f"<td>{value_html(value)}</td></tr>"
        for key, value in values.items()
    )
    lines = [f"state {rec.state}", f"enqueued {rec.enqueued} / dequeued {rec.dequeued}",
             f"ran {', '.join(rec.tasks_run) or '-'}"]
    since = "".join(f"<li>{html.escape(describe_change(k, c))}</li>" for k, c in changes.items())
    return (head + f"<p>{html.escape('; '.join(lines))}</p><p><b>channel</b></p><table>{rows}</table>"
            + (f"<p>changes since the fork:</p><ul>{since}</ul>" if since else ""))
