"""GraphView in JupyterLab 4, in a real Chromium: hover, click, the debugger in the
picture, a live run repainted in place, no `dot`, no request off the machine, the
dark theme, a reloaded page.  See ``conftest`` for the server and the browser."""

from __future__ import annotations

import re

import pytest

from .conftest import _api
from .labkit import run_all, scenario, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

VIEW = ".graflow-gv"

TOUCH = (
    "from graflow_nb import task, workflow, GraphView\n"
    "from graflow_nb.observe import capture_output\n"
    "with workflow('touch') as wf:\n"
    "    @task\n"
    "    def fetch():\n"
    "        print('fetched 3 rows')\n"
    "        return {'rows': 3}\n"
    "    @task\n"
    "    def double(fetch):\n"
    "        print('doubling', fetch['rows'])\n"
    "        return fetch['rows'] * 2\n"
    "    @task\n"
    "    def other(): return 'x'\n"
    "    fetch >> (double | other)\n"
    "capture_output(wf)\n"
    "wf.execute(session_id='G')\n"
    "GraphView(wf, wf.last_run, sessions=True)\n"
)


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def node(page, name: str):
    return page.locator(f"{VIEW} g.node").filter(has=page.locator("title", has_text=re.compile(f"^{re.escape(name)}$")))


@pytest.fixture(scope="module")
def notebooks(lab):
    folder = lab[2]
    scenario(folder / "touch.ipynb", TOUCH)
    return folder


def test_hover_shows_the_tip_and_a_click_opens_the_inspector(lab, notebooks, open_notebook):
    base = lab[0]
    page = open_notebook("touch.ipynb")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    run_all(page, "touch.ipynb")
    double = node(page, "double")
    expect()(double).to_be_visible()
    double.hover()
    tip = page.locator(f"{VIEW} .graflow-gv-tip")
    expect()(tip).to_be_visible()
    expect()(tip).to_contain_text("state: succeeded")
    expect()(tip).to_contain_text("session: G_double")
    expect()(tip).to_contain_text("result: 6")
    shot(page, "gv-01-hover")
    double.click()
    panel = page.locator(f"{VIEW} .graflow-gv-panel")
    expect()(panel).to_contain_text("doubling 3")
    expect()(panel).to_contain_text("output [session G_double]")
    expect()(panel).to_contain_text("fetch")
    expect()(panel.locator("code", has_text="{'rows': 3}")).to_be_visible()
    expect()(panel).to_contain_text("result: 6")
    assert "fetched 3 rows" not in panel.inner_text()
    shot(page, "gv-02-inspector")
    session = node(page, "sessions/G")
    session.hover()
    expect()(tip).to_contain_text("ran fetch, ParallelGroup_1")
    session.click()
    expect()(panel).to_contain_text("session G")
    expect()(panel).to_contain_text("fetch.__result__")
    off = [url for url in requests if not url.startswith((base, "blob:", "data:"))]
    assert off == []


LIVE = (
    "import time\n"
    "from graflow_nb import task, workflow\n"
    "with workflow('liveg') as wf:\n"
    "    @task\n"
    "    def head(): time.sleep(1.0)\n"
    "    @task\n"
    "    def left(): time.sleep(1.0)\n"
    "    @task\n"
    "    def right(): time.sleep(4.0)\n"
    "    @task\n"
    "    def tail(): return 'done'\n"
    "    head >> (left | right) >> tail\n"
    "wf.execute('head', session_id='L', live=True)\n"
)

DEBUG = (
    "from graflow_nb import task, workflow, DebuggerWidget\n"
    "with workflow('stepped') as wf:\n"
    "    @task\n"
    "    def fetch(): return 1\n"
    "    @task\n"
    "    def double(fetch): return fetch * 2\n"
    "    fetch >> double\n"
    "DebuggerWidget(wf.debug('fetch', session_id='D'))\n"
)

NO_DOT = (
    "import os, shutil\n"
    "os.environ['PATH'] = '/nonexistent'\n"
    "assert shutil.which('dot') is None\n"
    "from graflow_nb import task, workflow, GraphView\n"
    "with workflow('nodot') as wf:\n"
    "    @task\n"
    "    def alpha(): return 1\n"
    "    @task\n"
    "    def omega(): return 2\n"
    "    alpha >> omega\n"
    "wf.execute(session_id='N')\n"
    "GraphView(wf, wf.last_run)\n"
)


def state_of(page, name: str) -> str:
    return node(page, name).first.get_attribute("data-state")


