"""What a group's failures mean, with graflow's policy names and hook.

A policy answers three questions: when one member fails, should the siblings stop
(``should_stop``: members not started never start, running ones stop at their next task
boundary); once every member has ended, does the group fail (``on_group_finished``
raises); and on failure, do succeeded members' compensations run (``compensates``)?

    strict               every member runs; any failure fails the group, and the error
                         lists every failure in declaration order (default, graflow's)
    fail_fast            strict, but the first failure stops the siblings (the same as
                         ``with_execution(fail_fast=True)`` with any policy)
    best_effort          every member runs; the group always succeeds (graflow's)
    continue / ignore    every member runs; fails only if all failed; else "degraded"
    rollback             fail_fast, then compensations in reverse declaration order
    AtLeastNGroupPolicy(n), CriticalGroupPolicy(ids), or a subclass of your own

Every member running is what makes the outcome the same on every run: which members a
first failure would have stopped depends on scheduling, the full list of failures does
not.  A subclass written against graflow's documentation works unchanged: it gets the
member tasks (each with ``task_id``) and the results in declaration order, and can call
graflow's ``_validate_group_results`` and ``_partition_group_results`` (its documented
extension points, public here).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _failure_error(
    group_id: str, message: str, results: dict[str, TaskResult], counted: set[str] | None = None
) -> ParallelGroupError:
    """The group's error: every failure in declaration order (only those in ``counted``,
    when given), every success, and the members that never ran."""
    failed = [r for r in results.values() if r.status == "failed" and (counted is None or r.task_id in counted)]
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
# The outcome of a member whose async task started and was cancelled at its await (its
# finally blocks ran) when its group or run stopped: cancelled, but not "not run".
CANCELLED_AT_AWAIT = "cancelled at an await"


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
    cancelled = [r for r in results.values() if r.status == "cancelled"]
    text = "; ".join(parts)
    stopped = [r.task_id for r in cancelled if r.error_message == CANCELLED_AT_AWAIT]
    never = [r.task_id for r in cancelled if r.error_message != CANCELLED_AT_AWAIT]
    if never:
        text += f"; not run (cancelled): {listed(never)}"
    if stopped:
        text += f"; {CANCELLED_AT_AWAIT}: {listed(stopped)}"
    return text


def listed(task_ids: list[str]) -> str:
    """The first few task ids, each cut short, and how many more."""
    names = ", ".join(clip(c, 40) for c in task_ids[:_LISTED])
    more = f" (+{len(task_ids) - _LISTED} more)" if len(task_ids) > _LISTED else ""
    return names + more


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


def member_id(task: Any) -> str:
    """A member's id, given the member task (what the engine hands a policy) or its id."""
    return task if isinstance(task, str) else task.task_id


class GroupExecutionPolicy:
    """What a parallel group does when members fail: subclass it and define
    ``on_group_finished`` (raise to fail the group) for a policy of your own."""

    name = "custom"
    stop_on_failure = False
    compensates = False

    def get_name(self) -> str:
        """graflow's name for the policy (its class name for a policy of your own)."""
        return self.name if self.name != "custom" else type(self).__name__

    def should_stop(self, member_id: str, error: BaseException) -> bool:
        return self.stop_on_failure

    def fails_group_alone(self, member_id: str) -> bool:
        """Whether this member's failure fails the group whatever the others do (then a
        sibling waiting for human input is not asked: the answer could change nothing)."""
        return False

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        raise NotImplementedError("a GroupExecutionPolicy subclass must define on_group_finished")

    def _validate_group_results(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult]) -> None:
        """Raise ``ParallelGroupError`` unless ``results`` has exactly one result per
        member of ``tasks`` (tasks or their ids): graflow's check, for policies that
        call it first."""
        expected = [member_id(t) for t in tasks]
        missing = [t for t in expected if t not in results]
        known = set(expected)
        unexpected = sorted(t for t in results if t not in known)
        if missing or unexpected:
            parts = [f"missing results for tasks: {sorted(missing)}"] if missing else []
            parts += [f"unexpected results for tasks: {unexpected}"] if unexpected else []
            raise ParallelGroupError(
                f"Parallel group {group_id} result mismatch: {', '.join(parts)}",
                group_id=group_id,
                failed_tasks=[],
                successful_tasks=[t for t, r in results.items() if r.success],
            )

    def _partition_group_results(self, results: dict[str, TaskResult]) -> tuple[list[str], list[tuple[str, str]]]:
        """``(successful ids, [(failed id, message)])`` in declaration order, as graflow
        splits them (a member that never ran counts as failed, "cancelled")."""
        successful = [t for t, r in results.items() if r.success]
        failed = [(t, r.error_message or "Unknown error") for t, r in results.items() if not r.success]
        return successful, failed


