"""Detachable session state: a run's session tree as plain, picklable values.

A checkpoint, a resumed run and a branch shipped to another process all use these
values; nothing here is a side copy kept in sync with the engine: ``take_*`` reads
the live objects (``ExecutionContext``, ``SessionRecord``, ``GroupRun``, channels,
``Run``) and ``restore_*`` builds live ones again against a workflow.

State, as dask/local.py would list it:

    RunState
      sessions:   [SessionState]            every session of the tree, in fork order
      task_runs:  [TaskRun]                 every attempt, in start order
      fork_counts {branch base id: n}       so a re-fork never reuses an id (S_a#2)
      steps, max_steps, status, error, pending {key: PendingInput}, answers {key: value},
      skipped, groups, dynamic_tasks, settings {default_max_cycles, ...}
      shape:      GraphShape                 the graph it ran, to refuse a changed one
      resumes:    [ResumeMark]               where earlier resumes split the history
    SessionState
      record fields, queue [task id], counters, steps, cycle_counts, completed_tasks
      dynamic:    [TaskSpec]                tasks this session created while running
      dynamic_succ / dynamic_pred / join_arrivals
      channel:    ChannelState              root: its values; branch: its own changes
      groups:     [GroupState]              groups parked here (paused or failed)
      waiting_key, abandoned
    GroupState    one parked GroupRun: members, branch session ids, each member's
                  outcome, why it is parked ("paused" or "failed"), time left

Code is never pickled: a task is saved as its id, and found again by id in the
workflow it is restored against.  A task created at run time (``next_task(t)``, a
group built in a branch, ``next_iteration``) is saved as a ``TaskSpec``: its
settings and where its function lives (``module:qualname``); restoring looks the
function up in ``tasks=`` (``{task id: task or function}``) first, then by that
name (in a notebook, ``__main__``: re-run the cell that defines it).  A function
defined inside another function has no such name: pass it in ``tasks=``.

One branch session on its own (what the Dask executor ships):

    BranchSpec     in:  session id, member, group, order key, remaining step budget,
                        the parent's channel view (a plain dict), the run's settings
    BranchOutcome  out: its own channel changes, task results, task-run and session
                        records (nested ones included), events, skipped tasks, error

>>> from graflow_nb import task, workflow
>>> with workflow("snapshot_doc") as wf:
...     @task(inject_context=True)
...     def ask(ctx): return ctx.request_approval("go?")
...     @task
...     def other(): return 2
...     @task
...     def start(): return 1
...     _ = start >> (ask | other)
>>> paused = wf.execute("start", session_id="D")
>>> state = take_run(wf.last_run)
>>> state.status, state.frontier
('paused', {'D': ['ParallelGroup_1'], 'D_ask': ['ask']})
>>> [(s.session_id, s.state, s.tasks_run, s.queue) for s in state.sessions]
[('D', 'paused', ['start'], ['ParallelGroup_1']), ('D_ask', 'paused', [], ['ask']), ('D_other', 'open', ['other'], [])]
>>> [(g.group_id, g.why, [o.status for o in g.outcomes]) for g in state.sessions[0].groups]
[('ParallelGroup_1', 'paused', ['paused', 'succeeded'])]
>>> state.sessions[2].channel
ChannelState(values={'other.__result__': 2}, deleted=(), ops={})

``run_branch(spec, workflow)`` runs it to its end anywhere and returns its outcome
(``open_branch`` gives the detached context it runs, ``branch_outcome(ctx)`` reads
what came of it); ``apply_outcome(outcome, branch)`` folds it into the live branch
session it stands for.
"""

from .branch import apply_outcome, branch_outcome, branch_spec, branch_state, open_branch, run_branch
from .restore import Resolver, build_task, restore_run
from .shape import check_shape, graph_shape
from .take import dumps, loads, portable_error, take_channel, take_run, take_session, task_spec
from .values import (
    FORMAT,
    NO_BASE,
    BranchOutcome,
    BranchSpec,
    ChannelState,
    GraphChangedError,
    GraphShape,
    GroupState,
    ResumeMark,
    RunState,
    SessionState,
    SnapshotError,
    TaskSpec,
    UnpicklableError,
)

__all__ = [
    "FORMAT", "NO_BASE", "BranchOutcome", "BranchSpec", "ChannelState", "GraphChangedError", "GraphShape",
    "GroupState", "Resolver", "ResumeMark", "RunState", "SessionState", "SnapshotError", "TaskSpec",
    "UnpicklableError", "apply_outcome", "branch_outcome", "branch_spec", "branch_state", "build_task", "check_shape", "dumps",
    "graph_shape", "loads", "open_branch", "portable_error", "restore_run", "run_branch", "take_channel", "take_run",
    "take_session", "task_spec",
]
