"""What the debugger hands back: plain data that also reads well in a notebook.

``SessionStates`` is a list of dicts (compare it, index it, turn it into a DataFrame);
printing it gives the session tree with each session's status, where it stopped and
its queue.  ``Step`` and ``Halt`` say what one ``step()`` / ``continue_()`` did.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


class SessionStates(list):
    """``[{session_id, parent, depth, status, stop, task, next_task, queue, ran, cancelled}]``
    in session order (a parent before its branches, branches in declaration order)."""

    def lines(self) -> list[str]:
        if not self:
            return ["(no live sessions)"]
        width = max(2 * s["depth"] + len(s["session_id"]) for s in self) + 2
        where = max(len(describe_position(s)) for s in self) + 2
        out = []
        for s in self:
            name = ("  " * s["depth"] + s["session_id"]).ljust(width)
            out.append(f"{name}{s['status']:<9}{describe_position(s):<{where}}queue: {', '.join(s['queue']) or '-'}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            f"<td style='text-align:left;padding-left:{1 + 1.5 * s['depth']}em'>{html.escape(s['session_id'])}</td>"
            f"<td>{html.escape(s['status'])}</td><td>{html.escape(describe_position(s))}</td>"
            f"<td>{html.escape(', '.join(s['queue']) or '-')}</td></tr>"
            for s in self
        )
        return f"<table><tr><th>session</th><th>status</th><th>where</th><th>queue</th></tr>{rows}</table>"


def describe_position(entry: dict[str, Any]) -> str:
    stop, task = entry["stop"], entry["task"]
    cancelled = " (cancelled)" if entry.get("cancelled") else ""
    if stop == "before":
        return f"before {task}{cancelled}"
    if stop == "after":
        return f"after {task}{cancelled}"
    if stop == "merge":
        return f"at merge of {task}{cancelled}"
    if entry["status"] == "waiting":
        return f"in {task}"
    if entry["status"] in ("running",) and task:
        return f"running {task}"
    if entry["status"] == "done":
        return "finished, not merged yet" if entry.get("parent") else "finished"
    return ""


@dataclass(frozen=True)
class Step:
    """What one ``step()`` advanced: which session, from where, what ran, where it is now."""

    session_id: str
    released: str  # "before fetch", "after fetch", "at merge of ParallelGroup_1"
    ran: tuple[str, ...]  # tasks that ended in this session during the step
    failed: tuple[str, ...]  # of those, the ones that raised
    forked: tuple[str, ...]  # branch sessions it forked
    merged: tuple[str, ...]  # branch sessions it merged
    now: str  # where the session is after the step

    @property
    def task_id(self) -> str:
        return self.released.split(" ")[-1]

    def __str__(self) -> str:
        parts = []
        if self.forked:
            parts.append(f"forked {', '.join(self.forked)}")
        if self.merged:
            parts.append(f"merged {', '.join(self.merged)}")
        ran = [t for t in self.ran if not (self.merged and t == self.task_id)]
        if ran:
            parts.append(f"ran {', '.join(ran)}")
        if self.failed:
            parts.append(f"failed in {', '.join(self.failed)}")
        if not parts:  # a ready_parallel session dispatched its task and came back
            parts.append(f"started {self.task_id}" if self.released.startswith("before") else f"left {self.released}")
        return f"{self.session_id}: {'; '.join(parts)}; now {self.now}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


@dataclass(frozen=True)
class Halt:
    """Where a ``continue_()`` came to rest: the held sessions, or the end of the run."""

    reason: str
    held: tuple[str, ...]
    ran: tuple[tuple[str, str], ...]  # (session_id, task_id) that ended meanwhile

    def __str__(self) -> str:
        return self.reason

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))
