"""Three faults of a real Dask cluster each end in one outcome with every session closed.

A client closed while branches run, a value that comes back but can't be unpickled in
this process, and a scheduler killed: each is a member failure naming the branch's
session, its task and the worker or scheduler, with the original exception as its
``__cause__``, handled under the group's policy (strict, continue, rollback); no
session is left ``open``, the run's status and events say what happened, and the run
returns at once instead of waiting on Dask's 30 s reconnect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from distributed import Client
from distributed import Event as DaskEvent
from distributed.client import FutureCancelledError
from instruments import WAIT, wait_until

import graflow_nb
from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.events import EventKind, EventLog
from graflow_nb.core.snapshot import UnpicklableError
from graflow_nb.distributed import SchedulerLost, ShippingError

from .conftest import worker_addresses

POLICIES = ["strict", "continue", "rollback"]


def dask_on(client: Client) -> dict:
    return {"backend": "dask", "backend_config": {"client": client}}


def faulted_group(name: str, client: Client, policy: str, stuck: str | None = None, make_bad=None):
    """``src >> (good | victim) >> sink`` on ``client``: ``good`` finishes (and has a
    compensation), ``victim`` either waits on the Dask event ``stuck`` or returns
    ``make_bad()``.  Returns the workflow, the list its compensations append to, and
    the group."""
    compensated: list[str] = []
    with workflow(name) as wf:
        @task
        def src():
            return 0

        @task
        def good():
            return "ok"

        @good.compensate
        def undo_good():
            compensated.append("good")

        @task
        def victim():
            if stuck is not None:
                DaskEvent(f"{stuck}-started").set()
                return DaskEvent(stuck).wait(timeout=WAIT * 3)
            return make_bad()

        @task
        def sink(good):
            return f"sink after {good}"

        group = (good | victim).with_execution(**dask_on(client), policy=policy)
        _ = src >> group >> sink
    return wf, compensated, group


def run_in_thread(wf, observers=()) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def go():
        try:
            outcome["result"] = wf.execute("src", session_id="S", observers=list(observers))
        except BaseException as error:
            outcome["error"] = error
        outcome["returned"] = time.monotonic()

    runner = threading.Thread(target=go, daemon=True)
    runner.start()
    return runner, outcome


def good_came_back(wf) -> bool:
    """``good``'s outcome is folded in (live events alone don't fill a session's record)."""
    run = wf.last_run
    record = None if run is None else run.sessions.get("S_good")
    return record is not None and record.tasks_run == ["good"]


def assert_policy_outcome(policy: str, wf, outcome: dict, compensated: list[str], error_type: type) -> BaseException:
    """The faulted member ``victim`` fails under ``policy``; returns its error."""
    run = wf.last_run
    states = {sid: record.state for sid, record in run.sessions.items()}
    assert "open" not in states.values() and "paused" not in states.values(), states
    assert states["S_victim"] == "failed"
    failures = run.groups[-1].failures
    assert [f["task_id"] for f in failures] == ["victim"] and failures[0]["session_id"] == "S_victim"
    if policy == "continue":
        assert outcome.get("result") == "sink after ok", outcome
        assert run.status == "succeeded" and run.groups[-1].state == "degraded"
        assert states["S_good"] == "merged" and compensated == []
        error = failures[0]["error"]
    else:
        group_error = outcome.get("error")
        assert isinstance(group_error, ParallelGroupError), outcome
        assert run.status == "failed" and run.groups[-1].state == "failed"
        assert states["S_good"] == "discarded"
        assert compensated == (["good"] if policy == "rollback" else [])
        assert "sink" not in run.task_counts()
        error = group_error.errors["victim"]
    assert type(error) is error_type
    assert len(str(error)) < 400
    return error


# -- the client closed while a branch runs ----------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
def test_a_client_closed_mid_run_fails_the_member_out_on_it_naming_branch_task_and_scheduler(client, policy):
    own = Client(client.cluster, set_as_default=False)  # the user's client; the cluster stays
    scheduler = own.scheduler.address
    stuck = f"stuck-{uuid.uuid4().hex}"
    log = EventLog()
    try:
        wf, compensated, _ = faulted_group(f"closed-{policy}", own, policy, stuck=stuck)
        runner, outcome = run_in_thread(wf, [log])
        assert DaskEvent(f"{stuck}-started", client=client).wait(timeout=WAIT)
        wait_until(lambda: good_came_back(wf), "the finished member's outcome to come back")
        own.close()
        closed = time.monotonic()
        runner.join(WAIT)
        assert not runner.is_alive(), "the run still waits after its client closed"
        assert outcome["returned"] - closed < 5  # at once: no call waits on a closed client
    finally:
        DaskEvent(stuck, client=client).set()  # the worker thread goes free (Dask can't stop it)
        own.close()
    error = assert_policy_outcome(policy, wf, outcome, compensated, SchedulerLost)
    assert str(error) == (
        f"branch session 'S_victim' (task 'victim') was lost: the Dask client of scheduler {scheduler} was closed"
    )
    assert isinstance(error.__cause__, FutureCancelledError)
    closes = [(e.session_id, e.data["state"]) for e in log.events if e.kind == EventKind.SESSION_CLOSED]
    assert ("S_victim", "failed") in closes
    assert log.events[-1].kind == EventKind.RUN_FINISHED and log.events[-1].data["status"] == wf.last_run.status


