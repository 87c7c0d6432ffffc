"""Tutorial 04 (step-through debugging) run top to bottom in the JupyterLite site, in
headless Chromium, with nothing fetched from outside this machine.

Pyodide starts no thread, so the step debugger there holds a session by unwinding it and
drives the run on the kernel's own thread.  A learner sees what the tutorial shows on
any machine: every cell's printed text is the text saved in the notebook (a run with
threads, which nbval checks), the pictures are laid out in the browser, and the
``DebuggerWidget`` at the end has its buttons; pressing **step** moves the held session.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT
from .notebook_page import CODE_CELLS, errors_of, head_of, run_notebook, text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOK = "04_step_through_debugging.ipynb"
WIDGET_CELL = f"({CODE_CELLS}).find(c => c.model.sharedModel.getSource().includes('DebuggerWidget(widget_debugger)'))"
AFTER_STEP = "4821: ran fetch; now held before ParallelGroup_1"


def press_step(page) -> dict:
    """The DebuggerWidget's buttons as the page shows them, then what it says once its
    **step** button has been pressed (the first one: the run's own, not a row's) and its
    picture shows ``fetch`` succeeded."""
    page.evaluate(f"() => {WIDGET_CELL}.node.scrollIntoView()")
    page.wait_for_function(f"() => {WIDGET_CELL}.node.querySelector('.jp-OutputArea button')", timeout=60_000)
    buttons = page.evaluate(
        f"() => [...{WIDGET_CELL}.node.querySelectorAll('.jp-OutputArea button')].map(b => b.textContent.trim())"
    )
    step = page.evaluate_handle(
        f"() => [...{WIDGET_CELL}.node.querySelectorAll('.jp-OutputArea button')].find(b => b.textContent.trim() === 'step')"
    )
    step.as_element().click()
    page.wait_for_function(f"(said) => {WIDGET_CELL}.node.innerText.includes(said)", arg=AFTER_STEP, timeout=60_000)
    # The picture follows: the fetch node, pending before, is drawn as succeeded.
    page.wait_for_function(
        f"() => [...{WIDGET_CELL}.node.querySelectorAll('svg g.node')]"
        ".some(n => n.querySelector('title').textContent === 'fetch' && n.textContent.includes('succeeded'))",
        timeout=60_000,
    )
    return {"buttons": buttons, "after step": page.evaluate(f"() => {WIDGET_CELL}.node.innerText")}


@pytest.fixture(scope="module")
def ran(served: str) -> dict:
    return run_notebook(served, NOTEBOOK, look=press_step)


def saved_text() -> list[str | None]:
    """What each code cell of the saved notebook printed (None for a cell that shows
    something other than text: a widget, whose saved copy says it needs a kernel)."""
    cells = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    return [
        "".join("".join(o["text"]) for o in c["outputs"])
        if all(o["output_type"] == "stream" for o in c["outputs"]) else None
        for c in cells if c["cell_type"] == "code"
    ]


def test_nothing_was_fetched_from_outside_this_machine(ran):
    assert ran["outside"] == []


def test_every_cell_runs_in_the_pyodide_kernel_without_an_error(ran):
    assert ran["kernel"] == "python"
    assert errors_of(ran) == []
    assert [c["count"] is not None for c in ran["cells"]] == [True] * len(ran["cells"])


def test_each_cell_prints_what_the_tutorial_saved_from_a_run_with_threads(ran):
    saved = saved_text()
    assert len(saved) == len(ran["cells"])
    printed = [(head_of(c), text_of(c)) for c, text in zip(ran["cells"], saved, strict=True) if text is not None]
    expected = [(head_of(c), text) for c, text in zip(ran["cells"], saved, strict=True) if text is not None]
    assert printed == expected
    assert len(expected) >= 15  # every stepping cell, not only the silent ones


def test_the_learner_sees_the_debugger_fork_step_merge_and_end(ran):
    texts = [text_of(c) for c in ran["cells"]]
    assert "4821  held     before fetch  queue: -\n" in texts
    (forked,) = [t for t in texts if t.startswith("4821: forked")]
    assert forked.splitlines() == [
        "4821: forked 4821_transform_a, 4821_transform_b; now waiting for 4821_transform_a, 4821_transform_b",
        "4821                waiting  in ParallelGroup_1  queue: -",
        "  4821_transform_a  held     before transform_a  queue: -",
        "  4821_transform_b  held     before transform_b  queue: -",
    ]
    (ended,) = [t for t in texts if t.startswith("4821: ran store")]
    assert ended.splitlines()[:2] == ["4821: ran store; now the run ended (succeeded, result 10)", "result: 10"]
    assert "the merge will fail: MergeConflictError on 'winner': left wrote 'left', right wrote 'right'" in "".join(texts)


def test_the_pictures_are_laid_out_in_the_browser(ran):
    pictures = ran["pictures"]
    assert set(pictures) == {"from graflow_nb import GraphView", "from graflow_nb.notebook import DebuggerWidget"}
    for source, titles in pictures.items():
        assert {"fetch", "transform_a", "transform_b", "store"} <= set(titles), (source, titles)
    # The stepped run's picture has its branch sessions; the widget's fresh debugger is
    # held before fetch, so its picture has the root session only.
    sessions = {t.rsplit("/", 1)[-1] for t in pictures["from graflow_nb import GraphView"]}
    assert {"4821", "4821_transform_a", "4821_transform_b"} <= sessions
    held = pictures["from graflow_nb.notebook import DebuggerWidget"]
    assert "4821" in {t.rsplit("/", 1)[-1] for t in held}, held
    (graph,) = [c for c in ran["cells"] if head_of(c) == "from graflow_nb import GraphView"]
    svg = graph["outputs"][0]["data"].get("image/svg+xml", "")
    assert "<svg" in svg and "transform_a" in svg


def test_the_debugger_widget_shows_its_buttons_and_its_step_button_steps_the_run_and_its_picture(ran):
    buttons = ran["looked"]["buttons"]
    assert buttons[:4] == ["step", "continue", "run to end", "restart"]
    assert AFTER_STEP in ran["looked"]["after step"]
