"""Timed attempts (``@task(timeout=...)``) run on reused threads, and the threads a
hung attempt keeps busy are bounded: past ``max_abandoned`` abandoned attempts alive
at once, a timed attempt is refused with ``AbandonedAttemptsLimitError`` naming the
hung ones, until one of them returns."""

from __future__ import annotations

import threading

import pytest
from reliability_kit import WAIT, Calls, must_wait, states

from graflow_nb import task, workflow
from graflow_nb.core.errors import AbandonedAttemptsLimitError, TaskTimeoutError
from graflow_nb.core.runtime import timed


@pytest.fixture
def attempts(monkeypatch):
    """A private set of timed-attempt threads for this test (abandoned attempts left by
    other tests must not count here), with a limit of 2."""
    own = timed.TimedAttempts(max_abandoned=2)
    monkeypatch.setattr(timed, "ATTEMPTS", own)
    return own


def test_sequential_timed_attempts_reuse_one_thread(attempts):
    calls = Calls()
    with workflow("reuse") as wf:
        chain = calls.task("t0", lambda: 0, timeout=WAIT)
        for i in range(1, 6):
            chain = chain >> calls.task(f"t{i}", lambda i=i: i, timeout=WAIT)
    assert wf.execute("t0", session_id="S") == 5
    assert attempts.threads_started == 1
    assert {calls.threads[f"t{i}"] for i in range(6)} == {"graflow-timed-attempt"}


def test_hung_attempts_are_bounded_and_the_limit_lifts_when_they_return(attempts):
    release = threading.Event()
    entered = threading.Semaphore(0)

    def hanging_workflow():
        with workflow("hang") as wf:

            @task(timeout=0.05)
            def hang():
                entered.release()
                must_wait(release, "the test to release the hung attempt")
                return "late"

        return wf

    for session in ("S1", "S2"):
        wf = hanging_workflow()
        with pytest.raises(TaskTimeoutError):
            wf.execute("hang", session_id=session)
        assert entered.acquire(timeout=WAIT)  # it really started, and is still running
    assert attempts.abandoned == 2
    wf = hanging_workflow()
    with pytest.raises(AbandonedAttemptsLimitError) as refused:
        wf.execute("hang", session_id="S3")
    assert str(refused.value) == (
        "task 'hang' in session 'S3' was not started: 2 timed-out attempts are still running on "
        "abandoned threads (the limit is 2): task 'hang' in session 'S1', task 'hang' in session 'S2'; "
        "make those tasks return (they can poll ctx.cancelled) or restart the kernel"
    )
    assert (refused.value.limit, refused.value.hung) == (2, ["task 'hang' in session 'S1'", "task 'hang' in session 'S2'"])
    assert (wf.last_run.status, states(wf.last_run)) == ("failed", {"S3": "failed"})
    assert attempts.threads_started == 2  # the refused attempt started no thread
    release.set()
    while attempts.abandoned:  # the two late attempts return on their own threads
        release.wait(0.001)
    with workflow("after") as wf:
        _ = task("quick", timeout=WAIT)(lambda: "ok")
    assert wf.execute("quick", session_id="S4") == "ok"
    assert attempts.threads_started == 2  # served by a thread the hung attempt gave back


def test_an_abandoned_attempt_sees_ctx_cancelled_even_when_the_run_goes_on(attempts):
    saw_cancelled = threading.Event()
    timed_out = threading.Event()
    with workflow("polite") as wf:

        @task(timeout=0.05, inject_context=True)
        def polite(ctx):
            must_wait(timed_out, "the timeout")
            if ctx.cancelled:
                saw_cancelled.set()

        _ = task("src")(lambda: None) >> (polite | task("other")(lambda: "o")).with_execution(policy="best_effort")
    wf.execute("src", session_id="P")
    assert wf.last_run.status == "succeeded"  # nothing else asked anyone to stop
    timed_out.set()
    must_wait(saw_cancelled, "the abandoned attempt to see ctx.cancelled")


def test_a_task_still_refused_is_not_retried(attempts):
    attempts.max_abandoned = 0
    calls = Calls()
    with workflow("refused") as wf:
        _ = calls.task("never", timeout=1.0, max_retries=2)
    with pytest.raises(AbandonedAttemptsLimitError):
        wf.execute("never", session_id="R")
    assert dict(calls.counts) == {}
    assert [t.status for t in wf.last_run.task_runs] == ["failed"]