def test_after_a_client_closed_a_group_still_on_it_fails_at_once_and_a_new_client_runs_it(client):
    own = Client(client.cluster, set_as_default=False)
    scheduler = own.scheduler.address
    stuck = f"stuck-{uuid.uuid4().hex}"
    try:
        wf, _, group = faulted_group("closed-then-new", own, "strict", stuck=stuck)
        runner, outcome = run_in_thread(wf)
        assert DaskEvent(f"{stuck}-started", client=client).wait(timeout=WAIT)
        own.close()
        runner.join(WAIT)
        assert isinstance(outcome.get("error"), ParallelGroupError)
    finally:
        DaskEvent(stuck, client=client).set()
        own.close()

    # The group still holds the closed client: one clear error, nothing sent, nothing open.
    with pytest.raises(SchedulerLost) as caught:
        wf.execute("src", session_id="T")
    assert str(caught.value).startswith(
        f"group 'ParallelGroup_1' in session 'T' can't start on Dask: the Dask client of scheduler {scheduler} "
        f"was closed; make a new client and hand it to the group again"
    )
    run = wf.last_run
    assert {sid: r.state for sid, r in run.sessions.items()} == {"T": "failed", "T_good": "cancelled", "T_victim": "cancelled"}
    assert run.status == "failed" and run.task_counts() == {"src": 1, "ParallelGroup_1": 1}

    # A group that chose no backend follows execute(executor=...): the advice says so.
    with workflow("closed-executor") as plain:
        (task("a")(lambda: 1) | task("b")(lambda: 2))
    with pytest.raises(SchedulerLost) as caught:
        plain.execute("ParallelGroup_1", session_id="V", executor=own)
    assert str(caught.value).endswith("was closed; make a new client and run with it (execute(executor=client))")
    assert {r.state for r in plain.last_run.sessions.values()} == {"failed", "cancelled"}

    # The user makes a new client and hands it over: the same workflow runs on it.
    again = Client(client.cluster, set_as_default=False)
    try:
        group.with_execution(**dask_on(again))
        DaskEvent(stuck, client=again).set()  # victim returns at once this time
        assert wf.execute("src", session_id="U") == "sink after ok"
        run = wf.last_run
        assert run.status == "succeeded"
        assert {run.sessions[s].state for s in ("U_good", "U_victim")} == {"merged"}
        assert run.sessions["U_victim"].worker in worker_addresses(client)
    finally:
        again.close()


# -- a value that comes back but can't be loaded here ------------------------------------
def homesick_class():
    """A class whose instances pickle anywhere but unpickle only inside a Dask worker
    (a class missing here, a file only the worker can read...)."""

    class HomeSick:
        def __init__(self, label):
            self.label = label

        def __setstate__(self, state):
            from distributed import get_worker

            try:
                get_worker()
            except ValueError:
                raise RuntimeError(f"{state['label']} can only be loaded on a worker") from None
            self.__dict__.update(state)

    return HomeSick


@pytest.mark.parametrize("policy", POLICIES)
def test_a_result_that_cannot_be_loaded_here_fails_its_branch_naming_session_task_and_worker(client, policy):
    HomeSick = homesick_class()
    wf, compensated, _ = faulted_group(f"homesick-{policy}", client, policy, make_bad=lambda: HomeSick("the report"))
    runner, outcome = run_in_thread(wf)
    runner.join(WAIT)
    assert not runner.is_alive()
    error = assert_policy_outcome(policy, wf, outcome, compensated, ShippingError)
    worker = wf.last_run.sessions["S_victim"].worker
    assert worker in worker_addresses(client)
    assert str(error) == (
        f"branch session 'S_victim' (task 'victim') on Dask worker {worker}: the result of task 'victim', "
        f"a HomeSick, can't be loaded in this process (RuntimeError: the report can only be loaded on a worker)"
    )
    assert type(error.__cause__) is RuntimeError
    run = wf.last_run
    # The record keeps what ran: the attempt succeeded out there, its value is not here
    # (as for a value that can't be pickled on the worker).
    [attempt] = [r for r in run.task_runs if r.task_id == "victim"]
    assert attempt.status == "succeeded" and attempt.result is None


