"""Shared pieces of the fault tests: call counting, session states, and a group whose
failing member is guaranteed to run on a pool worker thread.

``worker_fault_group`` pins the threads without timing: member ``hold`` is the first
declared, so the forking thread runs it itself, and it blocks until ``bad`` has
raised; ``bad`` can therefore only run on a worker (the pool starts one when every
thread is blocked).  ``hold`` is released by the ``task_failed`` event of ``bad``
(from ``wf.observers``), which the engine emits once the run is stopping.  ``done``
succeeds before ``bad`` raises (``bad`` waits for it), so a policy has a succeeded
member to compensate or tolerate.  ``hold`` has a successor, ``hold_next``, which must
not start once the run is stopping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from instruments import Calls

from graflow_nb import workflow
from graflow_nb.core import AtLeastNGroupPolicy, CriticalGroupPolicy
from graflow_nb.core.events import EventKind

WAIT = 30  # seconds: only ever reached when the behaviour under test is broken

# Every kind of group policy, fresh per use (member ``done`` is the critical one).
POLICIES = {
    "strict": lambda: "strict",
    "best_effort": lambda: "best_effort",
    "continue": lambda: "continue",
    "rollback": lambda: "rollback",
    "at_least_1": lambda: AtLeastNGroupPolicy(1),
    "critical_done": lambda: CriticalGroupPolicy(["done"]),
}


def raiser(error: BaseException) -> Callable[[], Any]:
    def throw() -> Any:
        raise error

    return throw


def states(run) -> dict[str, str]:
    """Every session of the run and its final state."""
    return {sid: rec.state for sid, rec in run.sessions.items()}


def must_wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        raise AssertionError(f"timed out waiting for {what}")


def worker_fault_group(error: BaseException, policy="strict", calls: Calls | None = None):
    """``src >> (hold >> hold_next | done | bad).with_execution(policy) >> sink``;
    ``bad`` raises ``error`` on a worker thread.  Returns (workflow, calls)."""
    calls = calls or Calls()
    raised = threading.Event()
    done_ran = threading.Event()
    def bad_body():
        must_wait(done_ran, "done to finish")
        raise error

    with workflow("worker_fault") as wf:
        done = calls.task("done", done_ran.set)
        done.compensate(lambda: calls.hit("undo_done"))
        hold = calls.task("hold", lambda: must_wait(raised, "bad to raise"))
        group = ((hold >> calls.task("hold_next")) | done | calls.task("bad", bad_body)).with_execution(policy=policy)
        _ = calls.task("src") >> group >> calls.task("sink")

    def release_hold(event) -> None:
        if event.kind == EventKind.TASK_FAILED and event.task_id == "bad":
            raised.set()

    wf.observers.append(release_hold)
    return wf, calls
