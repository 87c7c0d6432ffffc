"""A teaching notebook run top to bottom in the JupyterLite site, in headless Chromium,
with nothing fetched from outside this machine.

The site ``make lite-site`` builds (``conftest.site``) is served as static files by
``python -m http.server`` on 127.0.0.1; every request to anything else is aborted and
recorded, and the test asserts there was none: the Pyodide runtime, the kernel's
packages and graflow_nb with its pure-Python dependencies all come from the site.
Notebook 1 (a diamond with its branch sessions, the session tree, the pictures and the
``%%graflow`` magic) runs in the Pyodide kernel: its first cell installs graflow_nb
from the site's index, the rest are the notebook unchanged.  Its pictures have no
``dot`` there: the GraphView widget lays them out in the browser, and their static
outputs then carry the browser's SVG.  A cell the test adds at the end runs the diamond
with the live view (``live=True``), drawn by the widget at task boundaries (no thread).

The site's ``jupyter-lite.json`` gets ``exposeAppInBrowser`` (in the test's copy only)
so the test can read the notebook's model; every wait is on page state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser.labkit import SHOTS, chromium_path, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOK = "01_quickstart.ipynb"
# Bounds for a loaded machine (two cores shared); each wait ends as soon as the page agrees.
KERNEL_READY_MS = 240_000
RUN_ALL_MS = 300_000
LIVE_CELL = 'live = wf.execute("fetch", session_id="L", live=True)\nprint("live result", live)'
CODE_CELLS = "window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code')"


@pytest.fixture(scope="module")
def served(site: Path):
    """The base URL of the site, served on 127.0.0.1 until the module's tests end."""
    config_path = site / "jupyter-lite.json"
    config = json.loads(config_path.read_text())
    config["jupyter-config-data"]["exposeAppInBrowser"] = True
    config_path.write_text(json.dumps(config))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/jupyter-lite.json", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the site's server on {base} did not answer", pytrace=False)
                time.sleep(0.2)  # poll again: the server is not listening yet
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def ran(served: str) -> dict:
    """Open notebook 1 in the site, run all its cells, and report what the page holds."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})

            def local_only(route) -> None:
                url = route.request.url
                if url.startswith((served + "/", "blob:", "data:")):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            context.route("**/*", local_only)
            page = context.new_page()
            page.goto(f"{served}/lab/index.html?path={NOTEBOOK}")
            _wait(page, outside, "the Pyodide kernel to start",
                "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " return w && w.context && w.context.path === name && w.sessionContext.session"
                " && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected'; }",
                NOTEBOOK, KERNEL_READY_MS,
            )
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            # Done when every code cell has run, or one failed (run-all stops there).
            _wait(page, outside, "every cell to run",
                f"() => {{ const cells = {CODE_CELLS};"
                " return cells.every(c => c.model.executionCount !== null)"
                " || cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error')); }",
                None, RUN_ALL_MS,
            )
            # One more cell, as a reader would add: the same diamond with the live view.
            page.evaluate(
                "(source) => { const nb = window.jupyterapp.shell.currentWidget.content;"
                " nb.model.sharedModel.insertCell(nb.model.cells.length, {cell_type: 'code', source});"
                " nb.activeCellIndex = nb.model.cells.length - 1;"
                " window.jupyterapp.commands.execute('notebook:run-cell'); }",
                LIVE_CELL,
            )
            _wait(page, outside, "the live view's cell to run",
                  f"() => ({CODE_CELLS}).every(c => c.model.executionCount !== null)", None, RUN_ALL_MS)
            pictures = _pictures(page, _cells(page))
            # The browser's SVG goes back to the kernel, which puts it in the static output.
            page.wait_for_function(
                f"() => ({CODE_CELLS}).every(c => {{ const o = c.model.outputs.toJSON();"
                " return o.every((x, i) => !(o[i + 1] && o[i + 1].data"
                " && o[i + 1].data['application/vnd.jupyter.widget-view+json']) || (x.data && x.data['image/svg+xml'])); })",
                timeout=120_000,
            )
            cells = _cells(page)
            kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "lite-quickstart.png"))
        finally:
            browser.close()
    return {"cells": cells, "kernel": kernel, "pictures": pictures, "outside": outside}


def _wait(page, outside: list[str], what: str, condition: str, arg: object, timeout_ms: int) -> None:
    """Wait until ``condition`` holds on the page; if it never does, fail saying what
    was awaited and which requests for outside this machine were refused meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        pytest.fail(f"waited {timeout_ms / 1000:.0f} s for {what} in the JupyterLite site; requests refused "
                    f"(outside 127.0.0.1): {outside[:10] or 'none'}", pytrace=False)


def _cells(page) -> list[dict]:
    """Each code cell's source, execution count and outputs, as the notebook's model holds them."""
    return page.evaluate(
        f"() => ({CODE_CELLS}).map(c => ({{source: c.model.sharedModel.getSource(),"
        " count: c.model.executionCount, outputs: c.model.outputs.toJSON()}))"
    )


