"""``on_error`` of a parallel block, retries and the sequential-vs-parallel guarantee
(BEHAVIOURS 29, 31, 32, 33, 35, 56)."""

from __future__ import annotations

import pytest
from instruments import overlap, spans, wait_until
from steps_under_test import LOG, py

from graflow_nb import ParallelGroupError, RetryLimitExceededError
from graflow_nb.core.errors import GroupTimeoutError
from graflow_nb.pipeline import load_pipeline, run_summary


def block(*steps, **options) -> dict:
    return {"parallel": list(steps), **options}


def test_fail_fast_stops_unstarted_branches_and_keeps_the_error_type():
    """29: fail_fast, max_concurrency 1, branch 1 raises -> 2-4 never start, store never runs."""
    wf = load_pipeline(
        {"pipeline": [block(py("b1", "fail"), py("b2"), py("b3"), py("b4"), max_concurrency=1), py("store")]}
    )
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute(session_id="S")
    error = caught.value
    assert list(error.errors) == ["b1"]
    assert type(error.errors["b1"]) is ValueError
    assert error.cancelled_tasks == ["b2", "b3", "b4"]
    assert LOG.names() == ["b1"]
    assert run_summary(wf)["status"] == "failed"


def test_continue_runs_every_branch_and_successors_with_a_degraded_status():
    """31: 1 of 3 fails -> the other two finish, successors run, status degraded, errors listed."""
    wf = load_pipeline({"pipeline": [block(py("a"), py("b", "fail"), py("c"), on_error="continue"), py("store")]})
    wf.execute(session_id="S")
    assert sorted(LOG.names()) == ["a", "b", "c", "store"]
    summary = run_summary(wf)
    assert summary["status"] == "degraded"
    assert summary["errors"] == [{"task_id": "b", "session_id": "S_b", "error": "ValueError: b: boom"}]
    assert set(summary["results"]) == {"a", "c", "store"}


def test_ignore_is_an_alias_of_continue():
    wf = load_pipeline({"pipeline": [block(py("a"), py("b", "fail"), on_error="ignore"), py("store")]})
    wf.execute()
    assert LOG.count("store") == 1


def test_continue_with_every_branch_failing_fails_the_block():
    """32: nothing succeeded -> the block fails and successors do not run."""
    wf = load_pipeline({"pipeline": [block(py("a", "fail"), py("b", "fail"), on_error="continue"), py("store")]})
    with pytest.raises(ParallelGroupError, match="Every task failed in group ParallelGroup_1") as caught:
        wf.execute()
    assert list(caught.value.errors) == ["a", "b"]
    assert LOG.count("store") == 0


def undoing(step: dict, **params) -> dict:
    return {**step, "compensate": {"type": "python", "function": "steps_under_test:undo", "params": params}}


def test_rollback_compensates_the_succeeded_branch_once_then_raises():
    """33: a succeeds (has compensate), b fails -> a's compensation once, then the error; no successors."""
    wf = load_pipeline(
        {
            "pipeline": [
                block(
                    undoing(py("a", value="charge-1"), what="${a.value}"),
                    py("b", "fail", delay=0.05),
                    on_error="rollback",
                ),
                py("store"),
            ]
        }
    )
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute(session_id="S")
    assert list(caught.value.errors) == ["b"]
    assert [value for name, value in LOG.calls if name == "undo"] == ["charge-1"]
    compensations = [
        (tr.task_id, tr.session_id, tr.status) for tr in wf.last_run.task_runs if tr.task_id.endswith("compensate")
    ]
    assert compensations == [("a.compensate", "S_a", "succeeded")]
    assert LOG.count("store") == 0


def test_rollback_undoes_succeeded_branches_in_reverse_declaration_order():
    wf = load_pipeline(
        {
            "pipeline": [
                block(
                    undoing(py("a"), what="a"),
                    undoing(py("b"), what="b"),
                    py("c", "fail", delay=0.05),
                    undoing(py("d"), what="d"),
                    on_error="rollback",
                )
            ]
        }
    )
    with pytest.raises(ParallelGroupError):
        wf.execute()
    assert [value for name, value in LOG.calls if name == "undo"] == ["d", "b", "a"]


def test_rollback_with_no_failure_compensates_nothing():
    wf = load_pipeline({"pipeline": [block(undoing(py("a"), what="a"), py("b"), on_error="rollback"), py("store")]})
    wf.execute()
    assert LOG.count("undo") == 0 and LOG.count("store") == 1


