"""What each task of a run did besides returning, kept so ``wf.rerun(from_=...)`` can
take a task from the last run without calling it, cache or not.

A task reaches its session only through its context: the channel ``get_channel()``
hands it (typed channels sit on it) and the control calls (``next_task``, goto,
``next_iteration``, ``terminate_workflow``, ``cancel_workflow``).  ``JournalChannel`` is
that channel with its changes (``set``, ``delete``, ``append``, ``prepend``,
``atomic_add``, in order) written down, and the context writes down its control
calls; both land in ``run.journal`` under ``(session id, order key, attempt)`` once
the task makes one.  A task that takes nothing (called bare, with no context), one
that only reads, and the engine's own writes (results: ``TaskRun.result`` keeps what
each attempt returned) add nothing, so the run's hot path does no more work.

What is written down are the values themselves, not copies: a value a later task
changed in place is taken as it is now.  A run with a cache records its own way
(``core.runtime.recording``: pickled copies) and journals nothing
(``run.journaling`` is False).  A branch on a Dask worker journals in the worker's
run, and its journal comes home with its outcome (``graflow_nb.distributed``).
"""

from __future__ import annotations

from typing import Any

from ..data.channel import Channel
from ..data.watched_channel import WatchedChannel

# (session id, order key, attempt from 1): one attempt of one task
JournalKey = tuple[str, tuple[Any, ...], int]


class TaskJournal:
    """One attempt's changes and control calls, as ``core.runtime.recording`` writes
    them (``ops``: ``(method, key, args)``; ``controls``: ``(method, args)``), and why it
    can't be taken from the run without calling it, if it can't (``refusal``)."""

    __slots__ = ("controls", "ops", "refusal")

    def __init__(self) -> None:
        self.ops: list[tuple[str, str, tuple[Any, ...]]] = []
        self.controls: list[tuple[str, tuple[Any, ...]]] = []
        self.refusal: str | None = None

    def __repr__(self) -> str:
        return f"<TaskJournal {len(self.ops)} changes, {len(self.controls)} control calls>"


class JournalChannel(WatchedChannel):
    """The channel a task's context hands it in a run that journals: reads go to
    ``base`` as they are; changes too, and are written down in the attempt's journal
    (``task_ctx.journal()``, looked up on the first one; none once the attempt was
    abandoned: what it does then never counts)."""

    def __init__(self, base: Channel, task_ctx: Any):
        super().__init__(base)
        self._task_ctx = task_ctx
        self._entry: TaskJournal | None = None

    def _changed(self, op: str, key: str, args: tuple[Any, ...]) -> None:
        entry = self._entry
        if entry is None:
            entry = self._entry = self._task_ctx.journal()
            if entry is None:
                return
        if not self._task_ctx.abandoned:
            entry.ops.append((op, key, args))

    def __repr__(self) -> str:
        return repr(self.base)  # what a task that prints its channel saw before the journal
