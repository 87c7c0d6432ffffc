"""What a failing group member means, per policy (BEHAVIOURS.md items 20, 29-34, 11,
reconciliation 5): strict/fail_fast, best_effort, continue/ignore, rollback,
AtLeastN, Critical, a custom policy, configuration errors and the run's default.

Every test counts task calls from inside the tasks and checks the raised error, the
session records and ``run.groups`` -- what a user would look at.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter

import pytest
from instruments import WAIT, Calls, EventWaiter, wait_until

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core import AtLeastNGroupPolicy, ConfigError, CriticalGroupPolicy, GroupExecutionPolicy
from graflow_nb.core.events import EventKind


class Boom(Exception):
    pass


def member(calls: Calls, name: str, fail: bool = False, write: dict | None = None, raised=None):
    """A task ``name`` that records its call, optionally writes, then raises."""

    @task(name, inject_context=True)
    def body(ctx):
        calls.hit(name, ctx.session_id)
        for key, value in (write or {}).items():
            ctx.get_channel().set(key, value)
        if fail:
            error = Boom(f"{name} broke")
            if raised is not None:
                raised[name] = error
            raise error
        return f"r{name}"

    return body


def fan(calls: Calls, names, failing=(), policy=None, name="policy", **options):
    """``fetch >> (names...) >> store``; members in ``failing`` raise ``Boom``."""
    raised: dict[str, BaseException] = {}
    with workflow(name) as wf:

        @task
        def fetch():
            calls.hit("fetch")

        @task
        def store():
            calls.hit("store")
            return "stored"

        group = parallel(*[member(calls, n, fail=n in failing, raised=raised) for n in names])
        if policy is not None or options:
            group.with_execution(policy=policy, **options)
        fetch >> group >> store
    return wf, raised


def parent_channel(wf, session_id: str = "S") -> dict:
    ch = wf.last_run.sessions[session_id].context.channel
    return {k: ch.get(k) for k in ch.keys() if not k.endswith(".__result__")}


# -- strict / fail_fast (items 29, 30, 34) -------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "choice", [{"policy": "fail_fast"}, {"policy": "strict", "fail_fast": True}, {"fail_fast": True}]
)
def test_fail_fast_first_failure_stops_unstarted_members_and_names_member_one(choice):
    calls = Calls()
    wf, raised = fan(calls, ["m1", "m2", "m3", "m4"], failing={"m1"}, max_concurrency=1, **choice)

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    error = info.value
    assert calls.order == ["fetch", "m1"]  # m2-m4 never started, store never ran
    assert list(error.errors) == ["m1"]
    assert error.errors["m1"] is raised["m1"] and isinstance(error.errors["m1"], Boom)
    assert error.__cause__ is raised["m1"]
    assert "'m1'" in str(error) and "S_m1" in str(error) and "m1 broke" in str(error)
    assert error.sessions["m1"] == "S_m1"
    assert error.cancelled_tasks == ["m2", "m3", "m4"]

    run = wf.last_run
    assert run.status == "failed"
    assert run.sessions["S_m1"].state == "failed"
    for n in ("m2", "m3", "m4"):
        assert run.sessions[f"S_{n}"].state == "cancelled"
        assert (n, f"S_{n}", "cancelled") in run.skipped
        assert run.sessions[f"S_{n}"].tasks_run == []
    assert "store" not in run.task_counts()
    outcome = run.groups[-1]
    assert outcome.state == "failed"
    assert [f["task_id"] for f in outcome.failures] == ["m1"]
    assert outcome.cancelled == ["m2", "m3", "m4"]


@pytest.mark.timeout(60)
def test_fail_fast_sibling_mid_chain_stops_at_its_next_task_boundary():
    calls = Calls()
    m2_running = threading.Event()
    m1_raising = threading.Event()
    with workflow("mid-chain") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        @task
        def m1():
            assert m2_running.wait(WAIT)
            calls.hit("m1")
            m1_raising.set()
            raise Boom("m1 broke")

        @task(inject_context=True)
        def m2(ctx):
            calls.hit("m2")
            m2_running.set()
            assert m1_raising.wait(WAIT)
            wait_until(lambda: ctx.cancelled, "m1's failure to stop m2's session")
            calls.hit("m2 finished")  # the thread is not killed: m2 runs to its end
            return "r2"

        @task
        def m2b():
            calls.hit("m2b")

        @task
        def store():
            calls.hit("store")

        fetch >> (m1 | (m2 >> m2b)).with_execution(fail_fast=True) >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    assert calls.order == ["fetch", "m2", "m1", "m2 finished"]
    assert list(info.value.errors) == ["m1"]
    run = wf.last_run
    assert run.sessions["S_m2"].state == "cancelled"
    assert run.sessions["S_m2"].tasks_run == ["m2"]
    assert ("m2b", "S_m2", "cancelled") in run.skipped
    assert info.value.cancelled_tasks == ["m2"]


@pytest.mark.timeout(60)
def test_task_polling_ctx_cancelled_sees_true_after_a_sibling_fails():
    calls = Calls()
    polling = threading.Event()
    seen: dict[str, object] = {}
    with workflow("poll") as wf:

        @task
        def fetch():
            return None

        @task
        def failer():
            assert polling.wait(WAIT)
            raise Boom("failer broke")

        @task(inject_context=True)
        def poller(ctx):
            seen["before"] = ctx.cancelled
            polling.set()
            seen["after"] = wait_until(lambda: ctx.cancelled, "ctx.cancelled after failer broke")
            calls.hit("poller")

        @task
        def after_poller():
            calls.hit("after_poller")

        fetch >> (failer | (poller >> after_poller)).with_execution(fail_fast=True)

    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="S")

    assert seen == {"before": False, "after": True}
    assert calls.order == ["poller"]
    run = wf.last_run
    assert run.sessions["S_poller"].state == "cancelled"
    assert run.sessions["S_failer"].state == "failed"
    assert ("after_poller", "S_poller", "cancelled") in run.skipped
    assert [(tr.task_id, tr.status) for tr in run.task_runs if tr.session_id == "S_poller"] == [("poller", "succeeded")]


@pytest.mark.timeout(60)
def test_primary_error_is_first_failure_in_declared_order_over_ten_runs():
    all_running = threading.Barrier(3, timeout=5)
    with workflow("primary") as wf:

        @task
        def fetch():
            return None

        def failing(name, exc_type):
            @task(name)
            def body():
                all_running.wait()
                time.sleep(random.uniform(0, 0.01))  # completion order varies run to run
                raise exc_type(f"{name} broke")

            return body

        @task
        def ok():
            all_running.wait()
            return "ok"

        fetch >> (failing("m1", ValueError) | ok | failing("m3", KeyError))

    primaries, failed_sets = [], []
    for _ in range(10):
        all_running.reset()
        with pytest.raises(ParallelGroupError) as info:
            wf.execute("fetch", session_id="S")
        error = info.value
        primaries.append((type(error.__cause__).__name__, str(error.__cause__)))
        failed_sets.append(list(error.errors))
        assert error.primary_error is error.errors["m1"]
        assert type(error.errors["m3"]) is KeyError
    assert primaries == [("ValueError", "m1 broke")] * 10
    assert failed_sets == [["m1", "m3"]] * 10


# -- best_effort (reconciliation 5, item 20) ------------------------------------------------
@pytest.mark.timeout(60)
def test_best_effort_runs_everyone_succeeds_and_records_failures():
    calls = Calls()
    wf, raised = fan(calls, ["m1", "m2", "m3"], failing={"m1"}, policy="best_effort", max_concurrency=1)

    assert wf.execute("fetch", session_id="S") == "stored"

    assert [calls.count(n) for n in ("m1", "m2", "m3", "store")] == [1, 1, 1, 1]
    run = wf.last_run
    assert run.status == "succeeded"
    outcome = run.groups[-1]
    assert outcome.state == "degraded"
    assert outcome.failures == [{"task_id": "m1", "session_id": "S_m1", "error": raised["m1"]}]
    assert outcome.cancelled == []
    assert run.sessions["S_m1"].state == "failed"
    assert run.sessions["S_m2"].state == run.sessions["S_m3"].state == "merged"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["best_effort", "continue"])
def test_failed_member_channel_writes_are_never_merged(policy):
    calls = Calls()
    with workflow("writes") as wf:

        @task
        def fetch():
            return None

        bad = member(calls, "bad", fail=True, write={"z": "from-bad", "shared": "bad"})
        good = member(calls, "good", write={"y": "from-good"})

        @task(inject_context=True)
        def store(ctx):
            ch = ctx.get_channel()
            return ch.get("z", "absent"), ch.get("y", "absent"), ch.get("shared", "absent")

        fetch >> (bad | good).with_execution(policy=policy) >> store

    assert wf.execute("fetch", session_id="S") == ("absent", "from-good", "absent")
    assert parent_channel(wf) == {"y": "from-good"}
    assert "bad" not in wf.last_run.results()


# -- continue / ignore (items 31, 32) ----------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["continue", "ignore"])
def test_continue_one_of_three_fails_is_degraded_and_successors_run(policy):
    calls = Calls()
    wf, raised = fan(calls, ["a", "b", "c"], failing={"b"}, policy=policy)

    assert wf.execute("fetch", session_id="S") == "stored"

    assert [calls.count(n) for n in ("a", "b", "c", "store")] == [1, 1, 1, 1]
    run = wf.last_run
    assert run.status == "succeeded"
    outcome = run.groups[-1]
    assert outcome.state == "degraded"
    assert [(f["task_id"], f["session_id"]) for f in outcome.failures] == [("b", "S_b")]
    assert outcome.failures[0]["error"] is raised["b"]
    assert run.results()["a"] == "ra" and run.results()["c"] == "rc"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["continue", "ignore"])
def test_continue_with_every_member_failing_fails_the_group(policy):
    calls = Calls()
    wf, raised = fan(calls, ["a", "b", "c"], failing={"a", "b", "c"}, policy=policy)

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    assert [calls.count(n) for n in ("a", "b", "c")] == [1, 1, 1]  # every member still ran
    assert calls.count("store") == 0
    assert list(info.value.errors) == ["a", "b", "c"]
    assert info.value.__cause__ is raised["a"]
    assert wf.last_run.groups[-1].state == "failed"
    assert wf.last_run.status == "failed"


# -- AtLeastN, Critical, custom --------------------------------------------------------------
@pytest.mark.timeout(60)
def test_at_least_n_passes_with_enough_successes():
    calls = Calls()
    wf, _ = fan(calls, ["a", "b", "c"], failing={"c"}, policy=AtLeastNGroupPolicy(2))
    assert wf.execute("fetch", session_id="S") == "stored"
    assert calls.count("store") == 1
    assert wf.last_run.groups[-1].state == "degraded"


@pytest.mark.timeout(60)
def test_at_least_n_fails_with_too_few_successes():
    calls = Calls()
    wf, raised = fan(calls, ["a", "b", "c"], failing={"b", "c"}, policy=AtLeastNGroupPolicy(2))
    with pytest.raises(ParallelGroupError, match="Only 1/2 tasks succeeded") as info:
        wf.execute("fetch", session_id="S")
    assert [calls.count(n) for n in ("a", "b", "c")] == [1, 1, 1]  # not a stopping policy
    assert calls.count("store") == 0
    assert list(info.value.errors) == ["b", "c"]
    assert info.value.__cause__ is raised["b"]


@pytest.mark.timeout(60)
def test_critical_policy_fails_only_when_a_critical_member_fails():
    calls = Calls()
    wf, _ = fan(calls, ["a", "b", "c"], failing={"b"}, policy=CriticalGroupPolicy(["a"]))
    assert wf.execute("fetch", session_id="S") == "stored"
    assert wf.last_run.groups[-1].state == "degraded"

    calls = Calls()
    wf, raised = fan(calls, ["a", "b", "c"], failing={"a"}, policy=CriticalGroupPolicy(["a"]))
    with pytest.raises(ParallelGroupError, match="Critical task") as info:
        wf.execute("fetch", session_id="S")
    assert info.value.errors["a"] is raised["a"]
    assert calls.count("store") == 0


@pytest.mark.timeout(60)
def test_custom_policy_sees_every_member_result():
    seen: list[tuple] = []

    class Record(GroupExecutionPolicy):
        def on_group_finished(self, group_id, tasks, results, context):
            seen.append(
                (
                    group_id,
                    [t.task_id for t in tasks],
                    {t: (r.success, r.status, r.session_id, type(r.error).__name__) for t, r in results.items()},
                )
            )

    calls = Calls()
    wf, _ = fan(calls, ["a", "b", "c"], failing={"b"}, policy=Record())
    assert wf.execute("fetch", session_id="S") == "stored"

    assert len(seen) == 1
    group_id, tasks, results = seen[0]
    assert group_id == wf.last_run.groups[-1].group_id
    assert tasks == ["a", "b", "c"]
    assert results == {
        "a": (True, "succeeded", "S_a", "NoneType"),
        "b": (False, "failed", "S_b", "Boom"),
        "c": (True, "succeeded", "S_c", "NoneType"),
    }


@pytest.mark.timeout(60)
def test_custom_policy_raising_fails_the_group():
    class Refuse(GroupExecutionPolicy):
        def on_group_finished(self, group_id, tasks, results, context):
            raise RuntimeError(f"refused {group_id}")

    calls = Calls()
    wf, _ = fan(calls, ["a", "b"], policy=Refuse())
    with pytest.raises(RuntimeError, match="refused"):
        wf.execute("fetch", session_id="S")
    assert calls.count("store") == 0
    assert wf.last_run.groups[-1].state == "failed"


# -- rollback (item 33) ------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_rollback_compensates_succeeded_members_in_reverse_declared_order():
    calls = Calls()
    compensations: list[tuple[str, object, str]] = []
    events = EventWaiter()
    with workflow("rollback") as wf:

        @task
        def fetch():
            return None

        @task(inject_context=True)
        def a(ctx):
            calls.hit("a")
            ctx.get_channel().set("a_wrote", True)
            return "charged-a"

        @a.compensate
        def undo_a(ctx, a):
            compensations.append(("a", a, ctx.session_id))

        @task
        def b():
            calls.hit("b")
            events.wait_for(EventKind.TASK_FINISHED, "S_a", "a")  # a and c succeeded first
            events.wait_for(EventKind.TASK_FINISHED, "S_c", "c")
            raise Boom("b broke")

        def undo_c(c):
            compensations.append(("c", c, ""))

        @task(compensate=undo_c)
        def c():
            calls.hit("c")
            return "charged-c"

        @task
        def store():
            calls.hit("store")

        fetch >> (a | b | c).with_execution(policy="rollback") >> store

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S", observers=[events])

    assert compensations == [("c", "charged-c", ""), ("a", "charged-a", "S_a")]
    assert list(info.value.errors) == ["b"]
    assert type(info.value.__cause__) is Boom
    assert calls.count("store") == 0
    assert [calls.count(n) for n in ("a", "b", "c")] == [1, 1, 1]
    run = wf.last_run
    assert run.groups[-1].state == "failed"
    assert run.sessions["S_a"].state == run.sessions["S_c"].state == "discarded"
    assert "a_wrote" not in parent_channel(wf)


@pytest.mark.timeout(60)
def test_rollback_compensates_a_member_that_succeeded_after_the_failure():
    """Item 33: a member whose task succeeded has done its work and must be undone, even
    when it finished after the sibling failed (threads are not killed, so it did run)."""
    compensations: list[str] = []
    b_failed = threading.Event()
    with workflow("rollback-late") as wf:

        @task
        def fetch():
            return None

        @task(inject_context=True)
        def a(ctx):
            assert b_failed.wait(WAIT)
            wait_until(lambda: ctx.cancelled, "b's failure to reach the group")
            return "charged-a"

        @a.compensate
        def undo_a(a):
            compensations.append(a)

        @task
        def b():
            b_failed.set()
            raise Boom("b broke")

        fetch >> (a | b).with_execution(policy="rollback")

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")

    assert [tr.status for tr in wf.last_run.task_runs if tr.task_id == "a"] == ["succeeded"]
    assert compensations == ["charged-a"]
    assert "a" not in info.value.cancelled_tasks  # a ran; it was not "not run (cancelled)"


@pytest.mark.timeout(60)
def test_rollback_compensations_run_before_the_error_reaches_the_caller():
    order: list[str] = []
    events = EventWaiter()
    with workflow("rollback-order") as wf:

        @task
        def fetch():
            return None

        @task
        def ok():
            return 1

        @ok.compensate
        def undo(ok):
            order.append(f"undo {ok}")

        @task
        def bad():
            events.wait_for(EventKind.TASK_FINISHED, task_id="ok")  # ok succeeded, so it has work to undo
            raise Boom("bad")

        fetch >> (ok | bad).with_execution(policy="rollback")

    try:
        wf.execute("fetch", session_id="S", observers=[events])
    except ParallelGroupError:
        order.append("raised")
    assert order == ["undo 1", "raised"]

    # strict (no rollback) never compensates
    order.clear()
    wf.graph.nodes[wf.last_run.groups[-1].group_id].with_execution(policy="strict")
    events.clear()
    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="S", observers=[events])
    assert order == []


# -- configuration checked before anything runs (item 11) -----------------------------------
@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"backend": "nope"}, ValueError, r"unknown backend 'nope' for group 'ParallelGroup_1'"),
        ({"policy": "nope"}, ValueError, r"unknown group policy 'nope'"),
        ({"merge": "nope"}, ConfigError, r"unknown merge strategy 'nope' for group 'ParallelGroup_1'"),
        ({"merge": {"k": "nope"}}, ConfigError, r"unknown merge strategy 'nope' for group 'ParallelGroup_1'"),
        ({"max_concurrency": 0}, ValueError, r"group 'ParallelGroup_1': max_concurrency must be .*, got 0"),
        ({"timeout": 0}, ValueError, r"group 'ParallelGroup_1': timeout must be .*, got 0"),
    ],
)
def test_bad_group_configuration_is_refused_at_with_execution(options, error, names):
    calls = Calls()
    with workflow("bad-config") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        a = member(calls, "a")
        b = member(calls, "b")
        group = a | b
        fetch >> group
        with pytest.raises(error) as info:
            group.with_execution(**options)

    assert type(info.value) is error
    assert re.match(names, str(info.value)), str(info.value)  # names the bad value and the group
    assert calls.order == []
    assert wf.last_run is None


def test_unknown_default_policy_is_refused_before_anything_runs():
    calls = Calls()
    wf, _ = fan(calls, ["a", "b"])
    with pytest.raises(ValueError, match="nope"):
        wf.execute("fetch", session_id="S", default_policy="nope")
    assert calls.order == []


# -- the run's default policy ----------------------------------------------------------------
@pytest.mark.timeout(60)
def test_run_default_policy_applies_where_a_group_set_none_and_own_policy_wins():
    calls = Calls()
    with workflow("default-policy") as wf:

        @task
        def fetch():
            calls.hit("fetch")

        @task
        def mid():
            calls.hit("mid")

        @task
        def end():
            calls.hit("end")

        loose = member(calls, "l1") | member(calls, "l2", fail=True)
        tight = (member(calls, "t1") | member(calls, "t2", fail=True)).with_execution(policy="strict")
        fetch >> loose >> mid >> tight >> end

    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S", default_policy="best_effort")

    assert calls.count("mid") == 1  # the group without a policy took the run's default
    assert calls.count("end") == 0  # the group's own "strict" won over the default
    assert list(info.value.errors) == ["t2"]
    assert [g.state for g in wf.last_run.groups] == ["degraded", "failed"]

    # the default default is strict: the first group now stops the run
    calls = Calls()
    with pytest.raises(ParallelGroupError) as info:
        wf.execute("fetch", session_id="S")
    assert list(info.value.errors) == ["l2"]


@pytest.mark.timeout(60)
def test_failure_records_match_failures_raised_under_each_policy():
    for policy in ("best_effort", "continue"):
        calls = Calls()
        failing = {"m1", "m4"}
        wf, raised = fan(calls, [f"m{i}" for i in range(6)], failing=failing, policy=policy)
        wf.execute("fetch", session_id="S")
        outcome = wf.last_run.groups[-1]
        assert [f["task_id"] for f in outcome.failures] == ["m1", "m4"]
        assert {f["task_id"]: f["error"] for f in outcome.failures} == raised
        assert Counter(calls.order)["store"] == 1
