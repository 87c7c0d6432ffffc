"""What travels between the run and a Dask worker for one branch session.

    graph     the run's TaskGraph, pickled once per run and scattered once per
              client (``ShippedRun``)
    GroupView the parent session's channel as it stood at the fork and its dynamic
              tasks: pickled to bytes and shipped once per group, shared by every
              member (bytes, so Dask never splits it into one key per channel entry)
    Ticket    the small per-member part: the engine's ``core.snapshot.BranchSpec``
              (session id, member, order key, remaining step budget, settings) with
              an empty ``parent_view``, plus the stop flag's name, the event topic,
              answers to questions and, when a paused branch resumes, its state
    RemoteOutcome what comes back: the engine's ``core.snapshot.BranchOutcome`` (the
              branch's channel changes, results, task-run and session records, nested
              ones included, skips, steps, error) plus events, questions, groups
    cache     in a run with a re-run cache, its share rides in the ``GroupView`` and
              what the branch's tasks decided and kept comes back in the outcome
              (``core.cache.shipped``)
    journal   in a run without one, what the branch's tasks changed and called comes
              back in the outcome (``core.runtime.journal``), for ``wf.rerun``; a
              re-run's share of the last run rides in the ``GroupView``
              (``core.cache.journal_replay``) and its decisions come back as a cache's

Values are pickled with cloudpickle, so functions and classes defined in notebook
cells (``__main__``) travel by value.  A channel value that does not pickle is named
(key and reason) before anything is submitted.

On the way back each value a task produced (a result, a channel value, an error) is
pickled on its own inside the outcome (``seal_outcome``): a value that can't be
unpickled here (its class is missing here, or refuses to load here), or could not be
pickled on the worker (it holds a lock), then stands out as itself when
``load_outcome`` reads the outcome, named by task or key, instead of making the whole
outcome unreadable; such an error comes back as an ``UnpicklableError`` keeping its
type's name and message.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from ..core.cache.journal_replay import ShippedReplay
from ..core.cache.shipped import BranchCache, CacheReport
from ..core.errors import GraflowRuntimeError
from ..core.runtime.journal import JournalKey, TaskJournal
from ..core.snapshot import BranchOutcome, BranchSpec, ChannelState, GroupState, UnpicklableError


class ShippingError(GraflowRuntimeError, TypeError):
    """A value a Dask branch needs can't be pickled; names the key (or task) and why."""


