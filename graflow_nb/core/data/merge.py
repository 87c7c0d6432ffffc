"""Fan-in: folding each branch's changes since the fork into the parent channel.

Branches are folded in *declaration* order, never completion order, so the parent
ends up the same however the threads raced.  Only keys a branch changed take part, so
an inherited key a branch never touched can't undo a sibling's write.

Strategies (``group.with_execution(merge=...)``; a dict chooses per key, with ``"*"``
for the rest):

    "error"       default. Two branches setting one key to *different* values is a
                  ``MergeConflictError`` naming the key and both members, raised before
                  the parent changes.  Chosen as the default because it never loses a
                  write silently: every other rule drops or combines someone's value,
                  and that should be a decision the user wrote down.
    "overwrite"   the last *declared* writer wins
    "keep_first"  the first declared writer wins
    "deep_merge"  dicts merged recursively into the parent's value, in declared order
    "append"      lists: each branch's items added since the fork, concatenated
    "union"       like append, dropping items already present
    "sum"         numbers: parent + each branch's delta since the fork
    "no_merge"    nothing reaches the parent but task results
    callable      as the group's strategy: ``fn(parent_channel, {member:
                  branch_channel})`` in declared order, returning ``{key: value}`` to
                  set in the parent (or None after writing to ``parent_channel``);
                  as one key's strategy: ``fn(parent_value, [(member, value)])``
                  returning the key's merged value

Whatever the strategy, ``channel.append`` / ``prepend`` / ``atomic_add`` made in
branches are replayed onto the parent in declared order, so counters and lists built
with them add up across branches (graflow keeps only the last branch's), and task
results (``"<id>.__result__"``) are each task's own key and never conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..checks import describe, shown
from ..errors import ConfigError, MergeConflictError
from .channel import MISSING, BranchChannel, Change, Channel
from .isolation import same_value

STRATEGIES = ("error", "overwrite", "keep_first", "deep_merge", "append", "union", "sum", "no_merge")
DEFAULT_STRATEGY = "error"
_RESULT_SUFFIX = ".__result__"


def validate_merge_spec(spec: Any, group_id: str) -> None:
    if spec is None or callable(spec):
        return
    if isinstance(spec, dict):
        bad_key = next((k for k in spec if not isinstance(k, str)), None)
        if bad_key is not None:
            raise ConfigError(
                f"merge rules for group {shown(group_id)} are keyed by channel key (a string) or "
                f"'*', got the key {describe(bad_key)}"
            )
    rules = spec.values() if isinstance(spec, dict) else [spec]
    for rule in rules:
        if not (callable(rule) or (isinstance(rule, str) and rule in STRATEGIES)):
            raise ConfigError(
                f"unknown merge strategy {shown(rule)} for group {shown(group_id)}; "
                f"choose one of {', '.join(STRATEGIES)} or a callable"
            )


def _strategy_for(spec: Any, key: str) -> Any:
    if key.endswith(_RESULT_SUFFIX):
        return "overwrite"
    if spec is None:
        return DEFAULT_STRATEGY
    if isinstance(spec, dict):
        return spec.get(key, spec.get("*", DEFAULT_STRATEGY))
    return spec


def _deep_merge(base: Any, update: Any) -> Any:
    if not (isinstance(base, dict) and isinstance(update, dict)):
        return update
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _deep_merge(merged[key], value) if key in merged else value
    return merged


def _added_items(fork: Any, value: Any, key: str, group_id: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(
            f"group {group_id!r}, channel key {key!r}: the append/union merge needs lists, "
            f"got {type(value).__name__}; use merge={{{key!r}: 'overwrite'}} or another strategy for it"
        )
    if isinstance(fork, list) and same_value(value[: len(fork)], fork):
        return value[len(fork):]
    return list(value)


def _holds(items: list[Any], item: Any) -> bool:
    """``item in items`` by content: ``in`` uses ``==``, ambiguous for arrays and frames."""
    return any(same_value(item, other) for other in items)


def _apply_ops(parent: Channel, key: str, ops: tuple[tuple[str, Any], ...]) -> None:
    for op, arg in ops:
        if op == "add":
            parent.atomic_add(key, arg)
        elif op == "append":
            parent.append(key, arg)
        else:
            parent.prepend(key, arg)


def merge_branches(
    parent: Channel,
    branches: list[tuple[str, BranchChannel]],
    spec: Any,
    group_id: str,
    report: bool = False,
) -> dict[str, dict[str, Any]]:
    """Fold ``branches`` (declared order) into ``parent``.

    Every write is planned before the first one is made, so a conflict raises with
    the parent channel untouched.  With ``report`` the return value maps member ->
    {key: value the parent holds after that member's changes}, for BRANCH_MERGED
    events and the merge explainer; otherwise it is empty.  Once merged, what each
    branch froze to isolate its reads is the parent's (``Channel.adopt``).
    """
    if callable(spec) and not isinstance(spec, dict):
        applied = _merge_with_callable(parent, branches, spec)
    else:
        applied = _merge_by_key(parent, branches, spec, group_id, report)
    for _member, channel in branches:
        if channel.isolation is not None:
            parent.adopt(channel.isolation)
    return applied


def _merge_by_key(
    parent: Channel, branches: list[tuple[str, BranchChannel]], spec: Any, group_id: str, report: bool
) -> dict[str, dict[str, Any]]:
    results: list[tuple[str, str, Any]] = []  # (member, key, value): task results, each task's own key
    writers_by_key: dict[str, list[tuple[str, Change]]] = {}
    for member, channel in branches:
        assigned = channel.assignments()
        if assigned is not None:  # only sets (most branches: their task's result)
            for key, value in assigned:
                if key.endswith(_RESULT_SUFFIX):
                    results.append((member, key, value))
                else:
                    writers_by_key.setdefault(key, []).append((member, Change("set", value)))
            continue
        for key, change in channel.changes().items():
            if change.kind == "set" and key.endswith(_RESULT_SUFFIX):
                results.append((member, key, change.value))
            else:
                writers_by_key.setdefault(key, []).append((member, change))

    planned: list[tuple[str, str, Any]] = []
    if writers_by_key:
        channels = dict(branches)
        for key, writers in writers_by_key.items():
            planned.extend(_plan_key(parent, key, writers, _strategy_for(spec, key), group_id, channels))

    # Nothing is written before every key is planned: a conflict leaves the parent as it was.
    applied: dict[str, dict[str, Any]] = {}
    for member, key, value in results:
        parent.set(key, value)
        if report:
            applied.setdefault(member, {})[key] = parent.get(key, MISSING)
    for member, key, (kind, payload) in planned:
        if kind == "set":
            parent.set(key, payload)
        elif kind == "delete":
            parent.delete(key)
        else:
            _apply_ops(parent, key, payload)
        if report:
            applied.setdefault(member, {})[key] = parent.get(key, MISSING)
    return applied


def _plan_key(
    parent: Channel,
    key: str,
    writers: list[tuple[str, Change]],
    rule: Any,
    group_id: str,
    channels: dict[str, BranchChannel],
) -> list[tuple[str, str, Any]]:
    ops_only = [(m, c) for m, c in writers if c.kind == "ops"]
    assigners = [(m, c) for m, c in writers if c.kind != "ops"]
    plan: list[tuple[str, str, Any]] = []

    if rule == "no_merge":
        return plan
    if callable(rule):
        current = parent.get(key, MISSING)
        value = rule(current, [(m, c.value if c.kind != "delete" else MISSING) for m, c in writers])
        member = writers[-1][0]
        return [(member, key, ("set", value))]

    if assigners:
        if rule == "error":
            distinct: list[tuple[str, Any]] = []
            for member, change in assigners:
                value = MISSING if change.kind == "delete" else change.value
                if not any(same_value(value, seen) for _, seen in distinct):
                    distinct.append((member, value))
            if len(distinct) > 1:
                shown = [(m, "<deleted>" if v is MISSING else v) for m, v in distinct]
                raise MergeConflictError(key, shown, group_id)
            chosen = [assigners[-1]]
        elif rule == "keep_first":
            chosen = [assigners[0]]
        elif rule == "overwrite":
            chosen = [assigners[-1]]
        elif rule in ("deep_merge", "append", "union", "sum"):
            plan.append(_combine(parent, key, assigners, rule, channels, group_id))
            chosen = []
        else:
            raise ConfigError(f"unknown merge strategy {rule!r} for key {key!r} in group {group_id!r}")
        for member, change in chosen:
            plan.append((member, key, ("delete", None) if change.kind == "delete" else ("set", change.value)))

    for member, change in ops_only:
        plan.append((member, key, ("ops", change.ops)))
    return plan


def _combine(
    parent: Channel,
    key: str,
    assigners: list[tuple[str, Change]],
    rule: str,
    channels: dict[str, BranchChannel],
    group_id: str,
) -> tuple[str, str, Any]:
    fork = parent.get(key, MISSING)
    value = fork
    for member, change in assigners:
        if change.kind == "delete":
            continue
        new = change.value
        if rule == "deep_merge":
            value = _deep_merge(value if value is not MISSING else {}, new)
        elif rule == "sum":
            base = channels[member].fork_value(key)
            value = (0 if value is MISSING else value) + (new - (0 if base is MISSING else base))
        else:
            items = _added_items(channels[member].fork_value(key), new, key, group_id)
            current = [] if value is MISSING else list(value)
            if rule == "union":
                items = [x for i, x in enumerate(items) if not _holds(current, x) and not _holds(items[:i], x)]
            value = current + items
    return (assigners[-1][0], key, ("set", value))


def _merge_with_callable(
    parent: Channel, branches: list[tuple[str, BranchChannel]], fn: Callable[..., Any]
) -> dict[str, dict[str, Any]]:
    for _member, channel in branches:
        for key, change in channel.changes().items():
            if key.endswith(_RESULT_SUFFIX) and change.kind == "set":
                parent.set(key, change.value)
    updates = fn(parent, dict(branches))
    if updates:
        for key, value in updates.items():
            parent.set(key, value)
    last = branches[-1][0] if branches else ""
    return {last: dict(updates or {})}
