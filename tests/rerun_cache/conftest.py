"""A real IPython shell for the re-run cache's tests: cells define and redefine tasks
as a notebook does (IPython puts each cell's source in linecache, so the cache reads
it as it reads a notebook's).

``nb(source)`` runs one cell and fails the test on its error; ``nb.ns`` is the user
namespace.  Each test gets a workflow name of its own (``nb.name``), so the
process-wide store of one test is never seen by another.
"""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest
import ran
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config


class Notebook:
    def __init__(self, shell: InteractiveShell):
        self.shell = shell
        self.name = f"nb_{uuid.uuid4().hex[:8]}"
        self.ns = shell.user_ns

    def __call__(self, source: str) -> object:
        result = self.shell.run_cell(textwrap.dedent(source).replace("NAME", repr(self.name)), store_history=True)
        if result.error_before_exec or result.error_in_exec:
            raise result.error_before_exec or result.error_in_exec
        return result.result


@pytest.fixture
def nb(monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("GRAFLOW_NB_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setattr(InteractiveShell, "_instance", None)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    ran.RUNS.clear()
    book = Notebook(shell)
    book("import ran\nfrom graflow_nb import task, workflow")
    yield book
    ran.RUNS.clear()


@pytest.fixture
def runs():
    return ran.RUNS