def _rebuilt_error(cls: type[BaseException], args: tuple[Any, ...], attrs: dict[str, Any] | None,
                   cause: BaseException | None) -> BaseException:
    try:
        error = cls.__new__(cls, *args)
    except Exception:
        error = cls.__new__(cls)
    error.args = args
    if attrs:
        error.__dict__.update(attrs)
    error.__cause__ = cause
    return error


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus exceptions rebuilt from their type, args and attributes: many
    exception classes (ours and users') take other ``__init__`` arguments than the
    ``args`` they keep, so a plain pickle round trip fails or changes the message."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            return _rebuilt_error, (type(obj), obj.args, obj.__dict__ or None, obj.__cause__)
        return super().reducer_override(obj)


def dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def loads(blob: bytes) -> Any:
    return cloudpickle.loads(blob)


def pickled_view(values: dict[str, Any], where: str) -> bytes:
    """``values`` as one pickle; a key whose value won't pickle is named in the error."""
    try:
        return dumps(values)
    except Exception as whole:
        for key, value in values.items():
            try:
                dumps(value)
            except Exception as error:
                raise ShippingError(
                    f"{where}: channel key {key!r} holds {type(value).__name__}, which can't be pickled "
                    f"for a Dask worker ({type(error).__name__}: {error}); keep it out of the channel, "
                    f"or run this group on threads"
                ) from error
        raise ShippingError(f"{where}: the channel can't be pickled for a Dask worker: {whole}") from whole


@dataclass(slots=True)
class GroupView:
    """The part of every member's ``BranchSpec`` that is the same for the whole group:
    shipped once per group instead of once per member."""

    parent_session_id: str
    workflow_name: str
    channel: dict[str, Any]
    dynamic_nodes: dict[str, Any]
    dynamic_succ: dict[str, list[str]]
    dynamic_pred: dict[str, list[str]]
    max_workers: int
    cache: BranchCache | None = None  # the run's re-run cache, for branches that plan and keep there
    replay: ShippedReplay | None = None  # a rerun after a run without a cache: the last run's share


@dataclass(slots=True)
class Ticket:
    """One member's own part: the engine's ``BranchSpec`` (its ``parent_view`` travels
    in the ``GroupView``) and what the Dask executor adds to it."""

    spec: BranchSpec
    max_steps: int  # the run's budget; spec.steps_left of it remain when the branch starts
    stop_flag: str
    topic: str
    index: int
    live: bool = True  # someone watches the run: log each event to the topic as it happens
    answers: dict[str, Any] = field(default_factory=dict)
    paused_state: bytes | None = None  # the branch as it paused, to go on from there
    seen: tuple[int, int, int, int] = (0, 0, 0, 0)  # task runs, skips, dynamic tasks, groups already reported
    events_seen: int = 0
    dynamic_nodes: dict[str, Any] = field(default_factory=dict)  # a resumed branch's own run-time tasks, by value


@dataclass(slots=True)
class RemoteOutcome:
    """The engine's ``BranchOutcome`` as it comes back from a worker, with what the
    run here needs besides: where it ran, its events as pickles (in order, numbered
    like the live ones), questions it waits on, group records, fork counts, the
    dynamic tasks themselves (by value: a notebook's functions have no import path on
    a worker) and, when it paused, the branch itself to go on from."""

    outcome: BranchOutcome
    worker: str
    attempt: str
    events: list[bytes]
    pending: list[Any]
    groups: list[Any]
    fork_counts: dict[str, int]
    dynamic_nodes: dict[str, Any]
    paused_state: bytes | None = None
    seen: tuple[int, int, int, int] = (0, 0, 0, 0)
    cache: CacheReport | None = None  # what its tasks' cache decided and kept there
    journal: dict[JournalKey, TaskJournal] = field(default_factory=dict)  # what its tasks did, run without a cache


# -- values sealed one by one on the way back ------------------------------------------
# Values of these types always load wherever they pickled: they travel as they are.
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes})


class Unloadable:
    """Stands in, in an outcome read by ``load_outcome``, for a value that can't be
    unpickled here, or could not be pickled on the worker; ``where`` names it ("the
    result of task 'a'"), ``why`` says which, ``error`` is what was raised."""

    __slots__ = ("error", "kind", "where", "why")

    def __init__(self, where: str, kind: str, error: BaseException, why: str = "can't be loaded in this process"):
        self.where = where
        self.kind = kind
        self.error = error
        self.why = why


def _unpicklable(where: str, kind: str, error: BaseException) -> Unloadable:
    return Unloadable(where, kind, error, "can't be pickled on its worker to come back")


def _unseal(where: str, kind: str, blob: bytes, message: str | None = None) -> Any:
    try:
        return loads(blob)
    except Exception as error:  # what the value's own class raised while loading here
        if message is None:
            return Unloadable(where, kind, error)
        stand_in = UnpicklableError(kind, message)  # an error: its type's name and message
        stand_in.add_note(f"[graflow_nb] {where} can't be loaded in this process ({type(error).__name__}: {error})")
        return stand_in


class _Sealed:
    """One value pickled on its own; it unpickles as the value, or as an ``Unloadable``
    (an error, which has a ``message``: as an ``UnpicklableError``).  A value that could
    not be pickled has no ``blob`` but the ``problem`` that stopped it."""

    __slots__ = ("blob", "kind", "message", "problem", "where")

    def __init__(
        self, where: str, kind: str, blob: bytes | None, message: str | None = None, problem: Exception | None = None
    ):
        self.where = where
        self.kind = kind
        self.blob = blob
        self.message = message
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        if self.blob is None:
            return _unpicklable, (self.where, self.kind, self.problem)
        return _unseal, (self.where, self.kind, self.blob, self.message)


