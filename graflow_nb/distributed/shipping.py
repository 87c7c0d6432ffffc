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

Values are pickled with cloudpickle, so functions and classes defined in notebook
cells (``__main__``) travel by value.  A channel value that does not pickle is named
(key and reason) before anything is submitted.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from ..core.errors import GraflowRuntimeError
from ..core.snapshot import BranchOutcome, BranchSpec


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
