"""A teaching notebook opened in the served JupyterLite site, in headless Chromium, with
nothing fetched from outside this machine: what each browser test here shares.

``run_notebook`` opens one notebook of the site (``conftest.served``) in a fresh
Chromium, every request to anything but the site aborted and recorded, waits for the
Pyodide kernel, runs all the cells, and returns what the page then holds: each code
cell's source, execution count and outputs, the node titles of the SVG each widget laid
out in the browser, what the caller's ``look`` read off the live page, and the refused
requests.  Every wait is on page state (the notebook's model, read through the
``exposeAppInBrowser`` handle the test's copy of the site turns on).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from browser.labkit import SHOTS, chromium_path

# Bounds for a loaded machine (two cores shared); each wait ends as soon as the page agrees.
KERNEL_READY_MS = 240_000
RUN_ALL_MS = 300_000
PICTURE_MS = 120_000
CODE_CELLS = "window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code')"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def run_notebook(
    served: str,
    notebook: str,
    *,
    added_cells: Sequence[str] = (),
    past_errors: bool = False,
    look: Callable[[Any], Any] | None = None,
) -> dict:
    """Open ``notebook`` in the site at ``served``, run all its cells, then each of
    ``added_cells`` (appended, as a reader adds a cell), and report what the page holds.

    A failing cell stops "run all" there, as it does for a reader; with ``past_errors``
    the run then goes on from the next cell (the reader's "run all below"), so one page
    says which cells fail and whether the ones after them work.  ``look(page)`` runs on
    the live page once every cell has run; its answer is the report's ``"looked"``.
    """
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
            page.goto(f"{served}/lab/index.html?path={notebook}")
            _wait(page, outside, "the Pyodide kernel to start",
                "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " return w && w.context && w.context.path === name && w.sessionContext.session"
                " && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected'; }",
                notebook, KERNEL_READY_MS,
            )
            _run_all(page, outside, past_errors)
            for source in added_cells:
                page.evaluate(
                    "(source) => { const nb = window.jupyterapp.shell.currentWidget.content;"
                    " nb.model.sharedModel.insertCell(nb.model.cells.length, {cell_type: 'code', source});"
                    " nb.activeCellIndex = nb.model.cells.length - 1;"
                    " window.jupyterapp.commands.execute('notebook:run-cell'); }",
                    source,
                )
                _wait(page, outside, "the added cell to run",
                      f"() => ({CODE_CELLS}).every(c => c.model.executionCount !== null)", None, RUN_ALL_MS)
            pictures = _pictures(page, _cells(page))
            # The browser's SVG goes back to the kernel, which puts it in the static output
            # shown just before each picture's widget.
            page.wait_for_function(
                f"() => ({CODE_CELLS}).every(c => {{ const o = c.model.outputs.toJSON();"
                " return o.every((x, i) => !(o[i + 1] && o[i + 1].data"
                f" && o[i + 1].data['{WIDGET_VIEW}']) || (x.data && x.data['image/svg+xml'])); }})",
                timeout=PICTURE_MS,
            )
            looked = look(page) if look else None
            cells = _cells(page)
            kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"lite-{notebook.removesuffix('.ipynb')}.png"))
        finally:
            browser.close()
    return {"cells": cells, "kernel": kernel, "pictures": pictures, "looked": looked, "outside": outside}


def _run_all(page, outside: list[str], past_errors: bool) -> None:
    """Run every code cell; stop at the first that fails unless ``past_errors``, in which
    case go on from the cell after it until every cell has run."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    while True:
        # Done when every code cell has run, or the last one that ran failed (run-all
        # stops there, leaving the cells after it unrun).
        _wait(page, outside, "every cell to run",
            f"() => {{ const cells = {CODE_CELLS}; const ran = cells.filter(c => c.model.executionCount !== null);"
            " return ran.length === cells.length"
            " || ran.length > 0 && ran[ran.length - 1].model.outputs.toJSON().some(o => o.output_type === 'error'); }",
            None, RUN_ALL_MS,
        )
        unrun = page.evaluate(
            "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
            " return nb.widgets.findIndex(c => c.model.type === 'code' && c.model.executionCount === null); }"
        )
        if unrun < 0 or not past_errors:
            return
        page.evaluate(
            "(index) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = index;"
            " window.jupyterapp.commands.execute('notebook:run-all-below'); }",
            unrun,
        )
        _wait(page, outside, "the cells after a failed one to start",
              "(index) => window.jupyterapp.shell.currentWidget.content.widgets[index].model.executionCount !== null",
              unrun, RUN_ALL_MS)


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
    """For each cell showing a widget, the node titles of the SVG its widget laid out,
    keyed by the cell's first line that is not a comment (each cell is scrolled into view
    first: the notebook renders cells near the viewport)."""
    found: dict[str, list[str]] = {}
    for index, cell in enumerate(cells):
        if not any(WIDGET_VIEW in o.get("data", {}) for o in cell["outputs"]):
            continue
        code = f"(i) => ({CODE_CELLS})[i]"
        page.evaluate(f"(i) => ({code})(i).node.scrollIntoView()", index)
        page.wait_for_function(f"(i) => ({code})(i).node.querySelector('.jp-OutputArea svg g.node')", arg=index,
                               timeout=PICTURE_MS)
        found[head_of(cell)] = page.evaluate(
            f"(i) => [...({code})(i).node.querySelectorAll('.jp-OutputArea svg g.node > title')]"
            ".map(t => t.textContent)", index,
        )
    return found


def head_of(cell: dict) -> str:
    """A cell's first line that is not a comment (or its first line): what the tests name it by."""
    lines = cell["source"].splitlines() or [""]
    return next((line for line in lines if line.strip() and not line.startswith("#")), lines[0])


def text_of(cell: dict) -> str:
    """What a cell printed and showed as text (errors excluded)."""
    return "".join("".join(o.get("text", "")) + o.get("data", {}).get("text/plain", "") for o in cell["outputs"])


def errors_of(ran: dict) -> list[tuple[str, str, str]]:
    """Each failed cell's first line, exception name and message.  (The Pyodide kernel
    names an exception by its class's repr, "<class 'graflow_nb.core.errors.ConfigError'>":
    its last dotted name is what ipykernel would give.)"""
    return [(head_of(c), re.sub(r"^<class '(?:[\w.]*\.)?(\w+)'>$", r"\1", o["ename"]), o["evalue"])
            for c in ran["cells"] for o in c["outputs"] if o["output_type"] == "error"]


def cell_starting(ran: dict, head: str) -> dict:
    (cell,) = [c for c in ran["cells"] if c["source"].startswith(head)]
    return cell
