"""A run's cache for branch sessions that run in another process (a Dask worker).

The cache works where a task runs: a branch shipped to a worker plans, replays and
keeps its tasks there, with code keys computed there (the worker's own module
versions decide what calling a task there does).  Both ways it travels as data:

    BranchCache   with a group's branches, once per group: the run's id, the tasks a
                  ``rerun`` forces, the entries of every task those branches may run
                  (their members, what follows each member in the graph, the members
                  of groups among those, and tasks made at run time: the ids the
                  graph does not hold), the tokens the run gave the values of the
                  parent's channel, so a value a task of this run wrote keeps its
                  token there and is not fingerprinted again, and the source digests
                  of their functions: cloudpickle brings a function defined in a
                  notebook cell (or any it can't import there) by value and without
                  its file name, so the worker keys it by the source it had here
                  (``keys.learn_sources``), as a thread would (comments and
                  docstrings don't count, and a group moved to Dask keeps its
                  entries); modules are keyed by the worker's own versions
    CacheReport   back with each branch's outcome: the decisions made there (by order
                  key: ``why()``, renders and frames read them as local ones), the
                  entries kept there (they land in the run's store, on disk too) and
                  the tokens of what the branch wrote

``branch_cache`` and ``absorb_report`` run where the run started; ``worker_cache`` and
``cache_report`` where the branch runs.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data.channel import Change
from ..model.graph import TaskGraph
from ..model.task import Executable, TaskWrapper
from .fingerprint import Unfingerprintable
from .keys import KeyMaker, code_identity, learn_sources
from .run_cache import Decision, RunCache
from .store import Entry, MemoryStore

Tokens = dict[str, tuple[bytes, str | None]]


@dataclass
class BranchCache:
    """What a group's branches in another process need of the run's cache."""

    run_id: str
    force: frozenset[str]
    rerun_from: str | None
    entries: dict[str, Sequence[Entry]]  # task id -> its entries, newest first
    tokens: Tokens = field(default_factory=dict)  # parent channel key -> (token, producer)
    sources: dict[bytes, bytes] = field(default_factory=dict)  # code digest -> source digest


@dataclass
class CacheReport:
    """What a branch's cache did in the process it ran in."""

    decisions: dict[tuple[Any, ...], Decision]
    kept: list[Entry]
    tokens: Tokens


class KeepingStore(MemoryStore):
    """The entries a branch was given; what it keeps is added and listed in ``kept``."""

    def __init__(self, entries: Mapping[str, Sequence[Entry]]) -> None:
        super().__init__("shipped")
        for kept in entries.values():
            for entry in reversed(kept):  # oldest first: add() puts the newest in front
                super().add(entry)
        self.kept: list[Entry] = []

    def add(self, entry: Entry) -> None:
        super().add(entry)
        self.kept.append(entry)


def reachable(graph: TaskGraph, members: Iterable[str]) -> set[str]:
    """The tasks a branch of each of ``members`` may run: the member, its successors
    and theirs, and the members of groups among them (a branch stops where its
    member's successors end: the group's own successors run in the parent)."""
    seen: set[str] = set()
    todo = list(members)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if node not in graph:
            continue
        todo.extend(graph.successors(node))
        if graph.get_node(node).is_group:
            todo.extend(graph.get_parallel_group_members(node))
    return seen


def branch_cache(
    cache: RunCache, graph: TaskGraph, members: Iterable[Executable], channel: dict[str, Any],
) -> BranchCache:
    """``cache``'s share for the branches of ``members``, forked over ``channel``."""
    store = cache.store
    members = list(members)
    wanted = reachable(graph, [member.task_id for member in members])
    tasks = [*members, *(graph.get_node(task_id) for task_id in sorted(wanted) if task_id in graph)]
    wanted.update(task_id for task_id in store.task_ids() if task_id not in graph)
    entries: dict[str, Sequence[Entry]] = {task_id: kept for task_id in sorted(wanted) if (kept := store.entries(task_id))}
    return BranchCache(cache.run_id, cache.force, cache.rerun_from, entries, cache.known_tokens(channel),
                       source_digests(tasks))


class _SourceRecorder(KeyMaker):
    """Keys tasks as a run's cache does, writing down each function's source digest
    by its ``code_identity`` on the way (helpers, methods and closures included).  Only
    what it writes down counts, not the keys: a function whose code object it met
    already (a thousand members made by one ``lambda`` in a loop) has nothing new to
    give but what it closes over."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[bytes, bytes] = {}
        self._codes: dict[types.CodeType, bytes] = {}

    def _function_parts(self, func: Any) -> dict[str, bytes]:
        if isinstance(func, types.FunctionType):
            known = self._codes.get(func.__code__)
            if known is not None:
                for cell in func.__closure__ or ():
                    try:
                        value = cell.cell_contents
                    except ValueError:  # an empty cell
                        continue
                    if callable(value):
                        self._dependency("closure", value)
                return {"source": known}
        parts = super()._function_parts(func)
        if isinstance(func, types.FunctionType):
            self._codes[func.__code__] = parts["source"]
            self.sources[code_identity(func.__code__)] = parts["source"]
        return parts


def source_digests(tasks: Iterable[Executable]) -> dict[bytes, bytes]:
    """The source digests of the functions keying ``tasks`` uses, by ``code_identity``.
    This process learns them too: a notebook class's instance that comes back from a
    worker makes cloudpickle set the worker's copies of its methods (no file name)
    on the class here, which are keyed by them as before."""
    recorder = _SourceRecorder()
    for task in tasks:
        if isinstance(task, TaskWrapper):
            try:
                recorder.task_key(task)
            except (Unfingerprintable, RecursionError):
                continue  # it runs uncached there too, saying why
    learn_sources(recorder.sources)
    return recorder.sources


def worker_cache(shipped: BranchCache, channel: dict[str, Any]) -> RunCache:
    """The cache a shipped branch runs with, over ``channel`` (its copy of the parent's);
    its functions' source digests are learnt first."""
    learn_sources(shipped.sources)
    cache = RunCache(KeepingStore(shipped.entries), shipped.run_id, shipped.force, shipped.rerun_from)
    cache.adopt_tokens(channel, shipped.tokens)
    return cache


def cache_report(cache: RunCache, written: dict[str, Any]) -> CacheReport:
    """What ``cache`` (a ``worker_cache``) decided and kept; ``written``: the branch's
    final values ({key: value}) whose tokens travel back."""
    store = cache.store
    kept = list(store.kept) if isinstance(store, KeepingStore) else []
    return CacheReport(dict(cache.decisions), kept, cache.known_tokens(written))


def absorb_report(cache: RunCache, report: CacheReport, written: dict[str, Any]) -> None:
    """Fold a branch's ``report`` into the run's ``cache``: its decisions, its entries
    (into the run's store: the next run hits them) and its values' tokens (``written``:
    the same values as they arrived here)."""
    cache.carry(report.decisions)
    for entry in report.kept:
        cache.store.add(entry)
    cache.adopt_tokens(written, report.tokens)


def written_values(changes: Mapping[str, Change]) -> dict[str, Any]:
    """A branch's changes as ``{key: value}`` for the keys it set."""
    return {key: change.value for key, change in changes.items() if change.kind == "set"}