def test_a_result_that_cannot_be_pickled_on_the_worker_fails_its_branch_naming_it(client):
    wf, compensated, _ = faulted_group("lock-result", client, "strict", make_bad=threading.Lock)
    runner, outcome = run_in_thread(wf)
    runner.join(WAIT)
    error = assert_policy_outcome("strict", wf, outcome, compensated, ShippingError)
    worker = wf.last_run.sessions["S_victim"].worker
    assert str(error) == (
        f"branch session 'S_victim' (task 'victim') on Dask worker {worker}: the result of task 'victim', a lock, "
        f"can't be pickled on its worker to come back (TypeError: cannot pickle '_thread.lock' object)"
    )
    assert type(error.__cause__) is TypeError


def test_an_outcome_part_that_cannot_be_pickled_on_the_worker_fails_its_branch_naming_session_and_worker(client):
    with workflow("lock-in-a-dynamic-task") as wf:
        @task(inject_context=True)
        def victim(ctx):
            lock = threading.Lock()

            @task("sub")
            def sub():
                return lock.locked()

            ctx.next_task(sub)  # a task made at run time travels back by value, with its lock
            return 1

        @task
        def other():
            return 2

        (victim | other).with_execution(**dask_on(client))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("ParallelGroup_1", session_id="S")
    error = caught.value.errors["victim"]
    assert type(error) is ShippingError and type(error.__cause__) is TypeError
    assert str(error).startswith("branch session 'S_victim' (task 'victim') on Dask worker tcp://")
    assert str(error).endswith(": its outcome can't be pickled to come back (TypeError: cannot pickle '_thread.lock' object)")
    assert {sid: r.state for sid, r in wf.last_run.sessions.items()} == {"S": "failed", "S_victim": "failed", "S_other": "discarded"}


def test_a_channel_value_that_cannot_be_loaded_here_is_named_by_its_key(client):
    HomeSick = homesick_class()
    with workflow("homesick-channel") as wf:
        @task(inject_context=True)
        def writer(ctx):
            ctx.get_channel().set("report", HomeSick("the channel's report"))
            ctx.get_channel().set("fine", [1, 2])
            return "wrote"

        @task
        def other():
            return 2

        (writer | other).with_execution(**dask_on(client))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("ParallelGroup_1", session_id="S")
    error = caught.value.errors["writer"]
    assert type(error) is ShippingError
    assert "branch session 'S_writer' (task 'writer') on Dask worker tcp://" in str(error)
    assert "channel key 'report', a HomeSick, can't be loaded in this process" in str(error)
    run = wf.last_run
    assert {sid: r.state for sid, r in run.sessions.items()} == {"S": "failed", "S_writer": "failed", "S_other": "discarded"}


def test_an_error_that_cannot_be_loaded_here_comes_back_as_a_stand_in_with_its_type_and_message(client):
    HomeSick = homesick_class()
    log = EventLog()

    class Odd(ValueError):
        pass

    with workflow("homesick-error") as wf:
        @task
        def victim():
            error = Odd("victim broke")
            error.evidence = HomeSick("the evidence")
            raise error

        @task
        def other():
            return 2

        (victim | other).with_execution(**dask_on(client))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("ParallelGroup_1", session_id="S", observers=[log])
    error = caught.value.errors["victim"]
    assert type(error) is UnpicklableError and str(error) == "Odd: victim broke"
    assert (
        "[graflow_nb] the error task 'victim' raised can't be loaded in this process "
        "(RuntimeError: the evidence can only be loaded on a worker)"
    ) in error.__notes__
    run = wf.last_run
    assert {sid: r.state for sid, r in run.sessions.items()} == {"S": "failed", "S_victim": "failed", "S_other": "discarded"}
    [attempt] = [r for r in run.task_runs if r.task_id == "victim"]
    assert attempt.status == "failed" and str(attempt.error) == "Odd: victim broke"
    failed = [e for e in log.events if e.kind == EventKind.TASK_FAILED and e.session_id == "S_victim"]
    assert [(e.task_id, type(e.data["error"]), str(e.data["error"])) for e in failed] == [
        ("victim", UnpicklableError, "Odd: victim broke")
    ]


def test_an_error_that_cannot_even_be_pickled_on_the_worker_comes_back_as_a_stand_in(client):
    class Locked(ValueError):
        pass

    with workflow("locked-error") as wf:
        @task
        def victim():
            error = Locked("holds a lock")
            error.lock = threading.Lock()
            raise error

        @task
        def other():
            return 2

        (victim | other).with_execution(**dask_on(client))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("ParallelGroup_1", session_id="S")
    error = caught.value.errors["victim"]
    assert type(error) is UnpicklableError and str(error) == "Locked: holds a lock"
    assert error.__notes__ == [
        "[graflow_nb] the error task 'victim' raised can't be pickled (TypeError: cannot pickle '_thread.lock' object)"
    ]
    assert {sid: r.state for sid, r in wf.last_run.sessions.items()} == {"S": "failed", "S_victim": "failed", "S_other": "discarded"}
    assert wf.last_run.sessions["S_victim"].worker in worker_addresses(client)  # its record came back


