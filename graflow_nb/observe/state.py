"""A run read once, in canonical order: what every drawing and the live view agree on.

The engine keeps facts (task attempts, session records, queues, skips); a picture needs
*states*.  ``RunView`` turns one snapshot of a run, possibly still running on worker
threads, into a state per task and the session tree in declaration order, so two
drawings of the same run agree however its threads interleaved.

Task states, most current first:

    running    its last attempt has started and not ended
    held       a step debugger holds its session just before it (the run's gate
               says so: ``Gate.held_tasks``)
    paused     its last attempt stopped to wait for input (it waits at the head of
               its queue until resumed)
    queued     it waits in some session's queue right now
    succeeded / failed / cancelled   how its last attempt ended
    cached     its last execution was replayed from the re-run cache, not called
               (``execute(cache=...)``; ``run.why(task_id)`` says from which run)
    skipped    it was queued but its session stopped first (failed or terminated);
               a session stopped by cancellation makes it ``cancelled``
    pending    nothing has happened to it yet

``states`` overrides win over everything, so a caller that knows more (the step
debugger holding a session) can pass ``{"transform_a": "paused"}``.  A status this
module does not know yet is drawn as it is named, in the pending style.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..core.model.task import ParallelGroup

if TYPE_CHECKING:
    from ..core.model.graph import TaskGraph
    from ..core.runtime.run import Run, SessionRecord, TaskRun

TASK_STATES = (
    "pending", "queued", "held", "running", "succeeded", "cached", "failed", "skipped", "cancelled", "paused",
)
SESSION_STATES = ("open", "paused", "merged", "discarded", "failed", "cancelled", "closed")
ENDED = ("succeeded", "failed", "cancelled")  # attempt statuses that count as done
# How bad a state is, for one colour standing for many (a collapsed group of branches).
_SEVERITY = {s: i for i, s in enumerate(("pending", "skipped", "cached", "succeeded", "queued", "held", "cancelled", "running",
                                         "paused", "failed"))}
_SESSION_SEVERITY = {s: i for i, s in enumerate(("closed", "merged", "discarded", "open", "paused", "cancelled",
                                                   "failed"))}


def check_states(states: Mapping[str, str] | None) -> dict[str, str]:
    """``states`` as a dict, refusing a state no drawing knows how to show."""
    out = dict(states or {})
    for task_id, state in out.items():
        if state not in TASK_STATES:
            raise ValueError(f"unknown state {state!r} for task {task_id!r}: expected one of {', '.join(TASK_STATES)}")
    return out


def worst(states: list[str]) -> str:
    """The state a group of tasks is drawn in: the most alarming one among them."""
    return max(states, key=lambda s: _SEVERITY.get(s, 0)) if states else "pending"


def worst_session(states: list[str]) -> str:
    return max(states, key=lambda s: _SESSION_SEVERITY.get(s, 0)) if states else "closed"


class RunView:
    """One consistent reading of ``run`` (None: only the ``states`` overrides)."""

    def __init__(self, run: Run | None, graph: TaskGraph | None = None, states: Mapping[str, str] | None = None):
        self.run = run
        self.overrides = check_states(states)
        self.root = run.root_session_id if run is not None else None
        # list(...) first: workers append while we read, and a list copy is one step.
        attempts = sorted(list(run.task_runs), key=lambda tr: (tr.order_key, tr.attempt)) if run is not None else []
        self.attempts: list[TaskRun] = attempts
        self.last: dict[str, TaskRun] = {tr.task_id: tr for tr in attempts}
        last_of_execution: dict[tuple, TaskRun] = {}
        for tr in attempts:
            last_of_execution[tr.order_key] = tr
        self.executions: list[TaskRun] = list(last_of_execution.values())
        # Attempts since the run was last resumed from a checkpoint (their captions say so).
        self.resumed = {id(tr) for tr in run.runs_after_checkpoint()} if run is not None else set()
        self.counts: dict[str, int] = {}
        for tr in self.executions:
            self.counts[tr.task_id] = self.counts.get(tr.task_id, 0) + 1
        sessions = sorted(list(run.sessions.values()), key=lambda rec: rec.order_key) if run is not None else []
        self.kids: dict[str, list[SessionRecord]] = {}
        for rec in sessions:
            if rec.parent_id is not None:
                self.kids.setdefault(rec.parent_id, []).append(rec)
        self.tree: list[SessionRecord] = self._walk(run)
        # A member's session is seeded with that member alone, so even a member that
        # never started (its session cancelled first) has a known home and fate.
        self.member_session = {rec.member_id: rec for rec in sessions if rec.member_id is not None}
        self.queued: dict[str, str] = {}
        for rec in self.tree:
            if rec.state in ("open", "paused"):
                for task_id in rec.queued:
                    self.queued.setdefault(task_id, rec.session_id)
        self.skipped: dict[str, tuple[str, str]] = {}
        for task_id, session_id, why in list(run.skipped) if run is not None else []:
            self.skipped[task_id] = (session_id, why)
        order = {rec.session_id: rec.order_key for rec in sessions}
        dynamic = sorted(list(run.dynamic_tasks), key=lambda e: order.get(e[1], ())) if run is not None else []
        self.dynamic: dict[str, tuple[str, str | None]] = {}
        for task_id, session_id, spawned_by in dynamic:
            self.dynamic.setdefault(task_id, (session_id, spawned_by))
        cache = run.cache if run is not None else None
        self.cached = {key for key, d in list(cache.decisions.items()) if d.cached} if cache is not None else set()
        gate = run.gate if run is not None else None
        self.held: dict[str, str] = gate.held_tasks() if gate is not None else {}
        self.group_ids = {rec.group_id for rec in sessions if rec.group_id is not None}
        if graph is not None:
            self.group_ids.update(n for n, node in graph.nodes.items() if isinstance(node, ParallelGroup))

    def _walk(self, run: Run | None) -> list[SessionRecord]:
        """Sessions depth-first from the root, children in fork order."""
        root = run.sessions.get(run.root_session_id) if run is not None else None
        out: list[SessionRecord] = []
        stack = [root] if root is not None else []
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.kids.get(current.session_id, [])))
        return out

    # -- tasks -------------------------------------------------------------------------
    def state(self, task_id: str) -> tuple[str, str | None]:
        """``(state, session_id where it is or was)``; see the module docstring."""
        session = self._session_of(task_id)
        override = self.overrides.get(task_id)
        if override is not None:
            return override, session
        tr = self.last.get(task_id)
        if tr is not None and tr.end is None:
            return "running", session
        if tr is not None and tr.status == "paused":
            return "paused", session
        if task_id in self.held:
            return "held", self.held[task_id]
        if task_id in self.queued:
            return "queued", session
        if tr is not None:
            return ("cached" if tr.status == "succeeded" and tr.order_key in self.cached else tr.status), session
        if task_id in self.skipped:
            return ("cancelled" if self.skipped[task_id][1] == "cancelled" else "skipped"), session
        rec = self.member_session.get(task_id)
        if rec is not None and rec.state == "cancelled":
            return "cancelled", session
        return "pending", session

    def _session_of(self, task_id: str) -> str | None:
        tr = self.last.get(task_id)
        if tr is not None and (tr.end is None or tr.status == "paused"):
            return tr.session_id
        if task_id in self.queued:
            return self.queued[task_id]
        if tr is not None:
            return tr.session_id
        if task_id in self.skipped:
            return self.skipped[task_id][0]
        rec = self.member_session.get(task_id)
        if rec is not None:
            return rec.session_id
        dyn = self.dynamic.get(task_id)
        return dyn[0] if dyn is not None else None

    def home(self, task_id: str) -> str | None:
        """The branch session a task belongs in (None: the root session, or nowhere yet)."""
        session = self._session_of(task_id)
        return None if session == self.root else session

    def caption(self, task_id: str) -> str:
        state, _ = self.state(task_id)
        tr = self.last.get(task_id)
        extra = []
        if self.counts.get(task_id, 0) > 1:
            extra.append(f"ran {self.counts[task_id]}x")
        if tr is not None and tr.attempt > 1:
            extra.append(f"attempt {tr.attempt}")
        if tr is not None and id(tr) in self.resumed:
            extra.append("after resume")
        return f"{state} ({', '.join(extra)})" if extra else state

    # -- progress ----------------------------------------------------------------------
    def progress(self, graph: TaskGraph | None = None) -> dict[str, int]:
        """Task executions ``done`` (ended), ``running``, ``paused`` and ``queued``, and how
        many are ``known`` (the graph's tasks plus those added at run time, or more once
        loops repeat them).  Parallel group nodes are not tasks: their work is counted in
        their branches.  A paused task waits in its queue, so it is counted once, as paused."""
        done = running = paused = 0
        for tr in self.executions:
            if tr.task_id in self.group_ids:
                continue
            if tr.end is None:
                running += 1
            elif tr.status in ENDED:
                done += 1
            elif tr.status == "paused":
                paused += 1
        queued = -paused
        for rec in self.tree:
            if rec.state in ("open", "paused"):
                queued += sum(1 for t in rec.queued if t not in self.group_ids)
        queued = max(queued, 0)
        ids = set(graph.nodes) if graph is not None else set()
        ids.update(self.dynamic)
        known = len(ids - self.group_ids)
        busy = done + running + paused + queued
        return {"done": done, "running": running, "paused": paused, "queued": queued, "known": max(known, busy)}

    def summary(self, graph: TaskGraph | None = None) -> str:
        """One deterministic line: status, tasks done of known, session count."""
        if self.run is None:
            return "not run"
        p = self.progress(graph)
        name = self.run.workflow_name or "workflow"
        return f"{name}: run {self.root} {self.run.status}, {p['done']}/{p['known']} tasks done, {len(self.tree)} sessions"

