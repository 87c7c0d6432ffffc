"""A map node at run time: the items read from the parent session, one member per
item, and the results collected from the members' branches.

The coordinator runs a map as it runs any group (``GroupRun``): these functions only
make the member list before the fork and read the results after the merge, so
policies, merges, ``max_concurrency``, timeouts, retries, human input, checkpoints and
Dask work for items exactly as for ``a | b``.  Each member is a copy of the map's
template (``MapTask.member``); its branch session holds it as its own task
(``Session.dynamic_nodes``), so a lookup of ``summarize[3]`` finds it there: in a
checkpoint, on a Dask worker, and when a resumed branch runs it again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...checks import shown
from ...data.channel import MISSING
from ...errors import MapItemsError
from ...model.mapping import MapItems, map_items, results_of
from ...model.task import Executable, MapTask
from ..session import RESULT_SUFFIX, Session


def read_items(node: MapTask, parent: Session) -> MapItems:
    """The items of ``node`` as ``parent`` sees them now (see ``core.model.mapping``)."""
    if node.handed is not None:
        return map_items(node.handed[0], node.task_id, "the item its outer map handed it", node.key)
    source = node.over
    if callable(source):
        what = f"what {getattr(source, '__name__', 'its function')} read"
        return map_items(source(parent.channel), node.task_id, what, node.key)
    if source is None:
        preds = parent.predecessors(node.task_id)
        if len(preds) != 1:
            raise MapItemsError(
                f"map {shown(node.task_id)} in session {shown(parent.session_id)} has "
                f"{len(preds)} predecessors ({', '.join(shown(p) for p in preds) or 'none'}); say which "
                f"result holds the items: .map(over='<task or channel key>')"
            )
        source = preds[0]
    channel = parent.channel
    key = source + RESULT_SUFFIX
    value = channel.get(key, MISSING)
    if value is MISSING:
        key = source
        value = channel.get(key, MISSING)
    if value is MISSING:
        raise MapItemsError(
            f"map {shown(node.task_id)} in session {shown(parent.session_id)}: nothing to map over: no "
            f"result of a task {shown(source)} (channel key {shown(source + RESULT_SUFFIX)}) and no channel "
            f"key {shown(source)}"
        )
    return replace(map_items(value, node.task_id, f"{shown(source)}", node.key), source_key=key)


def members_for(node: MapTask, items: MapItems, parent: Session) -> list[Executable]:
    """One member per item; an item id that is also a task of the graph is refused (a
    lookup by id, on a resume or a worker, would find that task instead)."""
    members = [node.member(label, item) for label, item in zip(items.labels, items.items, strict=True)]
    nodes = parent.graph.nodes
    clash = next((m.task_id for m in members if m.task_id in nodes), None)
    if clash is not None:
        raise MapItemsError(
            f"map {shown(node.task_id)} in session {shown(parent.session_id)}: item id {shown(clash)} is also "
            f"the id of a task in the workflow; rename that task or give the items other keys"
        )
    return members


def hold_members(branches: list[Session], members: list[Executable]) -> None:
    """Each branch holds its own member, where lookups by id find it."""
    for branch, member in zip(branches, members, strict=True):
        branch.dynamic_nodes = {member.task_id: member}


def members_of(branches: list[Session]) -> list[Executable]:
    """The members a map's saved branches hold (a group run restored from a checkpoint)."""
    return [branch.lookup(branch.record.member_id or "") for branch in branches]


def collect(members: list[Executable], branches: list[Session], succeeded: list[int], keys: list[Any] | None) -> Any:
    """The map's result: each member's result as its branch holds it, in item order."""
    ok = [False] * len(members)
    for index in succeeded:
        ok[index] = True
    values = [
        branches[i].channel.get(member.task_id + RESULT_SUFFIX) if ok[i] else None
        for i, member in enumerate(members)
    ]
    return results_of(values, keys, ok)