def test_an_unloadable_error_in_a_nested_group_stays_in_its_record_and_the_branch_goes_on(client):
    HomeSick = homesick_class()

    class Odd(ValueError):
        pass

    with workflow("homesick-nested") as wf:
        @task
        def inner_bad():
            error = Odd("inner broke")
            error.evidence = HomeSick("the evidence")
            raise error

        @task
        def inner_ok():
            return 1

        @task
        def lead():
            return 0

        _ = lead >> parallel(inner_bad, inner_ok).with_execution(policy="continue")  # on threads, in the worker

        @task
        def other():
            return 2

        parallel(lead, other).with_execution(**dask_on(client))
    wf.execute("ParallelGroup_2", session_id="S")
    run = wf.last_run
    assert run.status == "succeeded"
    assert {sid: r.state for sid, r in run.sessions.items()} == {
        "S": "closed", "S_lead": "merged", "S_other": "merged", "S_lead_inner_bad": "failed", "S_lead_inner_ok": "merged",
    }
    [inner] = [g for g in run.groups if g.group_id == "ParallelGroup_1"]
    assert inner.state == "degraded" and inner.session_id == "S_lead"
    [failure] = inner.failures
    assert failure["task_id"] == "inner_bad" and failure["session_id"] == "S_lead_inner_bad"
    assert type(failure["error"]) is UnpicklableError and str(failure["error"]) == "Odd: inner broke"


# -- the scheduler killed ----------------------------------------------------------------
HOST = """
import logging, sys
from graflow_nb.distributed import local_cluster
client = local_cluster(1, threads_per_worker=2, silence_logs=logging.CRITICAL)
print(client.scheduler.address, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def doomed_scheduler():
    """A LocalCluster of its own, hosted by a child process (so its scheduler, which
    lives in the process that made the cluster, can be killed): yields that process
    and the scheduler's address; its worker processes go with it afterwards."""
    root = str(Path(graflow_nb.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    host = subprocess.Popen(
        [sys.executable, "-c", HOST], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    try:
        assert host.stdout is not None
        address = host.stdout.readline().strip()
        assert address.startswith("tcp://"), f"the host process printed {address!r}"
        yield host, address
    finally:
        try:
            os.killpg(host.pid, signal.SIGKILL)  # the host, its nanny and worker processes
        except ProcessLookupError:
            pass
        host.wait(WAIT)
        host.stdin.close()
        host.stdout.close()


@pytest.mark.slow
def test_a_killed_scheduler_fails_the_member_out_on_it_at_once_naming_it(doomed_scheduler):
    host, address = doomed_scheduler
    own = Client(address, set_as_default=False)
    stuck = f"stuck-{uuid.uuid4().hex}"
    log = EventLog()
    try:
        wf, compensated, _ = faulted_group("scheduler-killed", own, "strict", stuck=stuck)
        runner, outcome = run_in_thread(wf, [log])
        assert DaskEvent(f"{stuck}-started", client=own).wait(timeout=WAIT)
        wait_until(lambda: good_came_back(wf), "the finished member's outcome to come back")
        os.kill(host.pid, signal.SIGKILL)  # the scheduler only: its worker lives on, orphaned
        killed = time.monotonic()
        runner.join(WAIT)
        assert not runner.is_alive(), "the run still waits after its scheduler died"
        assert outcome["returned"] - killed < 5  # not Dask's 30 s reconnect timeout
        error = assert_policy_outcome("strict", wf, outcome, compensated, SchedulerLost)
        assert str(error) == (
            f"branch session 'S_victim' (task 'victim') was lost: the connection to Dask scheduler {address} was lost"
        )
        assert isinstance(error.__cause__, FutureCancelledError)
        assert error.__cause__.reason == "scheduler-connection-lost"
        closes = [(e.session_id, e.data["state"]) for e in log.events if e.kind == EventKind.SESSION_CLOSED]
        assert ("S_victim", "failed") in closes and ("S_good", "discarded") in closes

        # A group started on the client now fails at once too, naming the scheduler.
        started = time.monotonic()
        with pytest.raises(SchedulerLost, match="can't start on Dask: the connection to Dask scheduler"):
            wf.execute("src", session_id="T")
        assert time.monotonic() - started < 5
        assert "open" not in {r.state for r in wf.last_run.sessions.values()}
    finally:
        own.close(timeout=WAIT)
