"""What travels between the run and a Dask worker for one branch session.

    graph     the run's TaskGraph, pickled once per run and scattered once per
              client (``ShippedRun``)
    GroupView the parent session's channel as it stood at the fork, its dynamic
              tasks, its id and depth: pickled to bytes and scattered once per
              group, shared by every member (bytes, so Dask never splits it into
              one key per channel entry)
    BranchSpec the small per-member part: session id, order key, remaining step
              budget, the stop flag's name, the event topic, answers to questions
              and, when a paused branch resumes, its pickled state
    BranchOutcome what comes back: the branch's channel changes, the records of its
              session and every session below it, task runs, skips, groups,
              questions it waits on, events, the steps it took, its error

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
    parent_session_id: str
    parent_depth: int
    group_id: str
    channel: dict[str, Any]
    dynamic_nodes: dict[str, Any]
    dynamic_succ: dict[str, list[str]]
    dynamic_pred: dict[str, list[str]]
    default_max_cycles: int | None
    default_max_retries: int
    default_policy: Any
    ready_parallel: bool
    max_workers: int
    config: dict[str, Any]


@dataclass(slots=True)
class BranchSpec:
    session_id: str
    member_id: str
    order_key: tuple[Any, ...]
    max_steps: int  # the run's budget; steps_left of it remain when the branch starts
    steps_left: int
    stop_flag: str
    topic: str
    index: int
    live: bool = True  # someone watches the run: log each event to the topic as it happens
    answers: dict[str, Any] = field(default_factory=dict)
    paused_state: bytes | None = None  # the branch as it paused, to go on from there
    seen: tuple[int, int, int, int] = (0, 0, 0, 0)  # task runs, skips, dynamic tasks, groups already reported
    events_seen: int = 0


@dataclass(slots=True)
class SessionCopy:
    """One session record as the worker left it (queues stay on the worker)."""

    session_id: str
    parent_id: str | None
    depth: int
    group_id: str | None
    member_id: str | None
    order_key: tuple[Any, ...]
    state: str
    started: float
    ended: float | None
    tasks_run: list[str]
    counts: dict[str, int]
    queued: list[Any]


@dataclass(slots=True)
class BranchOutcome:
    worker: str
    attempt: str
    sessions: list[SessionCopy]
    changes: dict[str, Any]
    task_runs: list[Any]
    skipped: list[tuple[str, str, str]]
    dynamic_tasks: list[tuple[str, str, str | None]]
    dynamic_nodes: dict[str, Any]
    groups: list[Any]
    pending: list[Any]
    events: list[bytes]
    steps: int
    fork_counts: dict[str, int]
    error: BaseException | None = None
    paused_state: bytes | None = None
    seen: tuple[int, int, int, int] = (0, 0, 0, 0)
