"""The docs' "In a notebook" page (docs/reference/notebook.md, once the README's
section) runs verbatim in a real IPython shell: the magic cell, then the step-debugger
walk-through, with what each prints.

The page leaves the four functions to the reader ("plain functions work"); the test
defines them, then runs every other line exactly as the page has it."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "notebook.md").read_text(encoding="utf-8")
FUNCTIONS = """
def fetch(): return 1
def clean(fetch): return fetch + 1
def enrich(fetch): return fetch + 2
def store(clean, enrich): return clean + enrich
"""


def block_starting(prefix: str) -> str:
    [body] = [b for b in re.findall(r"^```\w*\n(.*?)^```", PAGE, re.S | re.M) if b.startswith(prefix)]
    return body


def test_the_magic_cell_and_the_debugger_walk_through_run_as_written(cell):
    assert cell(FUNCTIONS).error is None
    load, magic = block_starting("%load_ext graflow_nb").split("\n\n")
    assert cell(load).error is None
    ran = cell(magic)
    assert ran.error is None
    assert ran.text.splitlines()[0] == "etl: succeeded, 4 tasks in 3 sessions, result 5"

    walk = cell(block_starting('dbg = etl.debug("fetch", session_id="4821")'))
    assert walk.error is None and walk.result.result == 5  # run_to_end() gives the run's result
    *printed, out = walk.text.splitlines()
    assert re.fullmatch(r"Out\[\d+\]: 5", out)
    assert printed == [
        "4821  held     before fetch  queue: -",
        "merge ParallelGroup_1 into 4821  (strategy: error (the default: differing writes to one key conflict))",
        "  4821_clean  (clean)",
        "    set clean.__result__ = 2",
        "  4821_enrich  (enrich)",
        "    set enrich.__result__ = 3",
        "4821 after the merge:",
        "  fetch.__result__ = 1  (unchanged)",
        "  clean.__result__ = 2  (new)",
        "  enrich.__result__ = 3  (new)",
    ]
    check = cell("print(dbg.status, [(t.task_id, t.session_id) for t in dbg.run.task_runs])")
    assert check.text == (
        "succeeded [('fetch', '4821'), ('ParallelGroup_1', '4821'), ('enrich', '4821_enrich'), "
        "('clean', '4821_clean'), ('store', '4821')]\n"
    )
