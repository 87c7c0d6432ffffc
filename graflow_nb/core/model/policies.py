"""What a group's failures mean, with graflow's policy names and hook.

A policy answers three questions: when one member fails, should the siblings stop
(``should_stop``: members not started never start, running ones stop at their next task
boundary); once every member has ended, does the group fail (``on_group_finished``
raises); and on failure, do succeeded members' compensations run (``compensates``)?

    strict / fail_fast   any failure fails the group and stops the siblings (default)
    best_effort          every member runs; the group always succeeds (graflow's)
    continue / ignore    every member runs; fails only if all failed; else "degraded"
    rollback             strict, then compensations in reverse declaration order
    AtLeastNGroupPolicy(n), CriticalGroupPolicy(ids), or a subclass of your own
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checks import clip, shown
from ..errors import ConfigError, ParallelGroupError


@dataclass(slots=True)
class TaskResult:
    task_id: str
    success: bool
    error_message: str | None = None
    error: BaseException | None = None
    session_id: str | None = None
    status: str = "succeeded"  # succeeded | failed | cancelled

    def __setstate__(self, state: Any) -> None:
        # Pickled with the slots: ``(None, {field: value})``; a checkpoint written
        # before them holds the instance's ``__dict__``, read the same way.
        if isinstance(state, tuple):
            state = {**(state[0] or {}), **(state[1] or {})}
        for name, value in state.items():
            object.__setattr__(self, name, value)


def _failure_error(group_id: str, message: str, results: dict[str, TaskResult]) -> ParallelGroupError:
    failed = [r for r in results.values() if r.status == "failed"]
    return ParallelGroupError(
        message,
        group_id=group_id,
        failed_tasks=[(r.task_id, r.error_message or "") for r in failed],
        successful_tasks=[r.task_id for r in results.values() if r.success],
        errors={r.task_id: r.error for r in failed if r.error is not None},
        sessions={r.task_id: r.session_id for r in results.values() if r.session_id},
        cancelled_tasks=[r.task_id for r in results.values() if r.status == "cancelled"],
    )


_LISTED = 5  # failures spelled out in a group's message; the rest are counted


def describe_failures(results: dict[str, TaskResult]) -> str:
    """The first few failures in declaration order, each cut short, then counts: a
    1000-member group or groups nested 32 deep still give a message of a few lines
    (every failure stays on ``ParallelGroupError.errors``)."""
    failed = [r for r in results.values() if r.status == "failed"]
    parts = [
        f"{shown(r.task_id, 40)} (session {clip(str(r.session_id), 120)}): {_brief(r)}" for r in failed[:_LISTED]
    ]
    if len(failed) > _LISTED:
        parts.append(f"and {len(failed) - _LISTED} more (see .errors)")
    cancelled = [r.task_id for r in results.values() if r.status == "cancelled"]
    text = "; ".join(parts)
    if cancelled:
        names = ", ".join(clip(c, 40) for c in cancelled[:_LISTED])
        more = f" (+{len(cancelled) - _LISTED} more)" if len(cancelled) > _LISTED else ""
        text += f"; not run (cancelled): {names}{more}"
    return text


def _brief(result: TaskResult) -> str:
    """One failure in a line: a nested group's failure is named by its first cause
    rather than by its whole message (which already holds every level below it)."""
    error = result.error
    if isinstance(error, ParallelGroupError):
        leaf = error.primary_error
        where = getattr(leaf, "task_id", None)
        cause = f"{type(leaf).__name__}: {clip(str(leaf))}" if leaf is not None else "no cause recorded"
        return f"group {shown(error.group_id, 40)} failed; first cause" + (
            f" in task {shown(where, 40)}: " if where else ": ") + cause
    kind = type(error).__name__ if error is not None else "Error"
    return f"{kind}: {clip(result.error_message or '')}"


class GroupExecutionPolicy:
    """What a parallel group does when members fail: subclass it and define
    ``on_group_finished`` (raise to fail the group) for a policy of your own."""

    name = "custom"
    stop_on_failure = False
    compensates = False

    def should_stop(self, member_id: str, error: BaseException) -> bool:
        return self.stop_on_failure

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        raise NotImplementedError("a GroupExecutionPolicy subclass must define on_group_finished")


class StrictGroupPolicy(GroupExecutionPolicy):
    """Any failure fails the group; members not started yet never start."""

    name = "strict"
    stop_on_failure = True

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        if any(not r.success for r in results.values()):
            failed = sum(r.status == "failed" for r in results.values())
            raise _failure_error(
                group_id,
                f"Parallel group {group_id} failed: {failed} task(s) failed: {describe_failures(results)}",
                results,
            )


class BestEffortGroupPolicy(GroupExecutionPolicy):
    """Every member runs; the group succeeds whatever failed (failures stay recorded)."""

    name = "best_effort"

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        return None


class AtLeastNGroupPolicy(GroupExecutionPolicy):
    """The group succeeds when at least ``min_success`` members did."""

    name = "at_least_n"

    def __init__(self, min_success: int):
        if min_success < 1:
            raise ConfigError(f"AtLeastNGroupPolicy needs min_success >= 1, got {min_success}")
        self.min_success = min_success

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        ok = sum(r.success for r in results.values())
        if ok < self.min_success:
            raise _failure_error(
                group_id,
                f"Only {ok}/{self.min_success} tasks succeeded in group {group_id}: {describe_failures(results)}",
                results,
            )


class CriticalGroupPolicy(GroupExecutionPolicy):
    """The group fails only when one of ``critical_task_ids`` fails (which stops the rest)."""

    name = "critical"

    def __init__(self, critical_task_ids: list[str]):
        self.critical_task_ids = list(critical_task_ids)

    def should_stop(self, member_id: str, error: BaseException) -> bool:
        return member_id in self.critical_task_ids

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        missing = [t for t in self.critical_task_ids if t not in results]
        if missing:
            raise ConfigError(f"critical task(s) {missing} are not members of group {group_id!r}")
        failed = [t for t in self.critical_task_ids if not results[t].success]
        if failed:
            raise _failure_error(
                group_id,
                f"Critical tasks failed: {failed} in group {group_id}: {describe_failures(results)}",
                results,
            )


class ContinueGroupPolicy(GroupExecutionPolicy):
    """Every member runs; the group is ``degraded`` if some failed and fails only when
    all of them did (a group that produced nothing should not let successors run)."""

    name = "continue"

    def on_group_finished(self, group_id: str, tasks: list[str], results: dict[str, TaskResult], context: Any) -> None:
        if results and not any(r.success for r in results.values()):
            raise _failure_error(
                group_id,
                f"Every task failed in group {group_id}: {describe_failures(results)}",
                results,
            )


class RollbackGroupPolicy(StrictGroupPolicy):
    """Strict, and on failure each succeeded member's compensation runs once, in
    reverse declaration order, before the error is raised (declare one with
    ``@member.compensate``)."""

    name = "rollback"
    compensates = True


_BY_NAME = {
    "strict": StrictGroupPolicy,
    "fail_fast": StrictGroupPolicy,
    "best_effort": BestEffortGroupPolicy,
    "continue": ContinueGroupPolicy,
    "ignore": ContinueGroupPolicy,
    "rollback": RollbackGroupPolicy,
}


def resolve_policy(policy: Any) -> GroupExecutionPolicy:
    if isinstance(policy, GroupExecutionPolicy):
        return policy
    if isinstance(policy, str) and policy in _BY_NAME:
        return _BY_NAME[policy]()
    if isinstance(policy, dict):
        kind = policy.get("type")
        if kind == "at_least_n":
            return AtLeastNGroupPolicy(policy["min_success"])
        if kind == "critical":
            return CriticalGroupPolicy(policy["critical_task_ids"])
        if kind in _BY_NAME:
            return _BY_NAME[kind]()
    raise ValueError(
        f"unknown group policy {policy!r}; use one of {', '.join(repr(n) for n in _BY_NAME)}, "
        f"AtLeastNGroupPolicy(n), CriticalGroupPolicy([...]) or a GroupExecutionPolicy subclass"
    )