def _seal_value(value: Any, where: str) -> _Sealed:
    kind = type(value).__qualname__
    try:
        return _Sealed(where, kind, dumps(value))
    except Exception as problem:  # a lock, an open file...: named when the outcome is read
        return _Sealed(where, kind, None, problem=problem)


def seal_error(error: BaseException, where: str) -> _Sealed:
    """``error`` pickled on its own: it comes back as itself, or, if it can't be loaded
    here (or can't even be pickled there), as an ``UnpicklableError`` with its type's
    name and message."""
    kind, message = type(error).__name__, str(error)[:2000]
    try:
        blob = dumps(error)
    except Exception as unpicklable:  # it holds a lock, say: its name and message travel
        stand_in = UnpicklableError(kind, message)
        stand_in.add_note(f"[graflow_nb] {where} can't be pickled ({type(unpicklable).__name__}: {unpicklable})")
        blob = dumps(stand_in)
    return _Sealed(where, kind, blob, message)


class _Sealer:
    """Seals each distinct value once: a value that is both a result and a channel
    value (a task's result is both) comes back as one object, as it left."""

    def __init__(self) -> None:
        self.sealed: dict[int, tuple[Any, _Sealed]] = {}  # id -> (the value, kept alive; its seal)

    def __call__(self, value: Any, where: str) -> Any:
        if type(value) in _PLAIN:
            return value
        known = self.sealed.get(id(value))
        if known is None:
            seal = seal_error(value, where) if isinstance(value, BaseException) else _seal_value(value, where)
            known = self.sealed[id(value)] = (value, seal)
        return known[1]


def _where(key: str, session_id: str | None = None) -> str:
    if key.endswith(".__result__"):
        where = f"the result of task {key[: -len('.__result__')]!r}"
    else:
        where = f"channel key {key!r}"
    return where if session_id is None else f"{where} in session {session_id!r}"


def seal_outcome(remote: RemoteOutcome) -> RemoteOutcome:
    """A copy of ``remote`` whose results, channel values and errors (nested groups'
    included) are each pickled on their own (``remote`` itself is left as it is); one
    that can't be pickled travels as the problem, for ``load_outcome`` to name."""
    seal = _Sealer()
    outcome = remote.outcome
    changes = {
        key: dataclasses.replace(
            change,
            value=seal(change.value, _where(key)),
            ops=tuple((op, seal(arg, _where(key))) for op, arg in change.ops),
        )
        for key, change in outcome.changes.items()
    }
    results = {task_id: seal(value, _where(f"{task_id}.__result__")) for task_id, value in outcome.results.items()}
    task_runs = [
        dataclasses.replace(
            run,
            result=seal(run.result, _where(f"{run.task_id}.__result__")),
            error=seal(run.error, f"the error task {run.task_id!r} raised"),
        )
        if type(run.result) not in _PLAIN or run.error is not None else run
        for run in outcome.task_runs
    ]
    sessions = [
        dataclasses.replace(
            session,
            channel=_sealed_channel(session.channel, session.session_id, seal),
            groups=[_sealed_group(group, seal) for group in session.groups],
        )
        for session in outcome.sessions
    ]
    error = seal(outcome.error, f"the error that ended session {outcome.session_id!r}")
    sealed = dataclasses.replace(
        outcome, changes=changes, results=results, task_runs=task_runs, sessions=sessions, error=error
    )
    groups = [
        dataclasses.replace(record, failures=[
            {**failure, "error": seal(failure["error"], f"the error task {failure['task_id']!r} raised")}
            for failure in record.failures
        ])
        for record in remote.groups
    ]
    journal = {key: _sealed_journal(entry, seal) for key, entry in remote.journal.items()}
    return dataclasses.replace(remote, outcome=sealed, groups=groups, journal=journal)


