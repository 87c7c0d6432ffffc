"""A newcomer's first analysis in JupyterLab, in a real Chromium: the things that got
in the way of the first trial (issue 29), each as a person sees it."""

from __future__ import annotations

import pytest

from .labkit import run_all, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

OUTPUT = ".jp-OutputArea-output"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_a_paused_run_ending_a_plain_cell_shows_a_form_and_a_failed_resume_names_its_task(open_notebook):
    page = open_notebook("plain_asking.ipynb")
    run_all(page, "plain_asking.ipynb")
    expect()(page.get_by_text("P asks: Publish the report?")).to_be_visible()
    approve = page.locator(".widget-button", has_text="approve")
    expect()(approve).to_be_visible()
    shot(page, "20-plain-execute-paused-form")
    approve.click()
    failure = page.locator(".graflow-failure")
    expect()(failure).to_have_text(
        "task 'report' failed in session 'P': ValueError: the report template is missing"
    )
    frames = page.locator(".graflow-traceback")
    expect()(frames).to_contain_text("raise ValueError('the report template is missing')")
    expect()(frames).to_contain_text("[graflow_nb] raised by task 'report' in session 'P'")
    assert "graflow_nb/core" not in frames.inner_text()
    expect()(page.get_by_text("nothing is waiting for input")).to_have_count(0)
    shot(page, "21-plain-execute-resumed-run-failed")
