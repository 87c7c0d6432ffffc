"""``HumanInputPanel`` on a real paused run: every question kind a task can ask
(approval, text, selection, multi-selection, a ``request_feedback`` of its own kind)
answered through the panel's widgets, the run resumed by the clicks, and what each task
received, how often it ran and the run's end checked exactly."""

from __future__ import annotations

from html import unescape

import pytest

from graflow_nb import task, workflow
from graflow_nb.core.feedback import FeedbackResponse
from graflow_nb.notebook import HumanInputPanel, PendingInput, RunInputs

pytestmark = pytest.mark.timeout(60)


def asking_workflow():
    """fetch >> (approve | note | region | days | extra) >> store; each member asks one
    question of a different kind and returns what it received."""
    calls: dict[str, int] = {}

    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    with workflow("asking") as wf:
        @task
        def fetch():
            count("fetch")
            return 1

        @task(inject_context=True)
        def approve(ctx):
            count("approve")
            return ctx.request_approval("Ship it?")

        @task(inject_context=True)
        def note(ctx):
            count("note")
            return ctx.request_text_input("Release note?")

        @task(inject_context=True)
        def region(ctx):
            count("region")
            return ctx.request_selection("Which region?", ["eu", "us", "ap"])

        @task(inject_context=True)
        def days(ctx):
            count("days")
            return ctx.request_feedback("multi_selection", "Which days?", ["mon", "tue", "wed"]).selected_multiple

        @task(inject_context=True)
        def extra(ctx):
            count("extra")
            return ctx.request_feedback("custom", "Anything else?", metadata={"form": "free"})

        @task
        def store(approve, note, region, days, extra):
            count("store")
            return {"approve": approve, "note": note, "region": region, "days": days, "extra": extra.custom_data}

        fetch >> (approve | note | region | days | extra) >> store
    return wf, calls


def status(panel: HumanInputPanel) -> str:
    return unescape(panel.status.value)


def test_every_question_kind_answered_through_the_panel_resumes_the_run():
    wf, calls = asking_workflow()
    paused = wf.execute("fetch", session_id="H")
    assert paused.status == "paused"
    assert calls == {"fetch": 1, "approve": 1, "note": 1, "region": 1, "days": 1, "extra": 1}

    panel = HumanInputPanel(RunInputs(paused))
    assert RunInputs(paused).pending_inputs() == [
        PendingInput("H_approve", "Ship it?", "approval", None),
        PendingInput("H_note", "Release note?", "text", None),
        PendingInput("H_region", "Which region?", "selection", ["eu", "us", "ap"]),
        PendingInput("H_days", "Which days?", "multi_selection", ["mon", "tue", "wed"]),
        PendingInput("H_extra", "Anything else?", "custom", None),
    ]
    forms = panel.forms
    assert [(sid, f.kind) for sid, f in forms.items()] == [
        ("H_approve", "approve"), ("H_note", "text"), ("H_region", "choice"),
        ("H_days", "multi_choice"), ("H_extra", "text"),
    ]
    assert forms["H_region"].field.options == ("eu", "us", "ap") and forms["H_region"].field.value == "eu"
    assert forms["H_days"].field.options == ("mon", "tue", "wed")

    forms["H_approve"].approve_button.click()
    assert status(panel) == "resumed H_approve with True: still waiting for H_days, H_extra, H_note, H_region"
    assert list(panel.forms) == ["H_note", "H_region", "H_days", "H_extra"]

    panel.forms["H_note"].field.value = "fixes <b>&amp; 'quotes'"
    panel.forms["H_note"].submit_button.click()
    panel.forms["H_region"].field.value = "ap"
    panel.forms["H_region"].submit_button.click()
    panel.forms["H_days"].field.value = ("mon", "wed")
    panel.forms["H_days"].submit_button.click()
    assert list(panel.forms) == ["H_extra"]
    assert status(panel) == "resumed H_days with ['mon', 'wed']: still waiting for H_extra"

    panel.forms["H_extra"].field.value = "ship on a quiet day"
    panel.forms["H_extra"].submit_button.click()

    expected = {
        "approve": True,
        "note": "fixes <b>&amp; 'quotes'",
        "region": "ap",
        "days": ["mon", "wed"],
        "extra": "ship on a quiet day",
    }
    assert panel.forms == {}
    run = wf.last_run
    assert run.status == "succeeded" and run.result == expected
    # each asking task ran again from its start to receive the answer; nothing else re-ran
    assert calls == {"fetch": 1, "approve": 2, "note": 2, "region": 2, "days": 2, "extra": 2, "store": 1}
    results = run.results()
    assert {k: results[k] for k in ("approve", "note", "region", "days")} == {
        k: expected[k] for k in ("approve", "note", "region", "days")
    }
    assert results["extra"] == FeedbackResponse("H_extra/extra/1", "custom", custom_data="ship on a quiet day")
    assert run.pending_inputs() == []
    assert {sid: run.sessions[sid].state for sid in ("H", "H_approve", "H_extra")} == {
        "H": "closed", "H_approve": "merged", "H_extra": "merged",
    }


def test_reject_reaches_the_task_and_a_wrong_choice_is_refused_without_losing_the_question():
    wf, calls = asking_workflow()
    paused = wf.execute("fetch", session_id="R")
    panel = HumanInputPanel(RunInputs(paused))

    panel.forms["R_region"].field.options = ["eu", "us", "ap", "mars"]  # a choice the task never offered
    panel.forms["R_region"].field.value = "mars"
    panel.forms["R_region"].submit_button.click()
    assert status(panel) == (
        "<span style='color:#b00'>ValueError: R_region/region/1: 'mars' is not one of the options "
        "['eu', 'us', 'ap']</span>"
    )
    assert list(panel.forms) == ["R_approve", "R_note", "R_region", "R_days", "R_extra"]
    assert wf.last_run.status == "paused" and calls["region"] == 1

    panel.forms["R_approve"].reject_button.click()
    for session_id, value in (("R_note", ""), ("R_region", "us"), ("R_days", ()), ("R_extra", "no")):
        panel.forms[session_id].field.value = value
        panel.forms[session_id].submit_button.click()
    run = wf.last_run
    assert run.status == "succeeded"
    assert run.result == {"approve": False, "note": "", "region": "us", "days": [], "extra": "no"}
    assert calls == {"fetch": 1, "approve": 2, "note": 2, "region": 2, "days": 2, "extra": 2, "store": 1}


def test_the_panel_takes_what_execute_returned_and_a_failed_resume_names_the_task_with_its_traceback():
    calls = []
    with workflow("approve") as wf:
        @task(inject_context=True)
        def ask(ctx):
            calls.append("ask")
            return ctx.request_approval("Publish?")

        @task
        def report(ask):
            calls.append("report")
            raise ValueError("the template is missing")

        ask >> report

    paused = wf.execute("ask", session_id="P")
    panel = HumanInputPanel(paused)  # the PausedRun itself, no adapter
    assert list(panel.forms) == ["P"]
    panel.forms["P"].approve_button.click()
    shown = status(panel)
    assert shown.startswith(
        "<div style='color:#b00' class='graflow-failure'>task 'report' failed in session 'P': "
        "ValueError: the template is missing</div>"
    )
    assert 'raise ValueError("the template is missing")' in shown
    assert "[graflow_nb] raised by task 'report' in session 'P'" in shown
    assert "graflow_nb/core" not in shown and "human_input.py" not in shown
    assert calls == ["ask", "ask", "report"] and wf.last_run.status == "failed"
    assert HumanInputPanel(wf.last_run).forms == {}  # a Run is taken as it is, too