def _pictures(page, cells: list[dict]) -> dict[str, list[str]]:
    """For each cell showing a widget, the node titles of the SVG its widget laid out
    (each cell is scrolled into view first: the notebook renders cells near the viewport)."""
    found: dict[str, list[str]] = {}
    for index, cell in enumerate(cells):
        if not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell["outputs"]):
            continue
        code = f"(i) => ({CODE_CELLS})[i]"
        page.evaluate(f"(i) => ({code})(i).node.scrollIntoView()", index)
        page.wait_for_function(f"(i) => ({code})(i).node.querySelector('.jp-OutputArea svg g.node')", arg=index,
                               timeout=120_000)
        found[cell["source"].splitlines()[0]] = page.evaluate(
            f"(i) => [...({code})(i).node.querySelectorAll('.jp-OutputArea svg g.node > title')]"
            ".map(t => t.textContent)", index,
        )
    return found


def text_of(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) + o.get("data", {}).get("text/plain", "") for o in cell["outputs"])


def cell_starting(ran: dict, head: str) -> dict:
    (cell,) = [c for c in ran["cells"] if c["source"].startswith(head)]
    return cell


def test_nothing_was_fetched_from_outside_this_machine(ran):
    assert ran["outside"] == []


def test_every_cell_of_notebook_1_ran_in_the_pyodide_kernel_without_an_error(ran):
    assert ran["kernel"] == "python"  # the site's only kernel: Pyodide's
    errors = [(c["source"][:40], o["ename"], o["evalue"]) for c in ran["cells"] for o in c["outputs"]
              if o["output_type"] == "error"]
    assert errors == []
    assert [c["count"] is not None for c in ran["cells"]] == [True] * len(ran["cells"])
    assert ran["cells"][-1]["source"] == LIVE_CELL  # the cell the test added, after the notebook's own
    assert "emscripten" in ran["cells"][0]["source"]  # the install cell, silent when it works
    assert ran["cells"][0]["outputs"] == []


def test_the_diamond_forks_a_branch_session_per_member_and_merges_them(ran):
    assert text_of(cell_starting(ran, 'result = wf.execute("fetch", session_id="4821")')) == "10"
    tree = text_of(cell_starting(ran, "run = wf.last_run"))
    assert tree.splitlines() == [
        "4821  closed  enqueued 2 dequeued 2  ran fetch, ParallelGroup_1, store",
        "├── 4821_transform_a  merged  enqueued 1 dequeued 1  ran transform_a",
        "└── 4821_transform_b  merged  enqueued 1 dequeued 1  ran transform_b",
    ]
    counts = text_of(cell_starting(ran, "print(run.status)")).splitlines()
    assert counts[0] == "succeeded"
    assert counts[1] == "{'fetch': 1, 'ParallelGroup_1': 1, 'transform_a': 1, 'transform_b': 1, 'store': 1}"
    magic = text_of(cell_starting(ran, "%%graflow etl"))
    assert magic.startswith("etl: succeeded, 4 tasks in 3 sessions, result 10")
    live = text_of(cell_starting(ran, LIVE_CELL))
    assert "live view of workflow 'diamond': the run ended (succeeded); its final picture is below" in live
    assert "live result 10" in live


def test_the_pictures_are_laid_out_in_the_browser_with_every_task_and_session(ran):
    pictures = ran["pictures"]
    tasks = {"fetch", "transform_a", "transform_b", "store"}
    live = LIVE_CELL.splitlines()[0]
    assert set(pictures) == {"draw_graph(wf)", "GraphView(wf, run)", "draw_sessions(run)",
                             "%%graflow etl --run fetch --session-id 4821", "%graflow sessions", live}
    for source in ("draw_graph(wf)", "GraphView(wf, run)", "%%graflow etl --run fetch --session-id 4821", live):
        assert tasks <= set(pictures[source]), (source, pictures[source])
    for source in ("draw_sessions(run)", "%graflow sessions"):
        assert {"4821", "4821_transform_a", "4821_transform_b"} <= {t.rsplit("/", 1)[-1] for t in pictures[source]}, (
            source, pictures[source])


def test_each_pictures_static_output_carries_the_svg_the_browser_laid_out(ran):
    for head in ("draw_graph(wf)", "draw_sessions(run)"):
        (static, widget) = [o for o in cell_starting(ran, head)["outputs"] if o["output_type"] == "display_data"]
        assert "application/vnd.jupyter.widget-view+json" in widget["data"]
        svg = static["data"].get("image/svg+xml", "")
        assert "Graphviz's dot is not installed" not in text_of(cell_starting(ran, head))
        assert "<svg" in svg and ("transform_a" in svg), (head, static["data"].get("text/plain"))
