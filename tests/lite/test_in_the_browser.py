"""A teaching notebook run top to bottom in the JupyterLite site, in headless Chromium,
with nothing fetched from outside this machine.

The site ``make lite-site`` builds (``conftest.site``) is served on 127.0.0.1
(``conftest.served``); every request to anything else is aborted and recorded
(``notebook_page.run_notebook``), and the test asserts there was none: the Pyodide runtime, the kernel's
packages and graflow_nb with its pure-Python dependencies all come from the site.
Notebook 1 (a diamond with its branch sessions, the session tree, the pictures and the
``%%graflow`` magic) runs in the Pyodide kernel: its first cell installs graflow_nb
from the site's index, the rest are the notebook unchanged.  Its pictures have no
``dot`` there: the GraphView widget lays them out in the browser, and their static
outputs then carry the browser's SVG.  A cell the test adds at the end runs the diamond
with the live view (``live=True``), drawn by the widget at task boundaries (no thread).
"""

from __future__ import annotations

import pytest

from .notebook_page import cell_starting, errors_of, run_notebook, text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LIVE_CELL = 'live = wf.execute("fetch", session_id="L", live=True)\nprint("live result", live)'


@pytest.fixture(scope="module")
def ran(served: str) -> dict:
    """Notebook 1 run top to bottom in the site, then the live view's cell."""
    return run_notebook(served, "01_quickstart.ipynb", added_cells=[LIVE_CELL])


def test_nothing_was_fetched_from_outside_this_machine(ran):
    assert ran["outside"] == []


def test_every_cell_of_notebook_1_ran_in_the_pyodide_kernel_without_an_error(ran):
    assert ran["kernel"] == "python"  # the site's only kernel: Pyodide's
    assert errors_of(ran) == []
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
