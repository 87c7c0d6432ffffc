"""The merge explainer: what a fan-in is about to do, computed before it happens.

At a held merge every branch has ended and nothing has been merged.  The preview shows
each branch's changes since the fork (``BranchChannel.changes()``), the group's
strategy, and the parent channel the merge will leave, by running the engine's own
``merge_branches`` on an overlay over the parent channel (a ``BranchChannel``, so the
parent is untouched and nothing is copied): the prediction is the real merge code, not
a re-implementation that could drift from it.  A conflict is part of the prediction,
not an error of the preview.

A callable strategy is user code; the preview calls it once more (on the copy).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..core.data.channel import MISSING, BranchChannel, Change, MemoryChannel, same_value
from ..core.data.merge import DEFAULT_STRATEGY, merge_branches
from .values import brief, value_html


def short(value: Any, width: int = 60) -> str:
    """One line, cut to ``width`` characters: a frame's shape, numbers in full (``values.brief``)."""
    return "<deleted>" if value is MISSING else brief(value, width)


def describe_strategy(spec: Any) -> str:
    if spec is None:
        return f"{DEFAULT_STRATEGY} (the default: differing writes to one key conflict)"
    if isinstance(spec, dict):
        return "per key: " + ", ".join(f"{k}: {describe_strategy(v)}" for k, v in spec.items())
    if callable(spec):
        return f"callable {getattr(spec, '__qualname__', repr(spec))}"
    return str(spec)


def describe_conflict(error: BaseException) -> str:
    """One line: the key and who wrote what, when the error says (MergeConflictError)."""
    key, writers = getattr(error, "key", None), getattr(error, "writers", None)
    if key is not None and writers:
        shown = ", ".join(f"{member} wrote {short(value, 30)}" for member, value in writers)
        return f"{type(error).__name__} on {key!r}: {shown}"
    return f"{type(error).__name__}: {error}"


def describe_change(key: str, change: Change) -> str:
    if change.kind == "delete":
        return f"delete {key}"
    if change.kind == "ops":
        ops = ", ".join(f"{op} {short(arg, 30)}" for op, arg in change.ops)
        return f"{key}: {ops}"
    return f"set {key} = {short(change.value)}"


@dataclass(frozen=True)
class BranchDelta:
    """One member's branch at the fan-in."""

    member: str
    session_id: str
    status: str  # succeeded | failed | cancelled (only succeeded branches merge)
    changes: dict[str, Change]


@dataclass(frozen=True)
class MergePreview:
    group_id: str
    parent_session: str
    strategy: str
    branches: tuple[BranchDelta, ...]
    before: dict[str, Any]
    after: dict[str, Any] | None  # None when the merge will raise
    conflict: BaseException | None
    steps: dict[str, dict[str, Any]]  # member -> {key: parent value after that member's merge}

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        """``{key: (before, after)}`` for every key the merge will change."""
        if self.after is None:
            return {}
        keys = list(self.before) + [k for k in self.after if k not in self.before]
        out = {}
        for key in keys:
            old, new = self.before.get(key, MISSING), self.after.get(key, MISSING)
            if old is not new and not same_value(old, new):
                out[key] = (old, new)
        return out

    def lines(self) -> list[str]:
        out = [f"merge {self.group_id} into {self.parent_session}  (strategy: {self.strategy})"]
        for branch in self.branches:
            merged = "" if branch.status == "succeeded" else f"  {branch.status}: not merged"
            out.append(f"  {branch.session_id}  ({branch.member}){merged}")
            for key, change in branch.changes.items():
                out.append(f"    {describe_change(key, change)}")
            if not branch.changes:
                out.append("    (no changes)")
        if self.conflict is not None:
            out.append(f"the merge will fail: {describe_conflict(self.conflict)}")
            return out
        out.append(f"{self.parent_session} after the merge:")
        changed = self.changed
        for key, value in (self.after or {}).items():
            if key in changed:
                old = changed[key][0]
                note = "new" if old is MISSING else f"was {short(old, 30)}"
            else:
                note = "unchanged"
            out.append(f"  {key} = {short(value)}  ({note})")
        out.extend(f"  {key} deleted" for key, (_, new) in changed.items() if new is MISSING)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = []
        for branch in self.branches:
            changes = "<br>".join(html.escape(describe_change(k, c)) for k, c in branch.changes.items()) or "-"
            rows.append(
                f"<tr><td>{html.escape(branch.session_id)}</td><td>{html.escape(branch.status)}</td>"
                f"<td style='text-align:left'>{changes}</td></tr>"
            )
        head = (
            f"<b>merge {html.escape(self.group_id)} into {html.escape(self.parent_session)}</b> "
            f"(strategy: {html.escape(self.strategy)})"
        )
        table = f"<table><tr><th>branch</th><th>status</th><th>changes since the fork</th></tr>{''.join(rows)}</table>"
        if self.conflict is not None:
            result = f"<p><b>the merge will fail</b>: {html.escape(describe_conflict(self.conflict))}</p>"
        else:
            changed = self.changed
            cells = []
            for key, value in (self.after or {}).items():
                mark = " style='font-weight:bold'" if key in changed else ""
                cells.append(f"<tr{mark}><td>{html.escape(key)}</td><td>{value_html(value)}</td></tr>")
            result = (
                f"<p>{html.escape(self.parent_session)} after the merge (changed keys in bold):</p>"
                f"<table>{''.join(cells)}</table>"
            )
        return head + table + result


def preview_merge(group: Any, parent: Any, branches: list[tuple[str, Any, Any]]) -> MergePreview:
    """Predict the merge ``before_merge(group, parent, branches)`` is about to make."""
    deltas = []
    merging = []
    for member, ctx, outcome in branches:
        status = getattr(outcome, "status", "succeeded")
        deltas.append(BranchDelta(member, ctx.session_id, status, dict(ctx.channel.changes())))
        if getattr(outcome, "success", True):
            merging.append((member, ctx.channel))
    before = {key: parent.channel.peek(key) for key in parent.channel.keys()}
    snapshot = MemoryChannel(f"{parent.session_id}-preview", before)
    snapshot.shared_keys = parent.channel.shared_keys
    trial = BranchChannel(snapshot, snapshot.name)
    after: dict[str, Any] | None
    try:
        steps = merge_branches(trial, merging, group.merge, group.task_id, report=True)
        after, conflict = dict(before), None
        for key, change in trial.changes().items():
            if change.kind == "delete":
                after.pop(key, None)
            else:
                after[key] = change.value
    except Exception as error:
        steps, after, conflict = {}, None, error
    return MergePreview(
        group.task_id, parent.session_id, describe_strategy(group.merge), tuple(deltas), before, after, conflict, steps
    )
