"""The values a snapshot is made of (see ``core.snapshot``): plain dataclasses, picklable,
holding no code and no live engine object."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..data.channel import Change
from ..errors import GraflowError
from ..events import Event
from ..model.policies import TaskResult
from ..runtime.run import GroupOutcome, PendingInput, TaskRun, last_attempt

FORMAT = 1  # bumped when a saved RunState can no longer be read by this code
STOPPED = ("failed", "cancelled", "closed", "discarded", "abandoned")  # states _reopen opens again


class _NoBase:
    """Saved in place of the channel's MISSING (a bare object, which a pickle round
    trip would turn into another object): an additive change to a key that did not
    exist at the fork."""

    def __reduce__(self) -> str:
        return "NO_BASE"


NO_BASE = _NoBase()


class SnapshotError(GraflowError):
    """A run's state cannot be saved, or a saved state cannot be restored here."""


class GraphChangedError(SnapshotError):
    """The workflow to resume with is wired differently from the one that ran."""

    def __init__(self, message: str, added: dict[str, list[Any]], removed: dict[str, list[Any]]):
        super().__init__(message)
        self.added = added
        self.removed = removed


class UnpicklableError(GraflowError):
    """Stands in, in a checkpoint, for an error of the run that cannot be pickled (its
    class lives where no other process can import it, it holds a lock...): the history
    keeps its type's name and message."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


# -- the values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphShape:
    """What a graph is, without its code: node ids with their kind, edges, and each
    group's members in declaration order."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr((self.nodes, self.edges, self.groups)).encode()).hexdigest()[:16]


@dataclass
class TaskSpec:
    """A task created at run time, without its code (see the module docstring)."""

    task_id: str
    kind: str  # "function" | "iteration" | "group" | "map" | "pseudo"
    function: str | None = None  # "module:qualname" of a function task
    options: dict[str, Any] = field(default_factory=dict)
    base_id: str | None = None  # an iteration's task
    data: Any = None  # an iteration's data; a map's item (of a map made from a map)
    members: tuple[str, ...] = ()  # a group's member ids


@dataclass
class ChannelState:
    """A root channel's values, or a branch channel's own changes since its fork."""

    values: dict[str, Any] = field(default_factory=dict)  # root: every key; branch: keys it set
    deleted: tuple[str, ...] = ()
    ops: dict[str, tuple[Any, list[tuple[str, Any]]]] = field(default_factory=dict)  # key -> (base, ops)


@dataclass
class GroupState:
    group_id: str
    why: str  # "paused": members wait for input; "failed": the group failed and may run again
    branch_ids: list[str]
    outcomes: list[TaskResult | None]
    remaining: float | None  # seconds of the group's timeout still left
    undone: list[bool] = field(default_factory=list)  # per member: its compensation ran (rollback)


@dataclass
class SessionState:
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
    queue: list[str]
    counters: dict[str, int]
    steps: int
    cycle_counts: dict[str, int]
    completed_tasks: list[str]
    dynamic: list[TaskSpec]
    dynamic_succ: dict[str, list[str]]
    dynamic_pred: dict[str, list[str]]
    join_arrivals: dict[str, set[str]]
    channel: ChannelState
    groups: list[GroupState]
    waiting_key: str | None
    abandoned: bool
    current_order_key: tuple[Any, ...]


@dataclass
class ResumeMark:
    """Where a resume split a run's history: what existed when it was restored."""

    checkpoint_id: str
    source: str  # what it was resumed from, as a person would name it (the file's name)
    at: float
    task_runs: int  # task_runs[:n] ran before
    sessions: int  # the first n sessions were opened before
    tasks_run: dict[str, int]  # session id -> how many of its tasks ran before


@dataclass
class RunState:
    format: int
    root_session_id: str
    workflow_name: str
    shape: GraphShape
    status: str
    max_steps: int
    max_workers: int
    steps: int
    fork_counts: dict[str, int]
    sessions: list[SessionState]
    task_runs: list[TaskRun]
    dynamic_tasks: list[tuple[str, str, str | None]]
    skipped: list[tuple[str, str, str]]
    groups: list[GroupOutcome]
    pending: dict[str, PendingInput]
    answers: dict[str, Any]
    error: BaseException | None
    result: Any
    started: float
    ended: float | None
    settings: dict[str, Any]
    resumes: list[ResumeMark]

    @property
    def frontier(self) -> dict[str, list[str]]:
        """Each session that has work left, with the tasks it runs first on resume (for
        a failed or cancelled run: the task that stopped and what was dropped from its
        queue, in the sessions a resume opens again; see ``_reopen``)."""
        if self.status not in ("failed", "cancelled"):
            return {s.session_id: s.queue for s in self.sessions if s.queue}
        by_id = {s.session_id: s for s in self.sessions}
        out: dict[str, list[str]] = {}
        stack = [self.root_session_id]
        restart: set[str] = set()  # members undone by their compensation: they start over
        while stack:
            session = by_id[stack.pop()]
            again = list(session.queue)
            if session.session_id in restart:
                out[session.session_id] = [session.member_id or ""]
                continue
            if session.state in STOPPED:
                last = session.tasks_run[-1] if session.tasks_run else None
                attempt = None if last is None else last_attempt(self.task_runs, session.session_id, last)
                if last is not None and attempt is not None and attempt.status != "succeeded":
                    again.insert(0, last)
                again += [t for t, sid, _ in self.skipped if sid == session.session_id]
            if again:
                out[session.session_id] = again
            for group in reversed(session.groups):
                if group.why == "failed":
                    undone = group.undone or [False] * len(group.branch_ids)
                    rerun = [sid for sid, o, u in zip(group.branch_ids, group.outcomes, undone, strict=True)
                             if o is None or not o.success or u]
                    restart.update(sid for sid, u in zip(group.branch_ids, undone, strict=True) if u)
                    stack += rerun[::-1]
        order = {s.session_id: i for i, s in enumerate(self.sessions)}
        return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))


@dataclass
class BranchSpec:
    """What a branch session needs to run anywhere (see the module docstring)."""

    session_id: str
    parent_id: str  # the session it forked from: never derived from session_id, whose ids may hold "_"
    member_id: str
    group_id: str | None
    order_key: tuple[Any, ...]
    depth: int
    steps_left: int
    parent_view: dict[str, Any]
    settings: dict[str, Any]
    dynamic: list[TaskSpec]  # tasks the branch's ancestors created that it may run
    # The branch as it stopped (paused, failed, cancelled: a resumed checkpoint's), to go
    # on from there; None for a branch that has not run yet: its member starts it.
    state: SessionState | None = None


@dataclass
class BranchOutcome:
    """What came of one branch session (see the module docstring)."""

    session_id: str
    changes: dict[str, Change]
    results: dict[str, Any]
    task_runs: list[TaskRun]
    sessions: list[SessionState]  # this branch and every session below it
    events: list[Event]
    skipped: list[tuple[str, str, str]]
    steps: int
    error: BaseException | None
    dynamic_tasks: list[tuple[str, str, str | None]]
