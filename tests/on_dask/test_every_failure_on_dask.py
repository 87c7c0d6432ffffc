"""On a Dask cluster a group reports its failures as on threads (issue 28, part 1):
every member runs, every failure is listed in declaration order whatever order the
members finish in on the workers, and fail_fast stays an explicit choice."""

from __future__ import annotations

import pytest
from distributed import Client

from graflow_nb import ParallelGroupError
from graflow_nb.core.handlers.group_policy import CriticalGroupPolicy
from tests.scenario.test_every_failure_reported import MEMBERS, finishing_orders, group_of


def on(client: Client, **options) -> dict:
    return {"backend": "dask", "backend_config": {"client": client}, **options}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_strict_on_dask_lists_every_failure_in_declaration_order_whatever_the_finishing_order(client):
    for delays in finishing_orders(8):
        wf = group_of("dask-strict", {"b", "c", "e"}, delays, None, **on(client))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("start", session_id="S")
        error = caught.value
        assert error.failed_tasks == [("b", "b failed"), ("c", "c failed"), ("e", "e failed")], delays
        assert error.successful_tasks == ["a", "d", "f"]
        assert error.cancelled_tasks == []
        run = wf.last_run
        assert {m: run.sessions[f"S_{m}"].state for m in MEMBERS} == {
            "a": "discarded", "b": "failed", "c": "failed", "d": "discarded", "e": "failed", "f": "discarded"
        }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_critical_on_dask_names_only_the_critical_members_that_failed(client):
    for delays in finishing_orders(4):
        wf = group_of("dask-critical", {"b", "c", "e"}, delays, None, **on(client, policy=CriticalGroupPolicy(["e", "a"])))
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("start", session_id="S")
        assert caught.value.failed_tasks == [("e", "e failed")]
        assert caught.value.successful_tasks == ["a", "d", "f"]


@pytest.mark.timeout(120)
def test_fail_fast_on_dask_cancels_the_members_not_started(client):
    wf = group_of("dask-ff", {"a"}, dict.fromkeys(MEMBERS, 0.0), None, **on(client, fail_fast=True, max_concurrency=1))
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("start", session_id="S")
    assert caught.value.failed_tasks == [("a", "a failed")]
    assert caught.value.cancelled_tasks == ["b", "c", "d", "e", "f"]
    assert caught.value.successful_tasks == []
