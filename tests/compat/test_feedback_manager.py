"""Human input as graflow programs use it: a task blocks in ``request_feedback(...,
timeout=N)`` until another thread answers through ``execution_context.feedback_manager``;
unanswered, its session pauses (our pause model) instead of graflow's timeout error."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from instruments import WAIT, EventWaiter

from graflow_nb import TaskExecutionContext, task, workflow
from graflow_nb.core.events import EventKind
from graflow_nb.core.feedback import FeedbackRequest, FeedbackResponse, FeedbackTimeoutError, FeedbackType
from graflow_nb.hitl import types
from graflow_nb.hitl.manager import FeedbackManager


def answering(waiter, answers, task_id):
    """A thread that waits until ``task_id`` asks, then answers through the manager."""
    done = {}

    def answer():
        event = waiter.wait_for(EventKind.INPUT_REQUESTED, task_id=task_id)
        manager = done["manager"]
        done["pending"] = manager.list_pending_requests()
        done["accepted"] = [manager.provide_feedback(event.data["key"], a) for a in answers]

    thread = threading.Thread(target=answer)
    return thread, done


def test_a_task_blocks_until_another_thread_answers_and_gets_that_very_response(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    waiter = EventWaiter()
    response = FeedbackResponse("?", FeedbackType.APPROVAL, approved=True, reason="looks fine", responded_by="ana")
    thread, done = answering(waiter, [response, FeedbackResponse("?", FeedbackType.APPROVAL, approved=False)], "ask")
    got = {}
    with workflow("blocking") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            done["manager"] = ctx.execution_context.feedback_manager
            thread.start()
            got["response"] = ctx.request_feedback(FeedbackType.APPROVAL, "Ship it?", metadata={"v": 2}, timeout=WAIT)
            return got["response"].approved

        @task
        def after(ask):
            return ("after", ask)

        ask >> after
        assert wf.execute("ask", session_id="B", observers=[waiter]) == ("after", True)
    thread.join()
    assert got["response"] is response  # reason, responded_by and all
    assert done["accepted"] == [True, False]  # a second answer to the same question is refused
    [request] = done["pending"]
    assert (request.feedback_id, request.task_id, request.session_id, request.feedback_type, request.prompt,
            request.metadata, request.status) == ("B/ask/1", "ask", "B", FeedbackType.APPROVAL, "Ship it?", {"v": 2},
                                                  "pending")
    assert wf.last_run.task_counts() == {"ask": 1, "after": 1}  # answered while waiting: never re-run
    assert list(tmp_path.iterdir()) == []  # no ./feedback_data/


def test_unanswered_within_the_timeout_the_session_pauses_and_a_late_answer_resumes_it():
    runs = []
    with workflow("late") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            runs.append("ask")
            return ctx.request_text_input("Name?", timeout=0.05)

        paused = wf.execute("ask", session_id="L")
    assert paused.status == "paused"
    manager = wf.last_run.root_context.feedback_manager
    [request] = manager.list_pending_requests()
    assert request.feedback_type == FeedbackType.TEXT and request.feedback_id == "L/ask/1"
    assert manager.provide_feedback("L/nope/1", "x") is False
    assert manager.provide_feedback("L/ask/1", FeedbackResponse("L/ask/1", FeedbackType.TEXT, text="Ada")) is True
    assert manager.list_pending_requests() == []
    assert paused.resume() == "Ada"
    assert runs == ["ask", "ask"]


def test_a_wrong_answer_is_refused_and_the_task_keeps_waiting():
    waiter = EventWaiter()
    outcome = {}
    with workflow("choice") as wf:

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext):
            outcome["manager"] = ctx.execution_context.feedback_manager
            return ctx.request_selection("Region?", ["eu", "us"], timeout=WAIT)

        def answer():
            event = waiter.wait_for(EventKind.INPUT_REQUESTED, task_id="pick")
            manager = outcome["manager"]
            with pytest.raises(ValueError, match=r"'mars' is not one of the options \['eu', 'us'\]"):
                manager.provide_feedback(event.data["key"], "mars")
            outcome["still"] = [r.feedback_id for r in manager.list_pending_requests()]
            outcome["ok"] = manager.provide_feedback(event.data["key"], "us")

        thread = threading.Thread(target=answer)
        thread.start()
        assert wf.execute("pick", session_id="C", observers=[waiter]) == "us"
        thread.join()
    assert outcome["still"] == ["C/pick/1"] and outcome["ok"] is True


def test_branches_wait_on_their_own_questions_and_a_session_filter_lists_one():
    waiter = EventWaiter()
    seen = {}
    with workflow("two") as wf:

        @task(inject_context=True)
        def a(ctx: TaskExecutionContext):
            seen["manager"] = ctx.execution_context.feedback_manager
            return ctx.request_text_input("a?", timeout=WAIT)

        @task(inject_context=True)
        def b(ctx: TaskExecutionContext):
            return ctx.request_text_input("b?", timeout=WAIT)

        @task
        def join(a, b):
            return a + b

        (a | b) >> join

        def answer():
            waiter.wait_for(EventKind.INPUT_REQUESTED, task_id="a")
            waiter.wait_for(EventKind.INPUT_REQUESTED, task_id="b")
            manager = seen["manager"]
            seen["all"] = [r.feedback_id for r in manager.list_pending_requests()]
            seen["only_b"] = [r.prompt for r in manager.list_pending_requests(session_id="T_b")]
            manager.provide_feedback("T_b/b/1", "B")
            manager.provide_feedback("T_a/a/1", "A")

        thread = threading.Thread(target=answer)
        thread.start()
        assert wf.execute("ParallelGroup_1", session_id="T", observers=[waiter]) == "AB"
        thread.join()
    assert seen["all"] == ["T_a/a/1", "T_b/b/1"] and seen["only_b"] == ["b?"]


def test_with_a_default_the_wait_ends_in_the_default_not_a_pause():
    with workflow("default") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            return ctx.request_approval("ok?", timeout=0.05, default=False)

        assert wf.execute("ask") is False
    assert wf.last_run.status == "succeeded"


def test_graflows_hitl_types_are_ours_and_behave_like_graflows():
    assert (types.FeedbackType, types.FeedbackResponse, types.FeedbackRequest) == (
        FeedbackType, FeedbackResponse, FeedbackRequest,
    )
    assert types.FeedbackTimeoutError is FeedbackTimeoutError
    assert [k.value for k in FeedbackType] == ["approval", "text", "selection", "multi_selection", "custom"]
    assert FeedbackType.APPROVAL == "approval" and FeedbackType("text") is FeedbackType.TEXT
    error = pickle.loads(pickle.dumps(FeedbackTimeoutError("f1", 5.0)))
    assert (str(error), error.feedback_id, error.timeout) == ("Feedback request f1 timed out after 5.0 seconds", "f1", 5.0)
    assert FeedbackResponse("x", FeedbackType.MULTI_SELECTION, selected_multiple=["a"]).value == ["a"]
    # when it was answered is not part of what was answered
    assert FeedbackResponse("x", "text", text="t", responded_at="now") == FeedbackResponse("x", "text", text="t")
    from graflow_nb.core.feedback_manager import FeedbackManager as defined

    assert FeedbackManager is defined  # graflow's hitl.manager path, one definition


def test_a_feedback_handler_hears_each_step_of_a_question_once():
    from graflow_nb.hitl.handler import FeedbackHandler

    heard = []

    class Notes(FeedbackHandler):
        def on_request_created(self, request):
            heard.append(("created", request.feedback_id, request.prompt))

        def on_request_timeout(self, request):
            heard.append(("timeout", request.feedback_id))

        def on_response_received(self, request, response):
            heard.append(("received", request.feedback_id, response.text))

    notes = Notes()
    with workflow("handled") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            return ctx.request_feedback("text", "Why?", timeout=0.05, handler=notes).text

        paused = wf.execute("ask", session_id="N")
        assert heard == [("created", "N/ask/1", "Why?"), ("timeout", "N/ask/1")]
        assert paused.resume("N", "because") == "because"
    assert heard[2:] == [("received", "N/ask/1", "because")]  # asked again on resume: not a new question


def test_a_broken_feedback_handler_is_reported_and_never_changes_the_run():
    from graflow_nb.core.events import ObserverWarning
    from graflow_nb.hitl.handler import FeedbackHandler

    class Broken(FeedbackHandler):
        def on_request_created(self, request):
            raise RuntimeError("webhook down")

    with workflow("broken-handler") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            return ctx.request_approval("ok?", timeout=0.05, default=True) and ctx.request_feedback(
                "approval", "sure?", timeout=0.05, default=False, handler=Broken()
            ).approved

        with pytest.warns(ObserverWarning, match="webhook down"):
            assert wf.execute("ask") is False
    assert wf.last_run.status == "succeeded" and len(wf.last_run.observer_errors) == 1


def test_with_a_checkpoint_dir_an_unanswered_question_saves_the_paused_run(tmp_path):
    """graflow checkpoints when a question times out; here the paused run is saved where
    ``execute(checkpoint_dir=...)`` says, and resumes from that file."""
    import json

    calls = []
    with workflow("ckpt-ask") as wf:

        @task
        def prepare():
            calls.append("prepare")
            return "draft"

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext, prepare):
            calls.append("ask")
            return ctx.request_text_input(f"ok {prepare}?", timeout=0.05)

        prepare >> ask
        paused = wf.execute("prepare", session_id="K", checkpoint_dir=tmp_path)
        assert paused.status == "paused"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["K.meta.json", "K.pkl", "K.state.json"]
        frontier = json.loads((tmp_path / "K.state.json").read_text())
        assert (frontier["status"], frontier["frontier"], frontier["pending"]) == (
            "paused", {"K": ["ask"]},
            [{"key": "K/ask/1", "session_id": "K", "task_id": "ask", "kind": "text", "prompt": "ok draft?"}],
        )
        assert wf.resume(tmp_path / "K.pkl", answers={"K": "yes"}) == "yes"
    assert calls == ["prepare", "ask", "ask"]  # prepare never ran again


def test_a_task_that_catches_graflows_timeout_falls_back_and_the_question_is_withdrawn():
    from graflow_nb.hitl.types import FeedbackTimeoutError as GraflowsTimeout

    caught = []
    with workflow("fallback") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            try:
                return ctx.request_feedback(FeedbackType.TEXT, "Name?", timeout=0.05).text
            except GraflowsTimeout as timeout:
                caught.append((timeout.feedback_id, timeout.timeout, str(timeout)))
                return "anonymous"

        @task
        def greet(ask):
            return f"hello {ask}"

        ask >> greet
        assert wf.execute("ask", session_id="F") == "hello anonymous"
    assert caught == [("F/ask/1", 0.05, "Feedback request F/ask/1 timed out after 0.05 seconds")]
    assert wf.last_run.status == "succeeded" and wf.last_run.pending_inputs() == []
    assert wf.last_run.root_context.feedback_manager.list_pending_requests() == []


ALIASED_TIMEOUT = """
import glob, json, os
import graflow_nb
graflow_nb.alias_graflow(announce=False)
from graflow.core.decorators import task
from graflow.core.workflow import workflow

