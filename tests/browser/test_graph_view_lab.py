"""GraphView in JupyterLab 4, in a real Chromium: hover, click, the debugger in the
picture, a live run repainted in place, no `dot`, no request off the machine, the
dark theme, a reloaded page.  See ``conftest`` for the server and the browser."""

from __future__ import annotations

import re

import pytest

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
