"""A group's failures are reported the way graflow reports them (issue 28, part 1).

Under the default policy (strict) and under a critical policy every member runs, and
``ParallelGroupError`` lists every failure in declaration order, whatever order the
members finish in; ``successful_tasks`` holds exactly the members that succeeded.
Stopping at the first failure is an explicit choice (``fail_fast``), and a critical
policy never names a member that did not run among the failed ones.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.handlers.group_policy import CriticalGroupPolicy, GroupExecutionPolicy, StrictGroupPolicy
from graflow_nb.core.policies import TaskResult

MEMBERS = ["a", "b", "c", "d", "e", "f"]


def group_of(name: str, failing: set[str], delays: dict[str, float], ran: list[str] | None, **options):
    """``start >> (a | ... | f) >> after``; members in ``failing`` raise ``ValueError``
    after sleeping their delay (so the finishing order is the delays' order).  Each
    member appends its id to ``ran`` (None: nothing recorded, for a Dask worker)."""
    lock = threading.Lock() if ran is not None else None
    with workflow(name) as wf:

        @task
        def start():
            return None

        def member(member_id: str):
            @task(member_id)
            def body():
                time.sleep(delays[member_id])
                if lock is not None and ran is not None:
                    with lock:
                        ran.append(member_id)
                if member_id in failing:
                    raise ValueError(f"{member_id} failed")
                return member_id

            return body

        @task
        def after():
            if ran is not None:
                ran.append("after")

        group = parallel(*[member(m) for m in MEMBERS])
        if options:
            group.with_execution(**options)
        start >> group >> after
    return wf


def finishing_orders(runs: int) -> list[dict[str, float]]:
    """Delays making members finish in declaration order, in reverse, all at once, and
    in random orders (seeded)."""
    rng = random.Random(28)
    step = 0.004
    orders = [
        {m: i * step for i, m in enumerate(MEMBERS)},
        {m: (len(MEMBERS) - i) * step for i, m in enumerate(MEMBERS)},
        dict.fromkeys(MEMBERS, 0.0),
    ]
    while len(orders) < runs:
        orders.append({m: rng.uniform(0, 0.01) for m in MEMBERS})
    return orders


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", [{}, {"policy": "strict"}, {"max_concurrency": 1}, {"max_concurrency": 2}])
def test_strict_lists_every_failure_in_declaration_order_whatever_the_finishing_order(options):
    failing = {"b", "c", "e"}
    for delays in finishing_orders(25):
        ran: list[str] = []
        wf = group_of("strict-all", failing, delays, ran, **options)
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("start", session_id="S")
        error = caught.value
        assert sorted(ran) == MEMBERS  # every member ran once; `after` never did
        assert error.failed_tasks == [("b", "b failed"), ("c", "c failed"), ("e", "e failed")], delays
        assert error.successful_tasks == ["a", "d", "f"]
        assert error.cancelled_tasks == []
        assert str(error.__cause__) == "b failed"
        assert [f["task_id"] for f in wf.last_run.groups[-1].failures] == ["b", "c", "e"]


@pytest.mark.timeout(60)
def test_quick_members_that_all_fail_are_all_listed():
    """The issue's case: a fan-out of quick tasks runs on the forking thread one member
    at a time; `a` failing first must not keep `b` and `c` from running."""
    ran: list[str] = []
    with workflow("quick") as wf:

        def member(member_id: str):
            @task(member_id)
            def body():
                ran.append(member_id)
                raise RuntimeError(f"{member_id} broke")

            return body

        group = parallel(member("a"), member("b"), member("c"))
    for _ in range(20):
        ran.clear()
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute(group.task_id)
        assert sorted(ran) == ["a", "b", "c"]
        assert caught.value.failed_tasks == [("a", "a broke"), ("b", "b broke"), ("c", "c broke")]
        assert caught.value.successful_tasks == []


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_critical_names_only_critical_members_that_failed_and_every_member_runs():
    for delays in finishing_orders(15):
        ran: list[str] = []
        policy = CriticalGroupPolicy(["e", "a", "b"])
        wf = group_of("critical", {"b", "c", "e"}, delays, ran, policy=policy)
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("start", session_id="S")
        error = caught.value
        assert sorted(ran) == MEMBERS
        assert error.failed_tasks == [("b", "b failed"), ("e", "e failed")]  # declaration order; c is optional
        assert error.successful_tasks == ["a", "d", "f"]
        assert str(error).startswith("Critical tasks failed: ['b', 'e'] in group ")


@pytest.mark.timeout(60)
def test_critical_with_fail_fast_never_names_a_cancelled_member_as_failed():
    ran: list[str] = []
    no_delay = dict.fromkeys(MEMBERS, 0.0)
    # a succeeds, b (optional) fails and stops the rest: critical d never runs
    wf = group_of("critical-ff", {"b"}, no_delay, ran, policy=CriticalGroupPolicy(["a", "d"]), fail_fast=True,
                  max_concurrency=1)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("start", session_id="S")
    error = caught.value
    assert ran == ["a", "b"]
    assert error.failed_tasks == []  # no critical member failed: d was cancelled
    assert error.cancelled_tasks == ["c", "d", "e", "f"]
    assert error.successful_tasks == ["a"]
    assert str(error).startswith("Critical tasks did not run: ['d'] in group ")

    ran.clear()
    # critical c fails and stops the rest: only c is named, the cancelled critical e is not
    wf = group_of("critical-ff2", {"c"}, no_delay, ran, policy=CriticalGroupPolicy(["c", "e"]), fail_fast=True,
                  max_concurrency=1)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("start", session_id="S")
    assert ran == ["a", "b", "c"]
    assert caught.value.failed_tasks == [("c", "c failed")]
    assert caught.value.successful_tasks == ["a", "b"]
    assert caught.value.cancelled_tasks == ["d", "e", "f"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("choice", [{"fail_fast": True}, {"policy": "fail_fast"}])
def test_fail_fast_stops_the_siblings_at_the_first_failure(choice):
    ran: list[str] = []
    wf = group_of("ff", {"b", "d"}, dict.fromkeys(MEMBERS, 0.0), ran, max_concurrency=1, **choice)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("start", session_id="S")
    assert ran == ["a", "b"]
    assert caught.value.failed_tasks == [("b", "b failed")]
    assert caught.value.cancelled_tasks == ["c", "d", "e", "f"]
    assert caught.value.successful_tasks == ["a"]


def test_fail_fast_must_be_a_bool():
    with workflow("ff-bad"):
        group = parallel(task("x")(lambda: 1), task("y")(lambda: 2))
        with pytest.raises(TypeError, match="fail_fast must be True or False, got"):
            group.with_execution(fail_fast="yes")


class AtMostOneFailure(GroupExecutionPolicy):
    """Written as graflow's documentation writes one: validate, partition, decide."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_group_finished(self, group_id, tasks, results, context):
        self._validate_group_results(group_id, tasks, results)
        successful, failed = self._partition_group_results(results)
        self.seen.append(({t.task_id for t in tasks}, successful, failed))
        if len(failed) > 1:
            raise ParallelGroupError(
                f"Too many task failures ({len(failed)} > 1)",
                group_id=group_id,
                failed_tasks=failed,
                successful_tasks=successful,
            )


@pytest.mark.timeout(60)
def test_a_graflow_style_custom_policy_sees_the_tasks_and_every_result():
    ran: list[str] = []
    policy = AtMostOneFailure()
    wf = group_of("custom", {"c", "f"}, dict.fromkeys(MEMBERS, 0.0), ran, policy=policy)
    with pytest.raises(ParallelGroupError, match=r"^Too many task failures \(2 > 1\)") as caught:
        wf.execute("start", session_id="S")
    assert policy.seen == [(set(MEMBERS), ["a", "b", "d", "e"], [("c", "c failed"), ("f", "f failed")])]
    assert caught.value.failed_tasks == [("c", "c failed"), ("f", "f failed")]
    assert policy.get_name() == "AtMostOneFailure"

    ran.clear()
    wf = group_of("custom-ok", {"c"}, dict.fromkeys(MEMBERS, 0.0), ran, policy=AtMostOneFailure())
    wf.execute("start", session_id="S")
    assert ran[-1] == "after"


@pytest.mark.timeout(60)
def test_a_subclass_overriding_validate_is_called_by_the_builtin_policy():
    class Audited(StrictGroupPolicy):
        calls: list[tuple] = []

        def _validate_group_results(self, group_id, tasks, results):
            self.calls.append((group_id, [t.task_id for t in tasks], list(results)))
            raise ParallelGroupError(f"audit refused {group_id}", group_id=group_id, failed_tasks=[],
                                     successful_tasks=list(results))

    ran: list[str] = []
    wf = group_of("audited", set(), dict.fromkeys(MEMBERS, 0.0), ran, policy=Audited())
    with pytest.raises(ParallelGroupError, match="audit refused ParallelGroup_1"):
        wf.execute("start", session_id="S")
    assert Audited.calls == [("ParallelGroup_1", MEMBERS, MEMBERS)]
    assert "after" not in ran


def test_validate_group_results_names_missing_and_unexpected_members():
    results = {"a": TaskResult("a", True), "z": TaskResult("z", False, "boom", status="failed")}
    with pytest.raises(ParallelGroupError) as caught:
        StrictGroupPolicy()._validate_group_results("G", ["a", "b"], results)
    assert str(caught.value) == (
        "Parallel group G result mismatch: missing results for tasks: ['b'], unexpected results for tasks: ['z']"
    )
    assert caught.value.successful_tasks == ["a"]
