"""A run started with ``wf.start`` in JupyterLab, in a real Chromium: its cell ends, the
next cell runs, the run waits for input and shows its form in the starting cell, the
form's button is clicked (clickable because no cell is running) and the run completes
in the background, printing into the cell that started it.  See ``conftest`` for the server and the browser."""

from __future__ import annotations

import pytest

from .labkit import run_all, scenario, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

OUTPUT = ".jp-OutputArea-output"
NAME = "started.ipynb"

CELLS = (
    "from graflow_nb import task, workflow\n"
    "with workflow('approve_bg') as wf:\n"
    "    @task(inject_context=True)\n"
    "    def ask(ctx):\n"
    "        return ctx.request_approval('Ship it from the background?')\n"
    "    @task\n"
    "    def after(ask):\n"
    "        print('after ran', flush=True)\n"
    "        return 'shipped' if ask else 'held back'\n"
    "    ask >> after\n"
    "run = wf.start('ask', session_id='BG', live=True)\n",
    "print('the next cell ran')\n",
)


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_a_started_run_asks_in_its_cell_and_a_click_completes_it(lab, open_notebook):
    scenario(lab[2] / NAME, *CELLS)
    page = open_notebook(NAME)
    run_all(page, NAME)
    expect()(page.locator(OUTPUT, has_text="the next cell ran")).to_be_visible()
    status = page.locator(".graflow-started-run .graflow-run-status")
    expect()(status).to_have_text("run BG of 'approve_bg': paused, waiting for input in BG")
    expect()(page.locator(".graflow-started-run", has_text="Ship it from the background?")).to_be_visible()
    # both cells have ended: the kernel is idle while the run waits for the click
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
    )
    shot(page, "10-started-run-waiting-for-input")
    page.locator(".graflow-started-run .widget-button", has_text="approve").click()
    expect()(status).to_have_text("run BG of 'approve_bg': succeeded, result 'shipped'")
    panel = page.locator(".graflow-started-run")
    expect()(panel).to_contain_text("resumed BG with True: the run goes on in the background")
    expect()(panel).to_contain_text("live view of workflow 'approve_bg': the run ended (succeeded)")
    # the final picture, drawn into the panel, redrawn for the ended run
    expect()(panel.locator("svg").first).to_contain_text("run BG succeeded")
    expect()(panel.locator(".widget-button", has_text="cancel")).to_be_disabled()
    shot(page, "11-started-run-answered-completed")
    # what the run printed after the click, long after its cell ended, is in that cell
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect()(cells.nth(0).locator(OUTPUT, has_text="after ran")).to_be_visible()
    assert page.locator(OUTPUT, has_text="after ran").count() == 1