class StrictGroupPolicy(GroupExecutionPolicy):
    """Every member runs; any failure fails the group, naming every failed member."""

    name = "strict"

    def fails_group_alone(self, member_id: str) -> bool:
        return True

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        self._validate_group_results(group_id, tasks, results)
        if any(not r.success for r in results.values()):
            failed = sum(r.status == "failed" for r in results.values())
            raise _failure_error(
                group_id,
                f"Parallel group {group_id} failed: {failed} task(s) failed: {describe_failures(results)}",
                results,
            )


class FailFastGroupPolicy(StrictGroupPolicy):
    """Strict, and the first failure stops the siblings: members not started never
    start, running ones stop at their next task boundary (reported as cancelled)."""

    name = "fail_fast"
    stop_on_failure = True


class BestEffortGroupPolicy(GroupExecutionPolicy):
    """Every member runs; the group succeeds whatever failed (failures stay recorded)."""

    name = "best_effort"

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        self._validate_group_results(group_id, tasks, results)
        return None


class AtLeastNGroupPolicy(GroupExecutionPolicy):
    """The group succeeds when at least ``min_success`` members did."""

    name = "at_least_n"

    def __init__(self, min_success: int):
        if min_success < 1:
            raise ConfigError(f"AtLeastNGroupPolicy needs min_success >= 1, got {min_success}")
        self.min_success = min_success

    def get_name(self) -> str:
        return f"at_least_{self.min_success}"

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        self._validate_group_results(group_id, tasks, results)
        ok = sum(r.success for r in results.values())
        if ok < self.min_success:
            raise _failure_error(
                group_id,
                f"Only {ok}/{self.min_success} tasks succeeded in group {group_id}: {describe_failures(results)}",
                results,
            )


class CriticalGroupPolicy(GroupExecutionPolicy):
    """Every member runs; the group fails when a critical member did not succeed.

    The error's ``failed_tasks`` names only critical members that really failed, in
    declaration order; a critical member that never ran (stopped by ``fail_fast``, a
    timeout or a cancel) fails the group too and is listed in ``cancelled_tasks``."""

    name = "critical"

    def __init__(self, critical_task_ids: list[str]):
        self.critical_task_ids = list(critical_task_ids)

    def fails_group_alone(self, member_id: str) -> bool:
        return member_id in self.critical_task_ids

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        self._validate_group_results(group_id, tasks, results)
        missing = [t for t in self.critical_task_ids if t not in results]
        if missing:
            raise ConfigError(f"critical task(s) {missing} are not members of group {group_id!r}")
        critical = set(self.critical_task_ids)
        unsuccessful = [r for t, r in results.items() if t in critical and not r.success]
        if unsuccessful:
            failed = [r.task_id for r in unsuccessful if r.status == "failed"]
            not_run = [r.task_id for r in unsuccessful if r.status != "failed"]
            raise _failure_error(
                group_id,
                f"Critical tasks failed: {failed} in group {group_id}: {describe_failures(results)}"
                if failed
                else f"Critical tasks did not run: {not_run} in group {group_id}: {describe_failures(results)}",
                results,
                counted=critical,
            )


class ContinueGroupPolicy(GroupExecutionPolicy):
    """Every member runs; the group is ``degraded`` if some failed and fails only when
    all of them did (a group that produced nothing should not let successors run)."""

    name = "continue"

    def on_group_finished(self, group_id: str, tasks: Sequence[Any], results: dict[str, TaskResult], context: Any) -> None:
        self._validate_group_results(group_id, tasks, results)
        if results and not any(r.success for r in results.values()):
            raise _failure_error(
                group_id,
                f"Every task failed in group {group_id}: {describe_failures(results)}",
                results,
            )


class RollbackGroupPolicy(FailFastGroupPolicy):
    """Fail-fast, and on failure each succeeded member's compensation runs once, in
    reverse declaration order, before the error is raised (declare one with
    ``@member.compensate``)."""

    name = "rollback"
    compensates = True


_BY_NAME = {
    "strict": StrictGroupPolicy,
    "fail_fast": FailFastGroupPolicy,
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
