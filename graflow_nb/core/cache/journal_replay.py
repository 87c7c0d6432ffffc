"""``wf.rerun(from_=...)`` after a run without a cache: the rest taken from that run.

A run without a cache keeps, for every task attempt it called in this process, what
it returned (``TaskRun.result``) and, for one that changed the channel or made a
control call through its context, those in order (``run.journal``,
``core.runtime.journal``).  A re-run from ``from_`` plans as a cache would (the
runtime calls ``plan`` and ``replayed``: ``core.runtime.calls.cached``), but by
place, not by key: a task ``from_`` does not force is taken from the last run, its
result, changes and control calls replayed, if that run succeeded it at the same
place (the same session, relative to the root, and order key), so the tasks before
``from_`` go where they went and leave what they left.  Everything else is called:

- ``from_`` and what follows it (``force``);
- a task the last run did not succeed at that place (it failed, or never got there:
  a re-run after a failed run goes on from where it stopped);
- what a cache never replays either (``run_cache.opted_out``), a task that asked
  for human input or a checkpoint or built tasks while it ran, and one that ran
  where its journal stays (a Dask worker; before a checkpoint it was restored from).

The values taken are the last run's own objects, not copies (a value a later task
changed in place is taken as it is now); the re-run journals what it does, so it can
be re-run from a task in turn.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..model.task import Executable
from .run_cache import Decisions, Plan, opted_out

_MAKE_TASKS = ("next_task", "next_iteration")


class JournalReplay(Decisions):
    """A re-run's planner over ``last`` (the run it repeats), for the run ``run_id``."""

    store = None  # no entries: nothing is kept, nothing is keyed
    group_never = "never taken from a run"

    def __init__(self, last: Any, run_id: str, force: frozenset[str], rerun_from: str) -> None:
        self.last = last
        self.last_id: str = last.root_session_id
        self.run_id = run_id
        self.force = force
        self.rerun_from = rerun_from
        super().__init__()
        mark = last.resumed_at()
        here = last.task_runs[mark.task_runs:] if mark is not None else last.task_runs
        self._before_restore = {(self._place(tr.session_id, self.last_id), tr.order_key)
                                for tr in last.task_runs[: len(last.task_runs) - len(here)]}
        self._done: dict[tuple[str, tuple[Any, ...]], Any] = {}
        made: Counter[tuple[str, str]] = Counter()
        for attempt in here:
            journal = last.journal.get((attempt.session_id, attempt.order_key, attempt.attempt))
            if journal is not None:
                made[(attempt.session_id, attempt.task_id)] += sum(1 for name, _ in journal.controls if name in _MAKE_TASKS)
            if attempt.status == "succeeded":
                self._done[(self._place(attempt.session_id, self.last_id), attempt.order_key)] = attempt
        added = Counter((session, spawned_by) for _, session, spawned_by in last.dynamic_tasks if spawned_by is not None)
        self._built = {key for key, count in added.items() if count > made[key]}

    @staticmethod
    def _place(session_id: str, root: str) -> str:
        """A session's id relative to its run's root (ids nest: ``<root>_<member>...``)."""
        return session_id[len(root):] if session_id.startswith(root) else "\x00" + session_id

    # -- deciding (core.runtime.calls.cached) ------------------------------------------
    def plan(self, channel: Any, task: Executable, session_id: str, order_key: tuple[Any, ...], result_key: str) -> Plan:
        plan = Plan(task.task_id, session_id, order_key, result_key)
        why_not = self._why_not(task, session_id, order_key)
        if why_not is not None:
            self._decide(plan, False, why_not)
            return plan
        attempt = self._done[(self._place(session_id, self.run_id), order_key)]
        journal = self.last.journal.get((attempt.session_id, attempt.order_key, attempt.attempt))
        plan.hit, plan.result = True, attempt.result
        if journal is not None:
            plan.ops, plan.controls = journal.ops, journal.controls
        self._decide(plan, True, f"taken from run {self.last_id}", self.last_id)
        return plan

    def _why_not(self, task: Executable, session_id: str, order_key: tuple[Any, ...]) -> str | None:
        """Why ``task`` at this place is called, not taken from the last run (None: taken)."""
        if task.task_id in self.force:
            return f"re-run asked for: wf.rerun(from_={self.rerun_from!r})"
        not_taken = f"called, not taken from run {self.last_id}"
        refusal = opted_out(task)
        if refusal is not None:
            return f"{not_taken}: {refusal}"
        place = (self._place(session_id, self.run_id), order_key)
        attempt = self._done.get(place)
        if attempt is None or attempt.task_id != task.task_id:
            if place in self._before_restore:
                return f"{not_taken}: it ran there before the run was restored from a checkpoint, in another process"
            return f"{not_taken}: it did not succeed there at this point"
        record = self.last.sessions.get(attempt.session_id)
        if record is not None and record.worker is not None:
            return f"{not_taken}: it ran on Dask worker {record.worker}, where what it did stays"
        journal = self.last.journal.get((attempt.session_id, attempt.order_key, attempt.attempt))
        if journal is not None and journal.refusal is not None:
            return f"{not_taken}: {journal.refusal}"
        if (attempt.session_id, task.task_id) in self._built:
            return f"{not_taken}: it built tasks while it ran"
        return None

    def replayed(self, channel: Any, plan: Plan) -> None:
        """Nothing to do: the replay's changes and calls went through the task's
        context, so this run's journal has them."""

    def __repr__(self) -> str:
        taken = sum(1 for d in self.decisions.values() if d.cached)
        return f"<JournalReplay run={self.run_id!r} {taken} of {len(self.decisions)} taken from run {self.last_id!r}>"