def build():
    with workflow("review") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return "reviewed: " + ctx.request_text_input("Assess:", timeout=0.05)

        @task
        def publish(ask):
            return ask.upper()

        ask >> publish
    return wf

wf = build()
result = wf.execute("ask", session_id="R")
[path] = glob.glob(os.path.join("checkpoints", "R", "*.pkl"))
again = build().resume(path, answers={"R/ask/1": "fine"})
print(json.dumps({"result": result, "path": path, "status": wf.last_run.status, "again": again}))
"""


def test_under_the_alias_a_timed_out_question_checkpoints_where_graflow_does_and_execute_returns_none(tmp_path):
    """graflow's engine answers a feedback timeout with a checkpoint in
    ./checkpoints/<session>/ and returns None; under the alias (only) so does ours, and
    the checkpoint resumes with the answer.  Outside the alias the run pauses and
    nothing is written (the test above)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", ALIASED_TIMEOUT], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin",
                                                         "GRAFLOW_NB_SECRET_FILE": str(tmp_path / "secret")})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["result"] is None and report["status"] == "paused"
    folder, name = os.path.split(report["path"])
    assert folder == os.path.join("checkpoints", "R")
    assert re.fullmatch(r"session_R_step_\d+_\d+\.pkl", name)
    assert report["again"] == "REVIEWED: FINE"