def _sealed_journal(entry: TaskJournal, seal: _Sealer) -> TaskJournal:
    """A task attempt's journal with each value it wrote or handed a control call
    sealed: one that can't travel only keeps that attempt from being taken by a re-run."""
    sealed = TaskJournal()
    sealed.ops = [(op, key, tuple(seal(arg, _where(key)) for arg in args)) for op, key, args in entry.ops]
    sealed.controls = [(name, tuple(seal(arg, f"an argument of its {name} call") for arg in args))
                       for name, args in entry.controls]
    sealed.refusal = entry.refusal
    return sealed


def _sealed_group(group: GroupState, seal: _Sealer) -> GroupState:
    """A nested group parked or failed in the branch: its members' errors sealed."""
    outcomes = [
        None if result is None else dataclasses.replace(
            result, error=seal(result.error, f"the error task {result.task_id!r} raised")
        )
        for result in group.outcomes
    ]
    return dataclasses.replace(group, outcomes=outcomes)


def _sealed_channel(channel: ChannelState, session_id: str, seal: _Sealer) -> ChannelState:
    return ChannelState(
        values={key: seal(value, _where(key, session_id)) for key, value in channel.values.items()},
        deleted=channel.deleted,
        ops={
            key: (seal(base, _where(key, session_id)), [(op, seal(arg, _where(key, session_id))) for op, arg in ops])
            for key, (base, ops) in channel.ops.items()
        },
    )


def load_outcome(blob: bytes) -> tuple[RemoteOutcome, list[Unloadable]]:
    """The outcome a worker sent (``seal_outcome``), and the values in it that can't be
    loaded here (or could not be pickled there), each once, in the order the outcome
    holds them.  Those are taken out: a result or channel value that stood for one is
    dropped, a task run's result is None.  Raises only if the rest of the outcome (its
    records) can't be loaded."""
    remote: RemoteOutcome = loads(blob)
    outcome = remote.outcome
    found: dict[int, Unloadable] = {}

    def loaded(value: Any) -> bool:
        if isinstance(value, Unloadable):
            found.setdefault(id(value), value)
            return False
        return True

    outcome.changes = {
        k: c for k, c in outcome.changes.items() if all([loaded(c.value), *[loaded(arg) for _, arg in c.ops]])
    }
    outcome.results = {k: v for k, v in outcome.results.items() if loaded(v)}
    for run in outcome.task_runs:
        if not loaded(run.result):
            run.result = None
            _not_to_take(remote.journal, (run.session_id, run.order_key, run.attempt), f"the result of task {run.task_id!r}")
    for key, entry in remote.journal.items():
        lost = next((arg for _, _, args in entry.ops for arg in args if isinstance(arg, Unloadable)), None)
        lost = lost or next((arg for _, args in entry.controls for arg in args if isinstance(arg, Unloadable)), None)
        if lost is not None:
            _not_to_take(remote.journal, key, lost.where)
    for session in outcome.sessions:
        channel = session.channel
        channel.values = {k: v for k, v in channel.values.items() if loaded(v)}
        channel.ops = {
            k: (base, ops) for k, (base, ops) in channel.ops.items()
            if all([loaded(base), *[loaded(arg) for _, arg in ops]])
        }
    return remote, list(found.values())


def _not_to_take(journal: dict[JournalKey, TaskJournal], key: JournalKey, where: str) -> None:
    """What the attempt at ``key`` did did not come back whole (``where`` names what
    did not): a re-run calls it again rather than take it."""
    entry = journal.get(key)
    if entry is None:
        entry = journal[key] = TaskJournal()
    entry.ops, entry.controls = [], []
    entry.refusal = entry.refusal or f"{where} did not come back from its Dask worker"
