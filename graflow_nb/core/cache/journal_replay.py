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
  where its journal stays (before a checkpoint it was restored from, in another
  process).

A branch that ran on a Dask worker journals there, and its journal comes home with
its outcome (``graflow_nb.distributed``); a re-run ships each Dask group the share of
its branches' places (``share``, ``ShippedReplay``) and those branches are replayed on
their workers (``shipped``), as a cache's are: the same outcome folds into the same
session tree and merges in declaration order, and the decisions made there come
back with the outcome.

The values taken are the last run's own objects, not copies (a value a later task
changed in place is taken as it is now); the re-run journals what it does, so it can
be re-run from a task in turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..model.task import Executable
from .run_cache import Decisions, Plan, opted_out

_MAKE_TASKS = ("next_task", "next_iteration")

# (session id relative to the run's root, order key): where a task ran in a run
Place = tuple[str, tuple[Any, ...]]


class Taken(NamedTuple):
    """What the last run's succeeded attempt at a place left: what a re-run takes."""

    task_id: str
    result: Any
    journal: Any  # its core.runtime.journal.TaskJournal (None: it changed nothing, called nothing)
    built: bool  # it built tasks while it ran (beyond those its controls queued)


@dataclass
class ShippedReplay:
    """A re-run's share for a group's branches in another process (a Dask worker):
    the places under those branches only, with what the last run left there."""

    last_id: str
    run_id: str
    force: frozenset[str]
    rerun_from: str
    taken: dict[Place, Taken]
    before_restore: set[Place]


class JournalReplay(Decisions):
    """A re-run's planner, for the run ``run_id``, over what the run it repeats
    (``last_id``) left at each place: ``of`` that run, or ``shipped`` its share."""

    store = None  # no entries: nothing is kept, nothing is keyed
    group_never = "never taken from a run"

    def __init__(
        self, last_id: str, run_id: str, force: frozenset[str], rerun_from: str, taken: dict[Place, Taken],
        before_restore: set[Place],
    ) -> None:
        self.last_id = last_id
        self.run_id = run_id
        self.force = force
        self.rerun_from = rerun_from
        super().__init__()
        self._taken = taken
        self._before_restore = before_restore

    @classmethod
    def of(cls, last: Any, run_id: str, force: frozenset[str], rerun_from: str) -> JournalReplay:
        """The re-run ``run_id`` of the run ``last``."""
        last_id: str = last.root_session_id
        mark = last.resumed_at()
        here = last.task_runs[mark.task_runs:] if mark is not None else last.task_runs
        before_restore = {(cls._place(tr.session_id, last_id), tr.order_key)
                          for tr in last.task_runs[: len(last.task_runs) - len(here)]}
        done: dict[Place, tuple[Any, Any]] = {}
        made: Counter[tuple[str, str]] = Counter()
        for attempt in here:
            journal = last.journal.get((attempt.session_id, attempt.order_key, attempt.attempt))
            if journal is not None:
                made[(attempt.session_id, attempt.task_id)] += sum(1 for name, _ in journal.controls if name in _MAKE_TASKS)
            if attempt.status == "succeeded":
                done[(cls._place(attempt.session_id, last_id), attempt.order_key)] = (attempt, journal)
        added = Counter((session, spawned_by) for _, session, spawned_by in last.dynamic_tasks if spawned_by is not None)
        built = {key for key, count in added.items() if count > made[key]}
        taken = {place: Taken(attempt.task_id, attempt.result, journal, (attempt.session_id, attempt.task_id) in built)
                 for place, (attempt, journal) in done.items()}
        return cls(last_id, run_id, force, rerun_from, taken, before_restore)

    def share(self, session_ids: Iterable[str]) -> ShippedReplay:
        """What branches ``session_ids`` (sessions of this run) need to be re-run in
        another process: the places under them (nested sessions' ids extend theirs)."""
        under = tuple(self._place(session_id, self.run_id) for session_id in session_ids)
        return ShippedReplay(
            self.last_id, self.run_id, self.force, self.rerun_from,
            {place: taken for place, taken in self._taken.items() if place[0].startswith(under)},
            {place for place in self._before_restore if place[0].startswith(under)},
        )

    @classmethod
    def shipped(cls, share: ShippedReplay) -> JournalReplay:
        """The re-run's planner for branches in this process, from their ``share``."""
        return cls(share.last_id, share.run_id, share.force, share.rerun_from, share.taken, share.before_restore)

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
        taken = self._taken[(self._place(session_id, self.run_id), order_key)]
        journal = taken.journal
        plan.hit, plan.result = True, taken.result
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
        taken = self._taken.get(place)
        if taken is None or taken.task_id != task.task_id:
            if place in self._before_restore:
                return f"{not_taken}: it ran there before the run was restored from a checkpoint, in another process"
            return f"{not_taken}: it did not succeed there at this point"
        journal = taken.journal
        if journal is not None and journal.refusal is not None:
            return f"{not_taken}: {journal.refusal}"
        if taken.built:
            return f"{not_taken}: it built tasks while it ran"
        return None

    def replayed(self, channel: Any, plan: Plan) -> None:
        """Nothing to do: the replay's changes and calls went through the task's
        context, so this run's journal has them."""

    def __repr__(self) -> str:
        taken = sum(1 for d in self.decisions.values() if d.cached)
        return f"<JournalReplay run={self.run_id!r} {taken} of {len(self.decisions)} taken from run {self.last_id!r}>"
