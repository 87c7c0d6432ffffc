"""What a person sees in JupyterLab 4, in a real Chromium: pictures in saved,
untrusted notebooks; a live run; the debugger's buttons; the human-input form; the
dark theme.  See ``conftest`` for the server and the browser."""

from __future__ import annotations

import json
import re
import time

import pytest

from .labkit import SHOTS, run_all, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

OUTPUT = ".jp-OutputArea-output"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def stored_pictures(lab, name: str) -> int:
    """How many outputs of the saved notebook carry a picture (an image/png)."""
    notebook = json.loads((lab[2] / name).read_text())
    return sum("image/png" in out.get("data", {}) for c in notebook["cells"] for out in c.get("outputs", []))


def test_an_untrusted_teaching_notebook_shows_its_pictures(lab, open_notebook):
    page = open_notebook("01_quickstart.ipynb")
    pictures = page.locator(f"{OUTPUT} img[src^='data:image/png']")
    expect()(pictures.first).to_be_visible()
    assert stored_pictures(lab, "01_quickstart.ipynb") >= 3
    expect()(pictures).to_have_count(stored_pictures(lab, "01_quickstart.ipynb"))
    # untrusted: the stored SVG is not what shows, and no picture falls back to a repr
    assert page.locator(f"{OUTPUT} svg").count() == 0
    texts = page.locator(f"{OUTPUT} pre").all_inner_texts()
    assert not [t for t in texts if "<Render" in t]
    box = pictures.first.bounding_box()
    assert box["width"] > 100 and box["height"] > 50
    pictures.first.scroll_into_view_if_needed()
    shot(page, "01-untrusted-quickstart-pictures")


def test_a_live_run_redraws_while_it_runs_and_leaves_its_picture(open_notebook):
    """While head runs, the frame already holds both branch clusters (pending); the
    drawing then changes (the branches open, merge); at the end the live area says the
    run ended and the final picture of the succeeded run stays below it."""
    page = open_notebook("live.ipynb")
    run_all(page, "live.ipynb")
    live = page.locator(".graflow-live")
    drawing = live.locator("svg")
    expect()(live.locator("div").first).to_contain_text("1 running")
    expect()(drawing).to_contain_text("L_left (pending)")
    expect()(drawing).to_contain_text("L_right (pending)")
    first = drawing.inner_html()
    shot(page, "02-live-run-in-progress")
    expect()(drawing).to_contain_text("L_left (open)")  # redrawn while it runs
    assert drawing.inner_html() != first
    note = "live view of workflow 'slowrun': the run ended (succeeded); its final picture is below"
    expect()(live).to_have_text(note)
    final = page.locator(f"{OUTPUT} svg, {OUTPUT} img").last
    expect()(final).to_have_attribute("src", re.compile(r"run%20L%20succeeded"))
    expect()(page.locator(OUTPUT, has_text="slowrun: succeeded, 4 tasks in 3 sessions, result None")).to_be_visible()
    final.scroll_into_view_if_needed()
    shot(page, "03-live-run-ended-final-picture")


def test_the_debuggers_step_button_moves_the_held_session(open_notebook):
    page = open_notebook("debugger.ipynb")
    run_all(page, "debugger.ipynb")
    rows = page.locator(".widget-hbox", has=page.locator("code", has_text="4821"))
    expect()(page.get_by_text("before fetch").first).to_be_visible()
    step = page.locator(".widget-button", has_text=re.compile(r"^step$")).first
    shot(page, "04-debugger-held-before-fetch")
    step.click()
    expect()(page.get_by_text("4821: ran fetch").first).to_be_visible()
    expect()(page.get_by_text("before ParallelGroup_1").first).to_be_visible()
    step.click()
    expect()(rows.filter(has_text="4821_transform_a").first).to_contain_text("held")
    expect()(rows.filter(has_text="4821_transform_b").first).to_contain_text("held")
    expect()(page.locator(".graflow-gv svg text", has_text="held").first).to_be_visible()
    shot(page, "05-debugger-after-two-steps-branches-held")


def test_answering_the_form_redraws_what_said_paused(open_notebook):
    page = open_notebook("asking.ipynb")
    run_all(page, "asking.ipynb")
    summary = page.locator(OUTPUT, has_text="asking: paused, waiting for input in Q")
    expect()(summary).to_be_visible()
    approve = page.locator(".widget-button", has_text="approve")
    expect()(approve).to_be_visible()
    # JupyterLab draws an SVG output as an <img> of a data URI: its text is in the src
    picture = page.locator(f"{OUTPUT} img").first
    expect()(picture).to_have_attribute("src", re.compile(r"run%20Q%20paused"))
    shot(page, "06-human-input-paused")
    approve.click()
    expect()(page.locator(OUTPUT, has_text="asking: succeeded, 2 tasks in 1 sessions, result 'shipped'")).to_be_visible()
    expect()(page.locator(OUTPUT, has_text="paused, waiting")).to_have_count(0)
    expect()(page.get_by_text("resumed Q with True: result 'shipped'")).to_be_visible()
    # the picture above the form was redrawn in place: still one picture, now of the ended run
    expect()(picture).to_have_attribute("src", re.compile(r"run%20Q%20succeeded"))
    assert page.locator(f"{OUTPUT} img").count() == 1
    shot(page, "07-human-input-answered-redrawn")


def test_interrupting_a_long_task_answers_at_once_and_the_next_cell_runs(open_notebook):
    """The task would spin for 60 s; after the interrupt the cell says what it stops,
    ends (the next cell's output appears) and the task never reaches its own end."""
    page = open_notebook("interrupt.ipynb")
    run_all(page, "interrupt.ipynb")
    expect()(page.locator(OUTPUT, has_text="spinning")).to_be_visible()
    asked = time.monotonic()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:interrupt-kernel'); }")
    expect()(page.locator(OUTPUT, has_text="forever: stopping run I; waiting for")).to_be_visible()
    answered = time.monotonic() - asked
    expect()(page.locator(OUTPUT, has_text="the next cell ran")).to_be_visible()
    finished = time.monotonic() - asked
    expect()(page.locator(OUTPUT, has_text="forever: interrupted")).to_be_visible()
    assert page.locator(OUTPUT, has_text="the long task ended by itself").count() == 0
    shot(page, "09-interrupted-long-task-next-cell-ran")
    # For a person to read (never asserted: a loaded machine is slow, not wrong).
    (SHOTS / "interrupt-timings.json").write_text(
        json.dumps({"message_shown_after_s": round(answered, 2), "next_cell_done_after_s": round(finished, 2)})
    )


def test_dark_theme_pictures_keep_a_light_background(open_notebook):
    page = open_notebook("02_diamond_problem.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    expect()(page.locator("body[data-jp-theme-name='JupyterLab Dark']")).to_be_attached()
    picture = page.locator(f"{OUTPUT} img[src^='data:image/png']").first
    expect()(picture).to_be_visible()
    corner = page.evaluate(
        "(img) => { const c = document.createElement('canvas'); c.width = img.naturalWidth;"
        " c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
        " return Array.from(g.getImageData(2, 2, 1, 1).data); }",
        picture.element_handle(),
    )
    assert corner == [255, 255, 255, 255]  # an opaque white page under dark ink
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"  # the theme really is dark around it
    picture.scroll_into_view_if_needed()
    shot(page, "08-dark-theme-diamond")
