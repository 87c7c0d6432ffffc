"""The human-input panel against its two-method interface (a fake), then bound to a
real paused run."""

from __future__ import annotations

from html import unescape

import pytest

from graflow_nb import task, workflow
from graflow_nb.notebook import HumanInputPanel, PendingInput, RunInputs

pytestmark = pytest.mark.timeout(60)


class FakeInputs:
    """pending_inputs() / resume(session_id, value), recording what was resumed."""

    def __init__(self, questions: list[tuple[str, str, str, list[str] | None]]):
        self.questions = list(questions)
        self.resumed: list[tuple[str, object]] = []

    def pending_inputs(self):
        return list(self.questions)

    def resume(self, session_id, value):
        if value == "explode":
            raise ValueError("not an answer")
        self.resumed.append((session_id, value))
        self.questions = [q for q in self.questions if q[0] != session_id]
        return f"{session_id} done"


QUESTIONS = [
    ("S_a", "Ship it?", "approve", None),
    ("S_b", "Why?", "text", None),
    ("S_c", "Which region?", "choice", ["eu", "us"]),
    ("S_d", "Which days?", "multi_selection", ["mon", "tue"]),
]


def test_one_form_per_waiting_session_of_the_right_kind():
    panel = HumanInputPanel(FakeInputs(QUESTIONS))
    assert list(panel.forms) == ["S_a", "S_b", "S_c", "S_d"]
    assert [f.kind for f in panel.forms.values()] == ["approve", "text", "choice", "multi_choice"]
    assert panel.forms["S_c"].field.options == ("eu", "us")
    assert "Ship it?" in panel.forms["S_a"].children[0].value


def test_submitting_resumes_that_session_only():
    source = FakeInputs(QUESTIONS)
    panel = HumanInputPanel(source)
    panel.forms["S_a"].approve_button.click()
    assert source.resumed == [("S_a", True)]
    assert list(panel.forms) == ["S_b", "S_c", "S_d"]
    assert "resumed S_a with True: result 'S_a done'" in unescape(panel.status.value)

    panel.forms["S_b"].field.value = "because"
    panel.forms["S_b"].submit_button.click()
    panel.forms["S_c"].field.value = "us"
    panel.forms["S_c"].submit_button.click()
    panel.forms["S_d"].field.value = ("tue",)
    panel.forms["S_d"].submit_button.click()
    assert source.resumed == [("S_a", True), ("S_b", "because"), ("S_c", "us"), ("S_d", ["tue"])]
    assert panel.forms == {}


def test_reject_and_a_refused_answer():
    source = FakeInputs([("S_a", "Ship it?", "approval", None), ("S_b", "Why?", "text", None)])
    panel = HumanInputPanel(source)
    panel.forms["S_a"].reject_button.click()
    assert source.resumed == [("S_a", False)]
    panel.forms["S_b"].field.value = "explode"
    panel.forms["S_b"].submit_button.click()
    assert "ValueError: not an answer" in unescape(panel.status.value) and list(panel.forms) == ["S_b"]


def test_a_paused_engine_run_through_run_inputs():
    with workflow("hil_panel") as wf:

        @task
        def fetch():
            return 1

        @task(inject_context=True)
        def approve(ctx):
            return ctx.request_approval("Ship it?")

        @task(inject_context=True)
        def region(ctx):
            return ctx.request_selection("Where?", ["eu", "us"])

        @task
        def store(approve, region):
            return (approve, region)

        fetch >> (approve | region) >> store

    paused = wf.execute("fetch", session_id="H")
    assert paused.status == "paused"
    source = RunInputs(paused)
    assert source.pending_inputs() == [
        PendingInput("H_approve", "Ship it?", "approval", None),
        PendingInput("H_region", "Where?", "selection", ["eu", "us"]),
    ]
    panel = HumanInputPanel(source)
    panel.forms["H_approve"].approve_button.click()
    assert list(panel.forms) == ["H_region"] and "still waiting for H_region" in unescape(panel.status.value)
    panel.forms["H_region"].field.value = "eu"
    panel.forms["H_region"].submit_button.click()
    assert panel.forms == {} and "result (True, 'eu')" in unescape(panel.status.value)
    assert wf.last_run.status == "succeeded"
