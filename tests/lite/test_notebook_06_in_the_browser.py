"""Tutorial 06 (when things fail) in the JupyterLite site, in headless Chromium, with
nothing fetched from outside this machine.

Pyodide starts no thread, and a timed attempt or a timed group needs one: the two
timeout cells fail there with a ``ConfigError`` saying so.  Everything else, the group
policies, retries, cancelling, pausing for input and resuming, a checkpoint written to
the browser's in-memory file system and resumed, runs and prints what the tutorial saved
from a run with threads.  The test runs all the cells, and past each failing one (as a
reader's "run all below" does), so it says which fail and that the rest work.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT
from .notebook_page import errors_of, head_of, run_notebook, text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOK = "06_when_things_fail.ipynb"
NO_THREADS = "needs a thread of its own, and this Python (emscripten) can't start threads"


@pytest.fixture(scope="module")
def ran(served: str) -> dict:
    return run_notebook(served, NOTEBOOK, past_errors=True)


def test_nothing_was_fetched_from_outside_this_machine(ran):
    assert ran["outside"] == []


def test_only_the_two_timeout_cells_fail_each_saying_it_needs_a_thread(ran):
    assert [c["count"] is not None for c in ran["cells"]] == [True] * len(ran["cells"])
    assert errors_of(ran) == [
        ('with workflow("slow-task") as wf:', "ConfigError",
         f"task 'slow' (timeout=0.1s) in session 'T' {NO_THREADS}: a timed attempt waits beside it on a thread; "
         "drop the timeout to run it here"),
        ('with workflow("slow-group") as wf:', "ConfigError",
         f"group 'ParallelGroup_1' (timeout=0.2s) {NO_THREADS}: its members run one after another here; "
         "drop the timeout, or run the workflow where threads exist (or, with async members, with "
         "`await wf.aexecute(...)`)"),
    ]


def test_every_other_cell_prints_what_the_tutorial_saved_from_a_run_with_threads(ran):
    saved = [
        "".join("".join(o.get("text", "")) for o in c["outputs"])
        for c in json.loads((ROOT / "notebooks" / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "code"
    ]
    assert len(saved) == len(ran["cells"])
    failed = {head for head, _name, _message in errors_of(ran)}
    printed = [(head_of(c), text_of(c)) for c in ran["cells"] if head_of(c) not in failed]
    expected = [(head_of(c), text) for c, text in zip(ran["cells"], saved, strict=True) if head_of(c) not in failed]
    assert printed == expected
    resumed = text_of(next(c for c in ran["cells"] if head_of(c) == 'couriers["o2"] = "van"  # the fix'))
    assert resumed.startswith("('charged 2 orders', {'o1': 'bike', 'o2': 'van'}, 'emailed')\nran: ['ship', 'store']")
