"""A newcomer's first analysis in JupyterLab, in a real Chromium: the things that got
in the way of the first trial (issue 29), each as a person sees it."""

from __future__ import annotations

import re

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


def test_a_busy_debugger_says_what_runs_disables_its_buttons_and_says_when_it_ends(open_notebook):
    page = open_notebook("busy.ipynb")
    run_all(page, "busy.ipynb")
    step = page.locator(".widget-button", has_text=re.compile(r"^step$")).first
    run_to_end = page.locator(".widget-button", has_text="run to end")
    status = page.locator(".widget-html", has_text="took").first
    expect()(step).to_be_enabled()
    step.click()
    expect()(page.get_by_text("B: ran load")).to_be_visible()
    step.click()  # the fork: B_fit and B_ridge held
    row = page.locator(".widget-hbox", has=page.locator("code", has_text="B_fit"))
    expect()(row.first).to_contain_text("held")
    row.locator(".widget-button", has_text=re.compile(r"^step$")).first.click()
    busy = page.locator(".graflow-busy")
    expect()(busy).to_contain_text("busy: running fit in B_fit (started ")
    expect()(row.first).to_contain_text("B_fit running fit")
    expect()(step).to_be_disabled()
    expect()(run_to_end).to_be_disabled()
    assert page.locator(".widget-button:not(:disabled)").count() == 0
    shot(page, "25-busy-debugger-while-fit-runs")
    expect()(status).to_contain_text("B_fit: ran fit")
    expect()(status).to_contain_text(re.compile(r"took [3-9]\.\d s"))
    expect()(busy).to_have_count(0)
    expect()(step).to_be_enabled()
    run_to_end.click()
    expect()(page.get_by_text("the run ended (succeeded), result (0.45, 0.1)")).to_be_visible()
    expect()(step).to_be_disabled()  # nothing left to step
    shot(page, "26-busy-debugger-ended")


FITS = """(cell) => {
    const area = cell.getBoundingClientRect();
    return Array.from(cell.querySelectorAll('img, svg')).filter((p) => !p.closest('svg') || p.matches(':scope > svg, div > svg'))
        .map((p) => { const box = p.getBoundingClientRect(); return [Math.round(box.width), Math.round(area.width), box.right <= area.right + 1]; });
}"""


def pictures_fit(output) -> list:
    return output.evaluate(FITS)


def test_wide_pictures_fit_the_output_width_in_every_frame(open_notebook):
    page = open_notebook("wide.ipynb")
    run_all(page, "wide.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")
    live = page.locator(".graflow-live svg")
    expect()(live).to_contain_text("W_cross_validate_ridge_regression (pending)")
    during = pictures_fit(cells.nth(0).locator(".jp-OutputArea").first)
    shot(page, "22-wide-live-frame")
    expect()(page.locator(".jp-Cell").nth(2).locator(".widget-button", has_text="step").first).to_be_visible()
    final = pictures_fit(cells.nth(0).locator(".jp-OutputArea").first)
    drawn = pictures_fit(cells.nth(1).locator(".jp-OutputArea").first)
    cells.nth(1).scroll_into_view_if_needed()
    shot(page, "23-wide-draw-run")
    debugger = pictures_fit(cells.nth(2).locator(".jp-OutputArea").first)
    # the held node's label inside its shape (a cds arrow drawn too small for two lines)
    held = cells.nth(2).locator("g.node", has=page.locator("text", has_text="held")).first
    inside = held.evaluate(
        "(node) => { const shape = node.querySelector('polygon, path').getBBox();"
        " return Array.from(node.querySelectorAll('text')).map((t) => { const b = t.getBBox();"
        " return [b.x >= shape.x - 0.5, b.x + b.width <= shape.x + shape.width + 0.5,"
        " b.y >= shape.y - 0.5, b.y + b.height <= shape.y + shape.height + 0.5]; }); }"
    )
    cells.nth(2).scroll_into_view_if_needed()
    shot(page, "24-wide-debugger")
    for name, boxes in (("live frame", during), ("final picture", final), ("draw_run", drawn), ("debugger", debugger)):
        assert boxes and all(fits for _w, _area, fits in boxes), (name, boxes)
    assert inside and all(all(edges) for edges in inside), inside