def test_max_retries_counts_extra_attempts_in_that_branch_only():
    """35: max_retries 2, fails twice then succeeds -> 3 attempts, in its own branch."""
    flaky = {**py("f", "flaky", failures=2), "max_retries": 2}
    wf = load_pipeline({"pipeline": [block(flaky, py("other"))]})
    wf.execute(session_id="S")
    runs = [(tr.attempt, tr.session_id, tr.status) for tr in wf.last_run.task_runs if tr.task_id == "f"]
    assert runs == [(1, "S_f", "failed"), (2, "S_f", "failed"), (3, "S_f", "succeeded")]
    assert [tr.attempt for tr in wf.last_run.task_runs if tr.task_id == "other"] == [1]


def test_max_retries_exhausted_fails_with_the_last_error():
    wf = load_pipeline({"pipeline": [{**py("f", "flaky", failures=3), "max_retries": 1}]})
    with pytest.raises(RetryLimitExceededError, match="attempt 2 failed"):
        wf.execute()
    assert LOG.attempts == {"f": 2}


def test_retry_delay_waits_between_attempts():
    """The gap between one attempt's end and the next one's start, from the run record:
    a lower bound the engine guarantees (a busy machine only widens it)."""
    wf = load_pipeline({"pipeline": [{**py("f", "flaky", failures=2), "max_retries": 2, "retry_delay": 0.1}]})
    assert wf.execute() == {"attempt": 3}
    attempts = [tr for tr in wf.last_run.task_runs if tr.task_id == "f"]
    assert [(tr.attempt, tr.status) for tr in attempts] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    gaps = [later.start - earlier.end for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert min(gaps) >= 0.1, gaps


def test_block_timeout_fails_the_block_and_keeps_finished_results():
    """37 through a file: timeout 0.2 s; one branch is held until the run has given up."""
    wf = load_pipeline({"pipeline": [block(py("fast"), py("slow", "held"), timeout=0.2), py("store")]})
    with pytest.raises(GroupTimeoutError, match=r"timed out after 0\.2 s: slow had not finished \(finished: fast\)"):
        wf.execute(session_id="S")
    slow_inside = not LOG.finished("slow")
    LOG.release.set()
    assert slow_inside  # the block stopped waiting for slow; slow did not end it
    wait_until(lambda: LOG.finished("slow"), "the abandoned step to leave")  # before the next test resets LOG
    assert LOG.count("store") == 0
    assert wf.last_run.results()["fast"] == {"name": "fast", "value": None}
    assert "slow" not in wf.last_run.results()
    assert wf.last_run.status == "failed"


def test_sequential_and_parallel_runs_give_the_same_channel_and_results():
    """56: the same pipeline one branch at a time (Phase 1) and all at once (Phase 2)."""

    def document(max_concurrency: int | None) -> dict:
        inner = block(py("x1", value=1, delay=0.05), py("x2", value=2, delay=0.01), id="inner")
        # all at once, ``a`` stays until the inner block and the batch have started
        meet = [] if max_concurrency else ["x1", "square"]
        outer = block(
            py("a", value="${src.value}", delay=0.05, meet=meet),
            inner,
            {**py("each", "square", x="${item}", delay=0.02), "batch": {"items": [3, 1, 2], "parallel": True}},
            id="outer",
            **({"max_concurrency": max_concurrency} if max_concurrency else {}),
        )
        return {"pipeline": [py("src", value=7), outer, py("join", value="${a.value}+${x1.value}+${x2.value}")]}

    outcomes = []
    for limit in (1, None):
        LOG.reset()
        wf = load_pipeline(document(limit))
        result, ctx = wf.execute(session_id="S", ret_context=True)
        outcomes.append((result, ctx.channel.to_dict(), wf.last_run.execution_sequence(), wf.last_run))
    (seq_result, seq_channel, seq_order, seq_run), (par_result, par_channel, par_order, par_run) = outcomes
    assert seq_result == par_result == {"name": "join", "value": "7+1+2"}
    assert seq_channel == par_channel
    assert seq_order == par_order
    members = ["a", "inner", "each"]
    seq = spans(seq_run, members)
    assert sorted(members, key=lambda m: seq[m][0]) == members  # one at a time, in declared order
    assert not any(overlap(seq[m], seq[n]) for m, n in (("a", "inner"), ("a", "each"), ("inner", "each")))
    par = spans(par_run, members)
    assert overlap(par["a"], par["inner"]) and overlap(par["a"], par["each"])