def test_a_live_run_repaints_states_in_place(lab, notebooks, open_notebook):
    scenario(notebooks / "liveg.ipynb", LIVE)
    page = open_notebook("liveg.ipynb")
    run_all(page, "liveg.ipynb")
    left = node(page, "left").first
    expect()(left).to_have_attribute("data-state", "running")
    svg = page.locator(f"{VIEW} svg").first
    svg.evaluate("(el) => { el.dataset.marker = 'kept'; }")
    shot(page, "gv-03-live-left-running")
    expect()(left).to_have_attribute("data-state", "succeeded")  # right still runs: no new session
    assert state_of(page, "right") == "running"
    assert svg.get_attribute("data-marker") == "kept"  # the same layout, repainted
    expect()(page.locator(f"{VIEW} .graflow-gv-progress").first).to_contain_text("1 running")
    note = "live view of workflow 'liveg': the run ended (succeeded); its final picture is below"
    expect()(page.get_by_text(note)).to_be_visible()
    final = page.locator(VIEW).last
    expect()(node(page, "tail").last).to_have_attribute("data-state", "succeeded")
    expect()(final.locator(".graflow-gv-progress")).to_contain_text("4/4 tasks done")
    shot(page, "gv-04-live-ended")


def test_clicking_a_held_node_in_the_debugger_steps_it(lab, notebooks, open_notebook):
    scenario(notebooks / "gvdebug.ipynb", DEBUG)
    page = open_notebook("gvdebug.ipynb")
    run_all(page, "gvdebug.ipynb")
    fetch = node(page, "fetch").first
    expect()(fetch).to_have_attribute("data-state", "held")
    fetch.click()
    expect()(page.get_by_text("D: ran fetch").first).to_be_visible()
    expect()(node(page, "double").first).to_have_attribute("data-state", "held")
    node(page, "double").first.click(modifiers=["Shift"])
    expect()(page.get_by_text("breakpoint before double on")).to_be_visible()
    expect()(page.locator(f"{VIEW} g.graflow-gv-breakpoint")).to_have_count(1)
    shot(page, "gv-05-debugger-breakpoint")
    node(page, "double").first.click()
    expect()(page.get_by_text("D: ran double").first).to_be_visible()
    expect()(node(page, "double").first).to_have_attribute("data-state", "succeeded")


def test_without_dot_the_browser_draws_and_its_svg_is_saved(lab, notebooks, open_notebook):
    scenario(notebooks / "nodot.ipynb", NO_DOT)
    page = open_notebook("nodot.ipynb")
    run_all(page, "nodot.ipynb")
    expect()(node(page, "omega").first).to_have_attribute("data-state", "succeeded")
    shot(page, "gv-06-no-dot")
    # the browser's SVG went back to the kernel and is now the output's static picture
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; const cell = w.content.widgets[0];"
        " return cell.model.outputs.toJSON().some((o) => o.data && o.data['image/svg+xml']); }"
    )
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    import json

    saved = json.loads((notebooks / "nodot.ipynb").read_text())
    picture, widget = saved["cells"][0]["outputs"]
    assert "omega" in "".join(picture["data"]["image/svg+xml"]) and "image/png" not in picture["data"]
    assert "application/vnd.jupyter.widget-view+json" in widget["data"]
    # while the widget shows, the static picture above it is hidden
    expect()(page.locator(".jp-OutputArea-output img")).to_have_count(1)
    expect()(page.locator(".jp-OutputArea-output img").first).to_be_hidden()
    page.reload()
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # the kernel still runs: the widget comes back (and the picture stays hidden)
    expect()(node(page, "omega").first).to_be_visible()
    shot(page, "gv-07-reloaded")


def test_a_reopened_notebook_without_its_kernel_shows_the_saved_picture(lab, notebooks, open_notebook):
    scenario(notebooks / "reopen.ipynb", TOUCH)
    page = open_notebook("reopen.ipynb")
    run_all(page, "reopen.ipynb")
    expect()(node(page, "double").first).to_be_visible()
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    base, token, _ = lab
    for session in _api(base, token, "GET", "/api/sessions"):  # the kernel is gone
        _api(base, token, "DELETE", f"/api/sessions/{session['id']}")
    page = open_notebook("reopen.ipynb")  # a new page and a new kernel, which never made that widget
    picture = page.locator(".jp-OutputArea-output img").first
    expect()(picture).to_be_visible()
    box = picture.bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    shot(page, "gv-09-reopened-without-kernel")


def test_the_dark_theme_keeps_the_graph_readable(lab, notebooks, open_notebook):
    page = open_notebook("touch.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    expect()(page.locator("body[data-jp-theme-name='JupyterLab Dark']")).to_be_attached()
    run_all(page, "touch.ipynb")
    double = node(page, "double").first
    expect()(double).to_be_visible()
    backdrop = page.locator(f"{VIEW} .graflow-gv-viewport").first.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert backdrop == "rgb(255, 255, 255)"  # dark ink on the pale fills, on white
    ink = double.locator("text").first.evaluate("(el) => getComputedStyle(el).fill")
    assert ink in ("rgb(0, 0, 0)", "#000000")
    double.hover()
    tip = page.locator(f"{VIEW} .graflow-gv-tip")
    expect()(tip).to_be_visible()
    colours = tip.evaluate("(el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert colours[0] != colours[1]
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    shot(page, "gv-08-dark")
